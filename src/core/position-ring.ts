/**
 * PositionRing: increasing log positions, each with a number beside it, in a ring of two
 * `Float64Array`s: nothing is allocated per position, which matters to the parts that see
 * every entry of a pipeline (the watermark, the append times). A position is found by binary
 * search (the oldest one first, as most finish close to the order they began in); the ring
 * drops positions from its front only.
 *
 * ```ts
 * const ring = new PositionRing();
 * ring.push(3, 0); ring.push(7, 0);
 * ring.valueAt(ring.indexOf(7)); // 0
 * ring.shift(); // drops 3
 * ```
 */
export class PositionRing {
  #positions: Float64Array;
  #values: Float64Array;
  #front = 0;
  #length = 0;

  /** `capacity`: the first size, a power of two (it doubles as needed). */
  constructor(capacity = 16) {
    if (!Number.isInteger(capacity) || capacity < 1 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`PositionRing capacity must be a power of two, got ${capacity}`);
    }
    this.#positions = new Float64Array(capacity);
    this.#values = new Float64Array(capacity);
  }

  /** Positions held. */
  get length(): number {
    return this.#length;
  }

  /** Appends `position`, which must be greater than every position held (not checked here). */
  push(position: number, value: number): void {
    if (this.#length === this.#positions.length) this.#grow();
    const slot = this.#slot(this.#length);
    this.#positions[slot] = position;
    this.#values[slot] = value;
    this.#length++;
  }

  /** Drops the front (the oldest) position, if any. */
  shift(): void {
    if (this.#length === 0) return;
    this.#front = (this.#front + 1) & (this.#positions.length - 1);
    this.#length--;
  }

  /** The position at `index` (0 is the front); `index` must be below `length`. */
  positionAt(index: number): number {
    return this.#positions[this.#slot(index)] as number;
  }

  /** The value at `index` (0 is the front); `index` must be below `length`. */
  valueAt(index: number): number {
    return this.#values[this.#slot(index)] as number;
  }

  setValueAt(index: number, value: number): void {
    this.#values[this.#slot(index)] = value;
  }

  /** The index of `position`, or -1 when it is not held. */
  indexOf(position: number): number {
    if (this.#length > 0 && this.#positions[this.#front] === position) return 0;
    let lo = 0;
    let hi = this.#length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.positionAt(mid);
      if (at < position) lo = mid + 1;
      else if (at > position) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  #slot(index: number): number {
    return (this.#front + index) & (this.#positions.length - 1);
  }

  #grow(): void {
    const size = this.#positions.length;
    const positions = new Float64Array(size * 2);
    const values = new Float64Array(size * 2);
    for (let i = 0; i < this.#length; i++) {
      const slot = this.#slot(i);
      positions[i] = this.#positions[slot] as number;
      values[i] = this.#values[slot] as number;
    }
    this.#positions = positions;
    this.#values = values;
    this.#front = 0;
  }
}
