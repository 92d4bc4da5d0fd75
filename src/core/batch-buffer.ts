/**
 * BatchBuffer: the Batcher's accepted items that no flush has taken yet, in admission order,
 * cut into chunks of at most `maxSize` (each chunk is one future batch).
 *
 * Guarantees: items leave in the order they were admitted (`take()` hands over the oldest
 * chunk whole); an item whose signal aborts before its chunk is taken is removed at once
 * (its caller rejects with the signal's reason) and never flushed; after `take()` an abort
 * has no effect. Admission numbers (`seq`) grow by one per item and never repeat, so "every
 * item admitted up to n has left the buffer" is the single comparison `consumedThrough >= n`.
 */
import { BatchChunk } from './batch-chunk.js';
import type { Clock } from './clock.js';
import { onAbort } from './callbacks.js';
import { Deque } from './deque.js';

export class BatchBuffer<I, O> {
  /** Oldest first; only the last may be partly filled. */
  readonly #chunks = new Deque<BatchChunk<I, O>>();
  /** Items buffered and not aborted. */
  #live = 0;
  /** Admission number of the last admitted item. */
  #seq = 0;
  /** Admission number of the last item that left the buffer (taken or aborted). */
  #consumedThrough = 0;
  readonly #maxSize: number;
  readonly #clock: Clock;
  /** Called after an item left by its signal (the owner counts it and re-checks its state). */
  readonly #onAborted: () => void;

  constructor(maxSize: number, clock: Clock, onAborted: () => void) {
    this.#maxSize = maxSize;
    this.#clock = clock;
    this.#onAborted = onAborted;
  }

  /** Items buffered (aborted ones not counted). */
  get live(): number {
    return this.#live;
  }

  get seq(): number {
    return this.#seq;
  }

  get consumedThrough(): number {
    return this.#consumedThrough;
  }

  /** Admits one item into the newest chunk (a new one when it is full); returns that chunk. */
  add(
    item: I,
    resolve: (value: O) => void,
    reject: (error: unknown) => void,
    signal: AbortSignal | undefined,
  ): BatchChunk<I, O> {
    this.#seq++;
    this.#live++;
    let tail = this.#chunks.peekLast();
    if (tail === undefined || tail.size >= this.#maxSize) {
      tail = new BatchChunk<I, O>(this.#seq, this.#clock.now(), Math.min(this.#maxSize, 1024));
      this.#chunks.push(tail);
    }
    const index = tail.size;
    tail.add(item, resolve, reject);
    if (signal !== undefined) this.#watchAbort(tail, index, signal);
    return tail;
  }

  /** The oldest chunk with a live item, after discarding chunks whose items all aborted. */
  head(): BatchChunk<I, O> | undefined {
    let head = this.#chunks.peek();
    while (head !== undefined && head.live === 0) {
      this.#chunks.shift();
      this.#consumedThrough = head.lastSeq;
      head = this.#chunks.peek();
    }
    return head;
  }

  /** Removes the oldest chunk (call after `head()` returned it) and fixes its slots. */
  take(): BatchChunk<I, O> {
    const chunk = this.#chunks.shift() as BatchChunk<I, O>;
    this.#consumedThrough = chunk.lastSeq;
    chunk.detach();
    this.#live -= chunk.size;
    return chunk;
  }

  /** Empties the buffer, rejecting every caller in it with `error()`; returns how many. */
  rejectAll(error: () => unknown): number {
    let rejected = 0;
    for (let c = this.#chunks.shift(); c !== undefined; c = this.#chunks.shift()) {
      c.detach();
      c.settled = true;
      for (const reject of c.rejects) reject(error());
      rejected += c.rejects.length;
    }
    this.#live = 0;
    this.#consumedThrough = this.#seq;
    return rejected;
  }

  #watchAbort(chunk: BatchChunk<I, O>, index: number, signal: AbortSignal): void {
    const stop = onAbort(signal, () => {
      if (chunk.dispatched) return;
      (chunk.cancelled ??= new Set()).add(index);
      this.#live--;
      (chunk.rejects[index] as (error: unknown) => void)(signal.reason);
      this.#onAborted();
    });
    (chunk.cleanups ??= []).push(stop);
  }
}
