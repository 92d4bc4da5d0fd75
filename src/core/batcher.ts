/**
 * Batcher: turns many `submit(item)` calls into few `flush(items)` calls, and gives each
 * caller its own outcome.
 *
 * Flush rule: a batch is handed to `flush` at once when `maxSize` items are buffered,
 * otherwise `maxDelayMs` after its first item arrived; an idle batcher sets no timer. At
 * most `maxConcurrentFlushes` flushes run at a time (one by default, so a sink never sees
 * two writes in flight unless asked); items that arrive meanwhile wait for the next batch.
 * A timer that falls due while every flush slot is busy does nothing: the due batch goes out
 * when a slot frees, and the running flush is never re-issued or cancelled.
 *
 * Outcomes, one shape everywhere (flush-runner.ts): `flush` resolves to nothing (every
 * caller gets `undefined`) or to one result per item, in order (an `Error` in a slot rejects
 * only that caller; a wrong length rejects every caller with a `TypeError`); a `flush` that
 * throws, after the optional retry policy gives up, rejects exactly the callers of that
 * batch with {@link BatchError} (`cause` kept). The batcher keeps serving.
 *
 * Guarantees: items are flushed in submit order, within and across batches; every accepted
 * item settles exactly once; at most `maxPending` items are buffered or in flight, beyond
 * that `submit` waits its turn (or rejects with {@link QueueFullError} under
 * `overflow: 'reject'`); a submit whose signal aborts before its item is handed to a flush
 * is removed, rejects with the signal's reason and is never flushed (once handed over, the
 * abort has no effect: the item is being written).
 *
 * Lifecycle (the glossary's table, index.ts): `flush()` sends what is buffered now without
 * waiting for size or delay and resolves once those items have settled; `drain()` waits
 * until nothing is waiting, buffered or in flight; both keep accepting. `close({ deadlineMs
 * })` stops accepting (`ClosedError`), flushes everything already accepted, and at the
 * deadline gives up: in-flight callers reject with {@link TimeoutError} (outcome unknown, the
 * flush's signal is aborted), callers not yet flushed reject with `ClosedError` (not
 * written).
 *
 * States: open → closing (`close()` called: no new items, the accepted ones are flushed) →
 * closed (everything accepted has settled or was given up on at the deadline).
 *
 * ```ts
 * const batcher = new Batcher<Row, void>({
 *   maxSize: 500,
 *   maxDelayMs: 20,
 *   flush: (rows) => db.insertMany(rows),
 * });
 * await batcher.submit(row); // resolves once its batch is written
 * ```
 */
import { ClosedError, QueueFullError } from '../errors.js';
import type { Clock, Timer } from './clock.js';
import { BatchBuffer } from './batch-buffer.js';
import type { BatchChunk } from './batch-chunk.js';
import { resolveBatcherOptions, type BatcherOptions } from './batcher-options.js';
import { resolveCloseOptions, type CloseOptions } from './close-options.js';
import { withinDeadline } from './deadline.js';
import { FlushRunner } from './flush-runner.js';
import { WaitingRoom, type Waiter } from './waiting-room.js';

export type {
  BatcherOptions,
  FlushContext,
  FlushFunction,
  FlushResult,
} from './batcher-options.js';
export type { CloseOptions } from './close-options.js';

/** Options of `Batcher.submit()`. */
export interface SubmitOptions {
  /** Aborting before the item is handed to a flush removes it (it is never flushed). */
  signal?: AbortSignal;
}

/** What `Batcher.close()` resolves with. */
export interface CloseResult {
  /** Whether everything accepted settled before the deadline. */
  drained: boolean;
  /** Callers rejected because the deadline passed (in flight, buffered or waiting). */
  abandoned: number;
}

