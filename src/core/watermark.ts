/**
 * Watermark: how far a log has been handled when its entries finish out of order.
 *
 * Entries are begun in position order (gaps allowed, as a region skips positions) and may
 * finish in any order, as parallel workers do. `mark` is the highest begun position at or
 * below which everything begun has finished: the position a consumer may commit without
 * ever skipping an unfinished entry.
 *
 * ```ts
 * const wm = new Watermark();
 * wm.begin(1); wm.begin(2); wm.begin(3);
 * wm.finish(2); // mark stays 0: 1 is not finished
 * wm.finish(1); // mark 2
 * ```
 */
import { InputError } from '../errors.js';

/**
 * How far a log has been handled when its entries finish out of order: entries are begun in
 * position order (gaps allowed) and may finish in any order; `mark` is the highest position
 * at or below which everything begun has finished, the position a consumer may commit.
 *
 * ```ts
 * const wm = new Watermark();
 * wm.begin(1); wm.begin(2); wm.begin(3);
 * wm.finish(2); // mark stays 0: 1 is not finished
 * wm.finish(1); // mark 2
 * ```
 */
export class Watermark {
  /**
   * Begun positions from the first unfinished one on, increasing, in a ring whose capacity
   * is a power of two; `#done` flags the finished ones at the same index. Typed arrays: no
   * object per position (a pipeline begins and finishes every entry here).
   */
  #positions = new Float64Array(16);
  #done = new Uint8Array(16);
  #head = 0;
  #length = 0;
  /** Flagged entries of the ring: finished, but behind an unfinished one. */
  #finished = 0;
  #last: number;
  #mark: number;

  constructor(start = 0) {
    this.#last = start;
    this.#mark = start;
  }

  /** Everything begun up to here has finished. */
  get mark(): number {
    return this.#mark;
  }

  /** Positions begun and not yet finished. */
  get pending(): number {
    return this.#length - this.#finished;
  }

  /** Registers a position as in progress; positions must increase. */
  begin(position: number): void {
    if (!Number.isSafeInteger(position) || position <= this.#last) {
      throw new InputError(
        `Watermark.begin(${position}): positions must increase (last was ${this.#last})`,
      );
    }
    if (this.#length === this.#positions.length) this.#grow();
    const at = (this.#head + this.#length) & (this.#positions.length - 1);
    this.#positions[at] = position;
    this.#done[at] = 0;
    this.#length++;
    this.#last = position;
  }

  /** Marks a begun position finished; returns the mark, which may have advanced. */
  finish(position: number): number {
    const at = this.#indexOf(position);
    if (at === -1 || this.#done[at] === 1) {
      throw new InputError(`Watermark.finish(${position}): not a pending position`);
    }
    this.#done[at] = 1;
    this.#finished++;
    const mask = this.#positions.length - 1;
    while (this.#length > 0 && this.#done[this.#head] === 1) {
      this.#mark = this.#positions[this.#head] as number;
      this.#done[this.#head] = 0;
      this.#head = (this.#head + 1) & mask;
      this.#length--;
      this.#finished--;
    }
    if (this.#length === 0) this.#mark = this.#last;
    return this.#mark;
  }

  /** Where `position` is in the ring, or -1 if it is not a begun, unreleased position. */
  #indexOf(position: number): number {
    const mask = this.#positions.length - 1;
    // Usually the oldest: lanes finish close to the order they began in.
    if (this.#length > 0 && this.#positions[this.#head] === position) return this.#head;
    let lo = 0;
    let hi = this.#length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = (this.#head + mid) & mask;
      const p = this.#positions[at] as number;
      if (p < position) lo = mid + 1;
      else if (p > position) hi = mid - 1;
      else return at;
    }
    return -1;
  }

  #grow(): void {
    const size = this.#positions.length;
    const positions = new Float64Array(size * 2);
    const done = new Uint8Array(size * 2);
    for (let i = 0; i < this.#length; i++) {
      const at = (this.#head + i) & (size - 1);
      positions[i] = this.#positions[at] as number;
      done[i] = this.#done[at] as number;
    }
    this.#positions = positions;
    this.#done = done;
    this.#head = 0;
  }
}
