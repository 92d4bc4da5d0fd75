/**
 * Routing: which worker a job goes to.
 *
 * Which to choose:
 * - **keyPersistent** (the default): jobs of one key must run in order, one at a time, and
 *   the work is local (CPU, an in-process cache). A key already queued or running on a
 *   worker stays there; otherwise hash(key) mod workers. Cheapest; a slow job delays the
 *   other keys that hash to its worker (head-of-line blocking).
 * - **stickyQueuer**: keys must run in order, one at a time, but jobs wait on remote calls
 *   of uneven length. A key being processed goes to that worker; otherwise the job waits in
 *   the shared queue for the next idle worker, so no worker idles while another has a line.
 * - **queuer**: no per-key order needed; a shared FIFO that idle workers pull from. Best
 *   utilisation.
 * - **roundRobin** / **random**: spread one-off jobs evenly without a shared queue.
 * - **customHash**: your own `(key, workers) => index`, for affinity the others do not give.
 *
 * Only keyPersistent and stickyQueuer promise per-key order and exclusivity (also across
 * `resize`); the others may run two jobs of one key at once.
 */
import { ConfigError } from '../../errors.js';

export type RoutingMode =
  | 'keyPersistent'
  | 'stickyQueuer'
  | 'queuer'
  | 'roundRobin'
  | 'random'
  | { customHash: (key: string, workers: number) => number };

export type RoutingKind =
  'keyPersistent' | 'stickyQueuer' | 'queuer' | 'roundRobin' | 'random' | 'customHash';

export function routingKind(mode: unknown): RoutingKind {
  if (mode === undefined) return 'keyPersistent';
  if (
    mode === 'keyPersistent' ||
    mode === 'stickyQueuer' ||
    mode === 'queuer' ||
    mode === 'roundRobin' ||
    mode === 'random'
  ) {
    return mode;
  }
  if (
    typeof mode === 'object' &&
    mode !== null &&
    typeof (mode as { customHash?: unknown }).customHash === 'function'
  ) {
    return 'customHash';
  }
  throw new ConfigError(
    'routing',
    "'keyPersistent' | 'stickyQueuer' | 'queuer' | 'roundRobin' | 'random' | { customHash }",
    mode,
  );
}

/** Whether jobs wait in one shared queue (idle workers pull) rather than per worker. */
export function usesSharedQueue(kind: RoutingKind): boolean {
  return kind === 'queuer' || kind === 'stickyQueuer';
}

/** Whether the mode keeps one key on one worker at a time, in order. */
export function isKeyed(kind: RoutingKind): boolean {
  return kind === 'keyPersistent' || kind === 'stickyQueuer';
}

/** FNV-1a over the key's UTF-16 code units: fast, stable across processes, well spread. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
