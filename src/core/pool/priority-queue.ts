/**
 * PriorityQueue: FIFO lanes by priority level; higher levels are taken first.
 *
 * Jobs of one key must keep their order whatever their priorities, so a job never gets a
 * higher effective level than the job of the same key queued before it (the caller passes
 * that floor). Shedding takes from the lowest level first: its oldest or its newest job.
 */
import { Deque } from '../deque.js';

export class PriorityQueue<T> {
  readonly #lanes: Deque<T>[];
  #length = 0;

  constructor(levels: number) {
    this.#lanes = Array.from({ length: levels }, () => new Deque<T>());
  }

  get length(): number {
    return this.#length;
  }

  push(item: T, level: number): void {
    (this.#lanes[level] as Deque<T>).push(item);
    this.#length++;
  }

  /** Puts an item back at the front of its level (a job re-dispatched after a crash). */
  unshift(item: T, level: number): void {
    const lane = this.#lanes[level] as Deque<T>;
    const rest = lane.drain();
    lane.push(item);
    for (const r of rest) lane.push(r);
    this.#length++;
  }

  /** The next item: the oldest of the highest non-empty level. */
  shift(): T | undefined {
    for (let level = this.#lanes.length - 1; level >= 0; level--) {
      const lane = this.#lanes[level] as Deque<T>;
      if (lane.length > 0) {
        this.#length--;
        return lane.shift();
      }
    }
    return undefined;
  }

  peek(): T | undefined {
    for (let level = this.#lanes.length - 1; level >= 0; level--) {
      const lane = this.#lanes[level] as Deque<T>;
      if (lane.length > 0) return lane.peek();
    }
    return undefined;
  }

  /** Lowest non-empty level, or -1 when empty. */
  lowestLevel(): number {
    for (let level = 0; level < this.#lanes.length; level++) {
      if ((this.#lanes[level] as Deque<T>).length > 0) return level;
    }
    return -1;
  }

  /** Removes the oldest or newest item of the lowest non-empty level. */
  shed(which: 'oldest' | 'newest'): T | undefined {
    const level = this.lowestLevel();
    if (level < 0) return undefined;
    const lane = this.#lanes[level] as Deque<T>;
    this.#length--;
    return which === 'oldest' ? lane.shift() : lane.pop();
  }

  /** Removes and returns every item, highest level first, each level oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let level = this.#lanes.length - 1; level >= 0; level--) {
      out.push(...(this.#lanes[level] as Deque<T>).drain());
    }
    this.#length = 0;
    return out;
  }
}