/** What `Batcher.stats()` reports: counts since creation, and current sizes. */
export interface BatcherStats {
  /** Submits accepted (buffered or waiting for room). */
  submitted: number;
  /** Flushes started (retries of one batch not counted). */
  batches: number;
  /** Items whose caller resolved with a flush result. */
  flushed: number;
  /** Items whose caller rejected because of their flush (thrown, wrong length, slot error). */
  failed: number;
  /** Flush retries. */
  retries: number;
  /** Items removed by their abort signal before being flushed. */
  aborted: number;
  /** Submits refused with `QueueFullError`. */
  rejected: number;
  /** Callers given up on at a `close` deadline. */
  abandoned: number;
  /** Items buffered or in flight (never above `maxPending`). */
  pending: number;
  /** Items in flushes that have not settled. */
  inFlight: number;
  /** Submits waiting for room. */
  waiting: number;
}

/**
 * `open` → `closing` (`close()` called: no new items, the accepted ones are flushed) →
 * `closed` (everything accepted settled, or was given up on at the deadline); one way only.
 */
export type BatcherState = 'open' | 'closing' | 'closed';

const nextStates: Record<BatcherState, readonly BatcherState[]> = {
  open: ['closing'],
  closing: ['closed'],
  closed: [],
};

interface SeqWaiter {
  readonly through: number;
  readonly resolve: () => void;
}

/**
 * Turns many `submit(item)` calls into few `flush(items)` calls, and gives each caller its
 * own outcome. A batch goes out at once when `maxSize` items are buffered, otherwise
 * `maxDelayMs` after its first item; one flush runs at a time unless
 * `maxConcurrentFlushes` says otherwise. Items are flushed in submit order; every accepted
 * item settles exactly once; at most `maxPending` are buffered or in flight, beyond that
 * `submit` waits (or rejects with QueueFullError under `overflow: 'reject'`). A flush
 * that throws rejects the callers of that batch with {@link BatchError}; the batcher keeps
 * serving. Options: {@link BatcherOptions}.
 *
 * ```ts
 * const batcher = new Batcher<Row, void>({
 *   maxSize: 500,
 *   maxDelayMs: 20,
 *   flush: (rows) => db.insertMany(rows),
 * });
 * await batcher.submit(row); // resolves once its batch is written
 * ```
 */
export class Batcher<I, O = void> implements AsyncDisposable {
  /** Largest batch handed to `flush`. */
  readonly maxSize: number;
  /** Longest wait after a batch's first item before it is flushed, in ms. */
  readonly maxDelayMs: number;
  /** Most items buffered or in flight at once. */
  readonly maxPending: number;
  /** Flushes allowed to run at the same time. */
  readonly maxConcurrentFlushes: number;
  readonly #overflow: 'wait' | 'reject';
  readonly #clock: Clock;
  readonly #runner: FlushRunner<I, O>;

