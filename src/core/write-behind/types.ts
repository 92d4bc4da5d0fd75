/** WriteBehind's public shapes: what a write takes, what metrics and events report. */
import type { SluiceError } from '../../errors.js';
import type { HistogramSnapshot } from '../histogram.js';

/** Options of one `WriteBehind.write()` / `writeAndWait()`. */
export interface WriteOptions {
  /** Idempotency key: a write whose id is already in the journal is not written again. */
  id?: string;
}

/** One entry of `writeMany`: what `write(key, value, { id })` takes. */
export interface WriteEntry<V> {
  /** Routes the entry: one key's entries reach the sink in order. */
  key: string;
  /** The value the sink gets. */
  value: V;
  /** Idempotency key, as `WriteOptions.id`. */
  id?: string;
}

export type { DeadLetters } from '../../journal/dead-letters.js';

/** What a lane is doing: nothing, writing a batch, or waiting out a sink outage. */
export type LaneState = 'idle' | 'writing' | 'waiting';

/** One lane: a Batcher and the sink writes it makes, one at a time. */
export interface LaneStats {
  /** The lane's index, 0 to `workers - 1`; a key's hash picks its lane. */
  id: number;
  /** What the lane is doing now. */
  state: LaneState;
  /** Entries of this lane in the sink. */
  processed: number;
  /** Entries of this lane dead-lettered. */
  failed: number;
  /** Entries routed to this lane and not yet finished. */
  queued: number;
}

/**
 * A point-in-time snapshot from `WriteBehind.metrics()`. Counts are since `open()` in this
 * process; `backlog`, `backlogBytes`, `lag` and `unavailableForMs` are current values.
 */
export interface WriteBehindMetrics {
  /** New entries this process appended (a write deduplicated by `id` is not counted). */
  written: number;
  /** Entries the sink accepted, superseded and duplicate ones included. */
  persisted: number;
  /** Entries a version-guarded sink did not apply: the row held a newer version. */
  superseded: number;
  /** Entries the sink already had (by id): re-deliveries. */
  duplicates: number;
  /** Sink writes retried while the sink was unavailable. */
  retried: number;
  /** Entries the sink refused that went to the dead letters. */
  deadLettered: number;
  /** Batches delivered (each may have taken several sink writes). */
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
  /** Entries per delivered batch, after coalescing. */
  batchSize: HistogramSnapshot;
  /** Time to deliver one batch, sink retries and dead-lettering included, in ms. */
  flushLatencyMs: HistogramSnapshot;
  /** From `write()` resolving to the entry being finished, in ms; this process's writes only. */
  endToEndLatencyMs: HistogramSnapshot;
  /** One entry per lane, by lane id. */
  workers: LaneStats[];
}

/**
 * The events a WriteBehind emits (`wb.on('batch:flushed', ...)`), by name. Listeners run
 * synchronously on the pipeline's path: keep them cheap.
 */
export interface WriteBehindEvents {
  /** A lane finished a batch: every entry is in the sink or the dead letters. */
  'batch:flushed': {
    /** The lane (`LaneStats.id`). */
    workerId: number;
    /** Entries in the batch after coalescing: what the sink was asked to take. */
    size: number;
    /** Time to deliver it, sink retries included, in ms. */
    latencyMs: number;
  };
  /** The sink refused an entry on its own and it went to the dead letters. */
  'entry:deadLettered': {
    /** The entry's journal position. */
    position: number;
    /** The entry's key. */
    key: string;
    /** The sink's error message. */
    error: string;
  };
  /** A sink write failed while the sink is unavailable; it is tried again after `delayMs`. */
  'sink:retry': {
    /** Attempts made so far at this write, from 1. */
    attempt: number;
    /** The wait before the next attempt, in ms. */
    delayMs: number;
    /** What the sink threw. */
    error: unknown;
  };
  /** The sink stopped taking writes (an outage began); entries wait and are retried. */
  'sink:unavailable': {
    /** What the sink threw. */
    error: unknown;
  };
  /** The sink takes writes again after an outage of `downMs`. */
  'sink:available': {
    /** How long the outage lasted, in ms. */
    downMs: number;
  };
  /** The dead-letter store failed; the letters are retried after `delayMs`. */
  'deadLetters:retry': {
    /** Attempts made so far, from 1. */
    attempt: number;
    /** The wait before the next attempt, in ms. */
    delayMs: number;
    /** What the store threw. */
    error: unknown;
  };
  /** A journal read failed; it is tried again after `delayMs` (a bounded number of times). */
  'journal:readFailed': {
    /** Attempts made so far, from 1. */
    attempt: number;
    /** The wait before the next attempt, in ms. */
    delayMs: number;
    /** What the journal threw. */
    error: unknown;
  };
  /** A checkpoint commit (or a trim behind it) failed; the next batch commits again. */
  'checkpoint:failed': {
    /** What the journal threw. */
    error: unknown;
  };
  /**
   * The pipeline stopped on its own: the journal could not be read (or a flush failed in a
   * way it could not retry). Writes, flushes and close report `error`; what was not finished
   * stays in the journal for the next open.
   */
  'pipeline:failed': {
    /** The failure every later call reports. */
    error: SluiceError;
  };
}

/** What `WriteBehind.close()` resolves with. */
export interface WriteBehindCloseResult {
  /** Whether everything written reached the sink or the dead letters before the deadline. */
  drained: boolean;
  /** Entries left in the journal for the next open (memory mode: lost). */
  remaining: number;
}
