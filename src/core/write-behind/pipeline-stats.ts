/**
 * PipelineStats: the pipeline's own counts and latency histograms (the sink's counts live in
 * Delivery, the lanes' in Lanes). End-to-end latency is measured only for entries this
 * process wrote: their append time is kept until they finish.
 */
import { Histogram } from '../histogram.js';
import type { Delivery } from './delivery.js';
import type { Lanes } from './lanes.js';
import type { WriteBehindMetrics } from './types.js';

/** What the pipeline knows at the moment of a snapshot, beside these counts. */
export interface SnapshotParts {
  readonly delivery: Delivery<unknown>;
  readonly lanes: Lanes;
  readonly now: number;
  readonly backlog: number;
  readonly backlogBytes: number;
  readonly lag: number;
}

export class PipelineStats {
  written = 0;
  batches = 0;
  readonly batchSize = new Histogram();
  readonly flushLatency = new Histogram();
  readonly endToEnd = new Histogram();
  /** Append time by position, for the entries this process wrote and that are unfinished. */
  readonly #appendedAt = new Map<number, number>();

  /** This process wrote a new entry (`finished`: it is already through the pipeline). */
  appended(position: number, now: number, finished: boolean): void {
    this.written++;
    if (finished) this.endToEnd.record(0);
    else this.#appendedAt.set(position, now);
  }

  finished(position: number, now: number): void {
    const appendedAt = this.#appendedAt.get(position);
    if (appendedAt === undefined) return;
    this.#appendedAt.delete(position);
    this.endToEnd.record(now - appendedAt);
  }

  flushed(size: number, latencyMs: number): void {
    this.batches++;
    this.batchSize.record(size);
    this.flushLatency.record(latencyMs);
  }

  snapshot(p: SnapshotParts): WriteBehindMetrics {
    const d = p.delivery;
    const since = d.unavailableSince;
    return {
      written: this.written,
      persisted: d.persisted,
      superseded: d.superseded,
      duplicates: d.duplicates,
      retried: d.retried,
      deadLettered: d.deadLettered,
      batches: this.batches,
      outages: d.outages,
      unavailableForMs: since === undefined ? 0 : p.now - since,
      backlog: p.backlog,
      backlogBytes: p.backlogBytes,
      lag: p.lag,
      batchSize: this.batchSize.snapshot(),
      flushLatencyMs: this.flushLatency.snapshot(),
      endToEndLatencyMs: this.endToEnd.snapshot(),
      workers: p.lanes.stats(since !== undefined),
    };
  }
}
