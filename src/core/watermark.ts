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
import { PositionRing } from './position-ring.js';

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
   * Begun positions from the first unfinished one on, each with 1 once finished (a ring of
   * typed arrays: no object per position, and a pipeline begins every entry here).
   */
  readonly #begun = new PositionRing();
  /** Finished positions behind an unfinished one. */
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
    return this.#begun.length - this.#finished;
  }

  /** Registers a position as in progress; positions must increase. */
  begin(position: number): void {
    if (!Number.isSafeInteger(position) || position <= this.#last) {
      throw new InputError(
        `Watermark.begin(${position}): positions must increase (last was ${this.#last})`,
      );
    }
    this.#begun.push(position, 0);
    this.#last = position;
  }

  /** Marks a begun position finished; returns the mark, which may have advanced. */
  finish(position: number): number {
    const begun = this.#begun;
    const at = begun.indexOf(position);
    if (at === -1 || begun.valueAt(at) === 1) {
      throw new InputError(`Watermark.finish(${position}): not a pending position`);
    }
    begun.setValueAt(at, 1);
    this.#finished++;
    while (begun.length > 0 && begun.valueAt(0) === 1) {
      this.#mark = begun.positionAt(0);
      begun.shift();
      this.#finished--;
    }
    if (begun.length === 0) this.#mark = this.#last;
    return this.#mark;
  }
}
