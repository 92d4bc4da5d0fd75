/**
 * PoolEvents: what a WorkerPool announces, named `noun:verb`. The map is closed, so a
 * misspelled event name is a compile error.
 */
import type { DiscardReason } from '../../errors.js';

export interface PoolEvents {
  'job:started': { workerId: number; key: string };
  'job:completed': { workerId: number; key: string };
  'job:failed': { workerId: number; key: string; error: unknown };
  'job:discarded': { key: string; reason: DiscardReason };
  'worker:replaced': { workerId: number; reason: 'crashed' | 'stuck'; error: unknown };
  'worker:stuck': { workerId: number; silentMs: number };
  'pool:failed': { error: Error };
}
