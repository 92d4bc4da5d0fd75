/** WriteBehind's public shapes: what a write takes, what metrics and events report. */
import type { SluiceError } from '../../errors.js';
import type { HistogramSnapshot } from '../histogram.js';

export interface WriteOptions {
  /** Idempotency key: a write whose id is already in the journal is not written again. */
  id?: string;
}

export type { DeadLetters } from '../../journal/dead-letters.js';

/** What a lane is doing: nothing, writing a batch, or waiting out a sink outage. */
export type LaneState = 'idle' | 'writing' | 'waiting';

/** One lane: a Batcher and the sink writes it makes, one at a time. */
export interface LaneStats {
  id: number;
  state: LaneState;
  /** Entries of this lane in the sink. */
  processed: number;
  /** Entries of this lane dead-lettered. */
  failed: number;
  /** Entries routed to this lane and not yet finished. */
  queued: number;
}

export interface WriteBehindMetrics {
  written: number;
  persisted: number;
  /** Entries a version-guarded sink did not apply: the row held a newer version. */
  superseded: number;
  /** Entries the sink already had (by id): re-deliveries. */
  duplicates: number;
  retried: number;
  deadLettered: number;
  batches: number;
  /** Times the sink became unavailable (an outage began). */
  outages: number;
  /** How long the current outage has lasted; 0 while the sink takes writes. */
  unavailableForMs: number;
  /** Entries appended and not yet finished. */
  backlog: number;
  /** Payload bytes held in memory and not yet finished (bounded by `maxBacklogBytes`). */
  backlogBytes: number;
  /** Journal positions the checkpoint is behind the newest append. */
  lag: number;
  batchSize: HistogramSnapshot;
  flushLatencyMs: HistogramSnapshot;
  endToEndLatencyMs: HistogramSnapshot;
  workers: LaneStats[];
}

export interface WriteBehindEvents {
  'batch:flushed': { workerId: number; size: number; latencyMs: number };
  'entry:deadLettered': { position: number; key: string; error: string };
  'sink:retry': { attempt: number; delayMs: number; error: unknown };
  /** The sink stopped taking writes (an outage began); entries wait and are retried. */
  'sink:unavailable': { error: unknown };
  /** The sink takes writes again after an outage of `downMs`. */
  'sink:available': { downMs: number };
  /** The dead-letter store failed; the letters are retried after `delayMs`. */
  'deadLetters:retry': { attempt: number; delayMs: number; error: unknown };
  /** A journal read failed; it is tried again after `delayMs` (a bounded number of times). */
  'journal:readFailed': { attempt: number; delayMs: number; error: unknown };
  /** A checkpoint commit (or a trim behind it) failed; the next batch commits again. */
  'checkpoint:failed': { error: unknown };
  /**
   * The pipeline stopped on its own: the journal could not be read (or a flush failed in a
   * way it could not retry). Writes, flushes and close report `error`; what was not finished
   * stays in the journal for the next open.
   */
  'pipeline:failed': { error: SluiceError };
}

export interface WriteBehindCloseResult {
  /** Whether everything written reached the sink or the dead letters before the deadline. */
  drained: boolean;
  /** Entries left in the journal for the next open (memory mode: lost). */
  remaining: number;
}