  #state: BatcherState = 'open';
  readonly #buffer: BatchBuffer<I, O>;
  readonly #waiting = new WaitingRoom<I, O>(() => {
    this.#aborted++;
    this.#notify();
  });
  readonly #inFlight = new Set<BatchChunk<I, O>>();
  #inFlightItems = 0;
  /** Items with admission number <= this are flushed without waiting for size or delay. */
  #forceThrough = 0;
  #timer: Timer | undefined = undefined;
  #closed: Promise<CloseResult> | undefined = undefined;
  #seqWaiters: SeqWaiter[] = [];
  #idleWaiters: (() => void)[] = [];

  #submitted = 0;
  #aborted = 0;
  #rejected = 0;
  #abandoned = 0;

  constructor(options: BatcherOptions<I, O>) {
    const o = resolveBatcherOptions(options);
    this.maxSize = o.maxSize;
    this.maxDelayMs = o.maxDelayMs;
    this.maxPending = o.maxPending;
    this.maxConcurrentFlushes = o.maxConcurrentFlushes;
    this.#overflow = o.overflow;
    this.#clock = o.clock;
    this.#buffer = new BatchBuffer<I, O>(o.maxSize, o.clock, () => {
      this.#aborted++;
      this.#pump();
      this.#notify();
    });
    this.#runner = new FlushRunner(o, (chunk) => this.#flushReturned(chunk));
  }

  /** Where the batcher is in its lifecycle. */
  get state(): BatcherState {
    return this.#state;
  }

  /**
   * Adds one item to the next batch. Resolves with its flush result; rejects with its
   * slot's `Error`, a {@link BatchError}, `ClosedError` (closing, not flushed),
   * `QueueFullError` (overflow `reject`) or the signal's reason (aborted, not flushed).
   */
  submit(item: I, options?: SubmitOptions): Promise<O> {
    if (this.#state !== 'open') {
      return Promise.reject(new ClosedError('batcher is closed: the item was not accepted'));
    }
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    if (this.#mustWait()) {
      if (this.#overflow === 'reject') {
        this.#rejected++;
        return Promise.reject(new QueueFullError('batcher', this.maxPending));
      }
      this.#submitted++;
      return this.#waiting.enter(item, signal);
    }
    return new Promise<O>((resolve, reject) => this.#admit(item, resolve, reject, signal));
  }

  /**
   * `submit` for a caller that needs no promise of its own: its outcome is not reported,
   * except a failure, which goes to `onFailed` (the error `submit` would reject with). For
   * a stream of items whose results are handled in `flush`; it saves a promise per item.
   */
  enqueue(item: I, onFailed: (error: unknown) => void): void {
    if (this.#state !== 'open' || this.#mustWait()) {
      this.submit(item).then(undefined, onFailed);
      return;
    }
    this.#admit(item, ignore, onFailed, undefined);
  }

  /** A new item must wait its turn: others wait already, or `maxPending` are held. */
  #mustWait(): boolean {
    return this.#waiting.length > 0 || this.#buffer.live + this.#inFlightItems >= this.maxPending;
  }

  /** Buffers an item with room for it, and its caller's outcome handlers. */
  #admit(
    item: I,
    resolve: (value: O) => void,
    reject: (error: unknown) => void,
    signal: AbortSignal | undefined,
  ): void {
    this.#submitted++;
    const chunk = this.#buffer.add(item, resolve, reject, signal);
    // Pump only if this item can make a batch due: it filled one, or no timer will come.
    // (A flush that settles pumps by itself.)
    if (
      chunk.size >= this.maxSize ||
      (this.#timer === undefined && this.#inFlight.size < this.maxConcurrentFlushes)
    ) {
      this.#pump();
    }
  }

  /**
   * Sends everything buffered now without waiting for size or delay (still at most
   * `maxConcurrentFlushes` at a time, in submit order). Resolves once those items have
   * settled, whatever their outcome (each caller has its own); keeps accepting.
   */
  flush(): Promise<void> {
    const through = this.#buffer.seq;
    this.#forceThrough = Math.max(this.#forceThrough, through);
    this.#pump();
    return this.#whenSettledThrough(through);
  }

  /** Resolves once nothing is waiting, buffered or in flight (at once if so already). */
  drain(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops accepting items and flushes everything accepted, giving up at `deadlineMs` (see
   * the module doc). Idempotent: later calls return the first call's result.
   */
  close(options?: CloseOptions): Promise<CloseResult> {
    if (this.#closed !== undefined) return this.#closed;
    const { deadlineMs } = resolveCloseOptions('Batcher.close() options', options);
    this.#setState('closing');
    this.#forceThrough = Infinity;
    this.#pump();
    this.#closed = this.#finishClose(deadlineMs);
    return this.#closed;
  }

  /** `close()` with no deadline, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Counts and sizes, now. */
  stats(): BatcherStats {
    const r = this.#runner;
    return {
      submitted: this.#submitted,
      batches: r.batches,
      flushed: r.flushed,
      failed: r.failed,
      retries: r.retries,
      aborted: this.#aborted,
      rejected: this.#rejected,
      abandoned: this.#abandoned,
      pending: this.#buffer.live + this.#inFlightItems,
      inFlight: this.#inFlightItems,
      waiting: this.#waiting.length,
    };
  }

  #setState(next: BatcherState): void {
    if (!nextStates[this.#state].includes(next)) {
      throw new Error(`Batcher cannot go from '${this.#state}' to '${next}'`);
    }
    this.#state = next;
  }

  /** Admits waiting submits into free room, then dispatches every batch that is due. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#buffer.live + this.#inFlightItems < this.maxPending) {
      const w = this.#waiting.next() as Waiter<I, O>;
      this.#buffer.add(w.item, w.resolve, w.reject, w.signal);
    }
    let head = this.#buffer.head();
    while (head !== undefined && this.#inFlight.size < this.maxConcurrentFlushes) {
      if (head.size < this.maxSize && head.firstSeq > this.#forceThrough) {
        // An armed timer will pump when the head may be due; reading the clock on every
        // submit would cost more than the rest of the submit.
        if (this.#timer !== undefined) break;
        if (this.#clock.now() < head.arrivedAt + this.maxDelayMs) break;
      }
      this.#dispatch(this.#buffer.take());
      head = this.#buffer.head();
    }
    if (head === undefined) {
      this.#timer?.cancel();
      this.#timer = undefined;
    } else if (this.#timer === undefined && this.#inFlight.size < this.maxConcurrentFlushes) {
      // Slots free but the batch is not due yet: wake when it is. (With every slot busy, the
      // next settling flush pumps instead; a timer then would only spin.)
      const delay = head.arrivedAt + this.maxDelayMs - this.#clock.now();
      this.#timer = this.#clock.setTimer(() => {
        this.#timer = undefined;
        this.#pump();
      }, delay);
    }
  }

  #dispatch(chunk: BatchChunk<I, O>): void {
    this.#inFlightItems += chunk.size;
    this.#inFlight.add(chunk);
    // run() settles every caller itself and never rejects; #flushReturned follows it.
    void this.#runner.run(chunk);
  }

  /** A flush has returned (its callers have their outcomes): its slot and room are free. */
  #flushReturned(chunk: BatchChunk<I, O>): void {
    this.#inFlight.delete(chunk);
    this.#inFlightItems -= chunk.resolves.length;
    this.#pump();
    this.#notify();
  }

  async #finishClose(deadlineMs: number): Promise<CloseResult> {
    const drained = await withinDeadline(this.drain(), deadlineMs, this.#clock);
    const abandoned = drained ? 0 : this.#abandonAll(deadlineMs);
    this.#setState('closed');
    return { drained, abandoned };
  }

  /** At a close deadline: settles every caller still waiting for an outcome. */
  #abandonAll(deadlineMs: number): number {
    let abandoned = 0;
    for (const chunk of this.#inFlight) abandoned += this.#runner.abandon(chunk, deadlineMs);
    const notWritten = (): ClosedError =>
      new ClosedError(
        `close deadline of ${deadlineMs} ms passed before this item was flushed; it was not written`,
      );
    abandoned += this.#buffer.rejectAll(notWritten);
    abandoned += this.#waiting.rejectAll(notWritten);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#abandoned += abandoned;
    this.#notify();
    return abandoned;
  }

  #isIdle(): boolean {
    return this.#buffer.live === 0 && this.#inFlight.size === 0 && this.#waiting.length === 0;
  }

  /** Every item admitted up to `through` has left the buffer and its flush has settled. */
  #settledThrough(through: number): boolean {
    if (this.#buffer.consumedThrough < through) return false;
    for (const c of this.#inFlight) if (c.firstSeq <= through && !c.settled) return false;
    return true;
  }

  #whenSettledThrough(through: number): Promise<void> {
    if (this.#settledThrough(through)) return Promise.resolve();
    return new Promise((resolve) => this.#seqWaiters.push({ through, resolve }));
  }

  #notify(): void {
    if (this.#seqWaiters.length > 0) {
      this.#seqWaiters = this.#seqWaiters.filter((w) => {
        if (!this.#settledThrough(w.through)) return true;
        w.resolve();
        return false;
      });
    }
    if (this.#idleWaiters.length > 0 && this.#isIdle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

/** The outcome of an `enqueue`d item that succeeded: nobody waits for it. */
function ignore(): void {}
