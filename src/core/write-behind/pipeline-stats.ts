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
 * order (a journal hands them out so), kept in a ring of two number arrays and found by
 * binary search when they finish, in any order; a finished slot is marked and the ring's
 * front moves past marked slots. A position that does not come in order (a journal that
 * settles appends out of order) goes to a Map instead.
 */
class AppendTimes {
  #positions = new Float64Array(1024);
  #times = new Float64Array(1024);
  #front = 0;
  #length = 0;
  readonly #late = new Map<number, number>();

  add(position: number, time: number): void {
    const last = this.#length === 0 ? -Infinity : this.#at(this.#length - 1);
    if (position <= last) {
      // Timed already (the same id written twice at once): keep the first time.
      if (this.#find(position) >= 0 || this.#late.has(position)) return;
      this.#late.set(position, time);
      return;
    }
    if (this.#length === this.#positions.length) this.#grow();
    const slot = (this.#front + this.#length) & (this.#positions.length - 1);
    this.#positions[slot] = position;
    this.#times[slot] = time;
    this.#length++;
  }

  /** Slots held in the ring (finished ones behind an unfinished front among them) and late. */
  get size(): number {
    return this.#length + this.#late.size;
  }

  /** The append time of `position`, forgotten; `undefined` if it is not kept. */
  take(position: number): number | undefined {
    const index = this.#find(position);
    if (index >= 0) {
      const slot = (this.#front + index) & (this.#positions.length - 1);
      const time = this.#times[slot] as number;
      if (Number.isNaN(time)) return undefined;
      this.#times[slot] = NaN;
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
    const mask = this.#positions.length - 1;
    while (this.#length > 0 && (this.#positions[this.#front] as number) <= mark) {
      this.#front = (this.#front + 1) & mask;
      this.#length--;
    }
    this.#dropFinished();
    if (this.#late.size > 0) for (const p of this.#late.keys()) if (p <= mark) this.#late.delete(p);
  }

  /** The ring index of `position`, or -1. */
  #find(position: number): number {
    let lo = 0;
    let hi = this.#length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.#at(mid);
      if (at < position) lo = mid + 1;
      else if (at > position) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  #at(index: number): number {
    return this.#positions[(this.#front + index) & (this.#positions.length - 1)] as number;
  }

  #dropFinished(): void {
    const mask = this.#positions.length - 1;
    while (this.#length > 0 && Number.isNaN(this.#times[this.#front])) {
      this.#front = (this.#front + 1) & mask;
      this.#length--;
    }
  }

  #grow(): void {
    const size = this.#positions.length;
    const positions = new Float64Array(size * 2);
    const times = new Float64Array(size * 2);
    for (let i = 0; i < this.#length; i++) {
      const slot = (this.#front + i) & (size - 1);
      positions[i] = this.#positions[slot] as number;
      times[i] = this.#times[slot] as number;
    }
    this.#positions = positions;
    this.#times = times;
    this.#front = 0;
  }
}
