/**
 * PipelineStats: the pipeline's own counts and latency histograms (the sink's counts live in
 * Delivery, the lanes' in Lanes). End-to-end latency is measured only for entries this
 * process wrote: their append time is kept until they finish.
 */
import { Histogram } from '../histogram.js';
import { PositionRing } from '../position-ring.js';
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
  readonly #appendedAt = new AppendTimes();

  /** This process wrote a new entry (`finished`: it is already through the pipeline). */
  appended(position: number, now: number, finished: boolean): void {
    this.written++;
    if (finished) this.endToEnd.record(0);
    else this.#appendedAt.add(position, now);
  }

  finished(position: number, now: number): void {
    const appendedAt = this.#appendedAt.take(position);
    if (appendedAt !== undefined) this.endToEnd.record(now - appendedAt);
  }

  /** Append times kept now (for tests: the structure holds no finished entry). */
  get heldTimes(): number {
    return this.#appendedAt.size;
  }

  /** Everything at or below `mark` is finished: no time is kept for it any more. */
  finishedThrough(mark: number): void {
    this.#appendedAt.forgetThrough(mark);
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

/**
 * Append times by position, without an allocation per entry: positions come in increasing
 * order (a journal hands them out so), kept in a PositionRing and found by binary search
 * when they finish, in any order; a finished slot is marked and the ring's front moves past
 * marked slots. A position that does not come in order (a journal that settles appends out
 * of order) goes to a Map instead.
 */
class AppendTimes {
  /** Positions with their append times; NaN once taken (finished). */
  readonly #ring = new PositionRing(1024);
  readonly #late = new Map<number, number>();

  add(position: number, time: number): void {
    const ring = this.#ring;
    const last = ring.length === 0 ? -Infinity : ring.positionAt(ring.length - 1);
    if (position <= last) {
      // Timed already (the same id written twice at once): keep the first time.
      if (ring.indexOf(position) >= 0 || this.#late.has(position)) return;
      this.#late.set(position, time);
      return;
    }
    ring.push(position, time);
  }

  /** Slots held in the ring (finished ones behind an unfinished front among them) and late. */
  get size(): number {
    return this.#ring.length + this.#late.size;
  }

  /** The append time of `position`, forgotten; `undefined` if it is not kept. */
  take(position: number): number | undefined {
    const index = this.#ring.indexOf(position);
    if (index >= 0) {
      const time = this.#ring.valueAt(index);
      if (Number.isNaN(time)) return undefined;
      this.#ring.setValueAt(index, NaN);
      this.#dropFinished();
      return time;
    }
    const late = this.#late.get(position);
    if (late !== undefined) this.#late.delete(position);
    return late;
  }

  /**
   * Forgets everything at or below `mark` (finished, so a time still kept there belongs to
   * a duplicate that will not finish again, and would hold the ring's front back).
   */
  forgetThrough(mark: number): void {
    const ring = this.#ring;
    while (ring.length > 0 && ring.positionAt(0) <= mark) ring.shift();
    this.#dropFinished();
    if (this.#late.size > 0) for (const p of this.#late.keys()) if (p <= mark) this.#late.delete(p);
  }

  #dropFinished(): void {
    const ring = this.#ring;
    while (ring.length > 0 && Number.isNaN(ring.valueAt(0))) ring.shift();
  }
}
