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
 * Outcomes, one shape everywhere:
 * - `flush` resolves to nothing → every caller of the batch resolves `undefined`;
 * - to an array with one result per item, in order → each caller gets its slot; an `Error`
 *   in a slot rejects only that caller;
 * - to an array of the wrong length → every caller rejects with a `TypeError` stating the
 *   contract;
 * - `flush` throws (after the optional retry policy gives up) → exactly the callers of that
 *   batch reject with {@link BatchError} (`cause` kept). The batcher keeps serving.
 *
 * Guarantees: items are flushed in submit order, within and across batches; every accepted
 * item settles exactly once; at most `maxPending` items are buffered or in flight, beyond
 * that `submit` waits its turn (or rejects with {@link QueueFullError} under
 * `overflow: 'reject'`); a submit whose signal aborts before its item is handed to a flush
 * is removed, rejects with the signal's reason and is never flushed (once handed over, the
 * abort has no effect: the item is being written).
 *
 * Lifecycle: `flushNow()` sends what is buffered without waiting; `drain()` waits until
 * nothing is waiting, buffered or in flight; `close({ deadlineMs })` stops accepting
 * (`ClosedError`), flushes everything already accepted, and at the deadline gives up:
 * in-flight callers reject with {@link TimeoutError} (outcome unknown, the flush's signal is
 * aborted), callers not yet flushed reject with `ClosedError` (not written).
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
import { BatchError, ClosedError, ConfigError, QueueFullError, TimeoutError } from '../errors.js';
import { systemClock, type Clock, type Timer } from './clock.js';
import { onAbort } from './callbacks.js';
import { Deque } from './deque.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  numberOption,
  objectOption,
} from './options.js';
import { resolveRetryPolicy, retry, type RetryPolicy } from './retry.js';

/** What a flush is told about the call it serves. */
export interface FlushContext {
  /** Aborted when the batcher gives up on this flush (a `close` deadline passed). */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
}

/** Nothing (every caller gets `undefined`), or one result per item, in order. */
export type FlushResult<O> = ReadonlyArray<O | Error> | void;

export type FlushFunction<I, O> = (
  items: I[],
  context: FlushContext,
) => FlushResult<O> | PromiseLike<FlushResult<O>>;

export interface BatcherOptions<I, O> {
  /** Largest batch handed to `flush`; a full batch is flushed at once. Integer >= 1. */
  maxSize: number;
  /** Longest wait after a batch's first item before it is flushed. @default 10 */
  maxDelayMs?: number;
  /**
   * Most items buffered or in flight at once (integer >= `maxSize`); beyond it `submit`
   * waits or rejects per `overflow`. @default 10 * maxSize
   */
  maxPending?: number;
  /** Flushes allowed to run at the same time. @default 1 */
  maxConcurrentFlushes?: number;
  /** What `submit` does when `maxPending` is reached. @default 'wait' */
  overflow?: 'wait' | 'reject';
  /** Writes one batch. See the module doc for what it may return. */
  flush: FlushFunction<I, O>;
  /** Retries a flush that throws; without it a failed flush is not retried. */
  retry?: Partial<RetryPolicy>;
  /** Which thrown errors the retry policy applies to. @default every error */
  isRetryable?: (error: unknown) => boolean;
  /** @default systemClock */
  clock?: Clock;
}

export interface SubmitOptions {
  /** Aborting before the item is handed to a flush removes it (it is never flushed). */
  signal?: AbortSignal;
}

export interface CloseOptions {
  /** Give up on what is not flushed this long after `close` was called. @default no limit */
  deadlineMs?: number;
}

export interface CloseResult {
  /** Whether everything accepted settled before the deadline. */
  drained: boolean;
  /** Callers rejected because the deadline passed (in flight, buffered or waiting). */
  abandoned: number;
}

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
 * A batch in the making, then in flight. Items are admitted into the newest chunk until it
 * holds `maxSize`; dispatch hands over a whole chunk, so no item is copied or shifted.
 */
class Chunk<I, O> {
  // Preallocated and written by index: growing three arrays by push cost more than the
  // rest of a submit. `size` is the fill; the arrays are trimmed to it at dispatch.
  readonly items: I[];
  readonly resolves: ((value: O) => void)[];
  readonly rejects: ((error: unknown) => void)[];
  size = 0;
  /** Indexes removed by their abort signal before dispatch (rare, so created lazily). */
  cancelled: Set<number> | undefined = undefined;
  /** Removes abort listeners once the chunk is dispatched. */
  cleanups: (() => void)[] | undefined = undefined;
  dispatched = false;
  settled = false;
  controller: AbortController | undefined = undefined;

  constructor(
    /** Admission number of `items[0]`; the others follow without gaps. */
    readonly firstSeq: number,
    /** When `items[0]` was admitted: the batch's delay counts from here. */
    readonly arrivedAt: number,
    capacity: number,
  ) {
    this.items = new Array<I>(capacity);
    this.resolves = new Array<(value: O) => void>(capacity);
    this.rejects = new Array<(error: unknown) => void>(capacity);
  }

  add(item: I, resolve: (value: O) => void, reject: (error: unknown) => void): void {
    const i = this.size++;
    this.items[i] = item;
    this.resolves[i] = resolve;
    this.rejects[i] = reject;
  }

  get lastSeq(): number {
    return this.firstSeq + this.size - 1;
  }

  get live(): number {
    return this.size - (this.cancelled?.size ?? 0);
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /** Trims to the fill and drops cancelled slots, so items and callers line up. */
  compact(): void {
    const cancelled = this.cancelled;
    if (cancelled === undefined || cancelled.size === 0) {
      if (this.items.length !== this.size) {
        this.items.length = this.resolves.length = this.rejects.length = this.size;
      }
      return;
    }
    let w = 0;
    for (let r = 0; r < this.size; r++) {
      if (cancelled.has(r)) continue;
      this.items[w] = this.items[r] as I;
      this.resolves[w] = this.resolves[r] as (value: O) => void;
      this.rejects[w] = this.rejects[r] as (error: unknown) => void;
      w++;
    }
    this.items.length = this.resolves.length = this.rejects.length = this.size = w;
    this.cancelled = undefined;
  }
}

/** The signal is created only if the flush reads it: most never do, and it is not free. */
class Context implements FlushContext {
  constructor(
    readonly batch: { readonly signal: AbortSignal },
    readonly attempt: number,
  ) {}

  get signal(): AbortSignal {
    return this.batch.signal;
  }
}

/** A submit waiting for room (beyond `maxPending`). */
interface Waiter<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  cancelled: boolean;
  cleanup: (() => void) | undefined;
}

interface SeqWaiter {
  readonly through: number;
  readonly resolve: () => void;
}

export class Batcher<I, O = void> implements AsyncDisposable {
  readonly maxSize: number;
  readonly maxDelayMs: number;
  readonly maxPending: number;
  readonly maxConcurrentFlushes: number;
  readonly #overflow: 'wait' | 'reject';
  readonly #flush: FlushFunction<I, O>;
  readonly #retry: RetryPolicy | undefined;
  readonly #isRetryable: ((error: unknown) => boolean) | undefined;
  readonly #clock: Clock;

  /** Chunks not yet dispatched, oldest first; only the last may be partly filled. */
  readonly #chunks = new Deque<Chunk<I, O>>();
  /** Submits waiting for room, in order; may contain cancelled ones. */
  readonly #waiting = new Deque<Waiter<I, O>>();
  readonly #inFlight = new Set<Chunk<I, O>>();
  /** Items buffered and not cancelled. */
  #live = 0;
  /** Waiters not cancelled. */
  #waitingLive = 0;
  #inFlightItems = 0;
  /** Admission number of the last admitted item. */
  #seq = 0;
  /** Admission number of the last item that left the buffer (dispatched or cancelled). */
  #consumedThrough = 0;
  /** Items with admission number <= this are flushed without waiting for size or delay. */
  #forceThrough = 0;
  #timer: Timer | undefined = undefined;
  #closing = false;
  #closed: Promise<CloseResult> | undefined = undefined;
  #seqWaiters: SeqWaiter[] = [];
  #idleWaiters: (() => void)[] = [];

  #submitted = 0;
  #batches = 0;
  #flushed = 0;
  #failed = 0;
  #retries = 0;
  #aborted = 0;
  #rejected = 0;
  #abandoned = 0;

  constructor(options: BatcherOptions<I, O>) {
    const o = objectOption('options', options);
    this.maxSize = integerOption('maxSize', o.maxSize, undefined, 1);
    this.maxDelayMs = numberOption('maxDelayMs', o.maxDelayMs, 10, 0);
    this.maxPending = integerOption('maxPending', o.maxPending, this.maxSize * 10, 1);
    if (this.maxPending < this.maxSize) {
      throw new ConfigError('maxPending', `an integer >= maxSize (${this.maxSize})`, o.maxPending);
    }
    this.maxConcurrentFlushes = integerOption('maxConcurrentFlushes', o.maxConcurrentFlushes, 1, 1);
    this.#overflow = choiceOption('overflow', o.overflow, 'wait', ['wait', 'reject']);
    this.#flush = functionOption<FlushFunction<I, O>>('flush', o.flush);
    this.#retry =
      o.retry === undefined ? undefined : resolveRetryPolicy(o.retry as Partial<RetryPolicy>);
    this.#isRetryable =
      o.isRetryable === undefined
        ? undefined
        : functionOption<(error: unknown) => boolean>('isRetryable', o.isRetryable);
    this.#clock = (o.clock as Clock | undefined) ?? systemClock;
  }

  /**
   * Adds one item to the next batch. Resolves with its flush result; rejects with its
   * slot's `Error`, a {@link BatchError}, `ClosedError` (closing, not flushed),
   * `QueueFullError` (overflow `reject`) or the signal's reason (aborted, not flushed).
   */
  submit(item: I, options?: SubmitOptions): Promise<O> {
    if (this.#closing) {
      return Promise.reject(new ClosedError('batcher is closed: the item was not accepted'));
    }
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    if (this.#waitingLive > 0 || this.#live + this.#inFlightItems >= this.maxPending) {
      if (this.#overflow === 'reject') {
        this.#rejected++;
        return Promise.reject(new QueueFullError('batcher', this.maxPending));
      }
      this.#submitted++;
      return this.#wait(item, signal);
    }
    this.#submitted++;
    const chunk = this.#admitChunk();
    const index = chunk.size;
    const promise = new Promise<O>((resolve, reject) => chunk.add(item, resolve, reject));
    if (signal !== undefined) this.#watchAbort(chunk, index, signal);
    // Pump only if this submit can make a batch due: it filled one, or no timer will come.
    // (A flush that settles pumps by itself.)
    if (
      chunk.size >= this.maxSize ||
      (this.#timer === undefined && this.#inFlight.size < this.maxConcurrentFlushes)
    ) {
      this.#pump();
    }
    return promise;
  }

  /**
   * Sends everything buffered now without waiting for size or delay (still at most
   * `maxConcurrentFlushes` at a time). Resolves once those items have settled.
   */
  flushNow(): Promise<void> {
    const through = this.#seq;
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
   * Stops accepting items and flushes everything accepted. Idempotent: later calls return
   * the first call's result.
   */
  close(options?: CloseOptions): Promise<CloseResult> {
    if (this.#closed !== undefined) return this.#closed;
    const o = objectOption('close options', options);
    const deadlineMs = numberOption('deadlineMs', o.deadlineMs, Infinity, 0);
    this.#closing = true;
    this.#forceThrough = Infinity;
    this.#pump();
    this.#closed = this.#finishClose(deadlineMs);
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): BatcherStats {
    return {
      submitted: this.#submitted,
      batches: this.#batches,
      flushed: this.#flushed,
      failed: this.#failed,
      retries: this.#retries,
      aborted: this.#aborted,
      rejected: this.#rejected,
      abandoned: this.#abandoned,
      pending: this.#live + this.#inFlightItems,
      inFlight: this.#inFlightItems,
      waiting: this.#waitingLive,
    };
  }

  /** The chunk the next admitted item goes into; starts a new one when the last is full. */
  #admitChunk(): Chunk<I, O> {
    this.#seq++;
    this.#live++;
    let tail = this.#chunks.peekLast();
    if (tail === undefined || tail.size >= this.maxSize) {
      tail = new Chunk<I, O>(this.#seq, this.#clock.now(), Math.min(this.maxSize, 1024));
      this.#chunks.push(tail);
    }
    return tail;
  }

  #wait(item: I, signal: AbortSignal | undefined): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const waiter: Waiter<I, O> = {
        item,
        resolve,
        reject,
        signal,
        cancelled: false,
        cleanup: undefined,
      };
      if (signal !== undefined) {
        waiter.cleanup = onAbort(signal, () => {
          waiter.cancelled = true;
          this.#waitingLive--;
          this.#aborted++;
          reject(signal.reason);
          this.#notify();
        });
      }
      this.#waiting.push(waiter);
      this.#waitingLive++;
    });
  }

  #watchAbort(chunk: Chunk<I, O>, index: number, signal: AbortSignal): void {
    const stop = onAbort(signal, () => {
      if (chunk.dispatched) return;
      (chunk.cancelled ??= new Set()).add(index);
      this.#live--;
      this.#aborted++;
      (chunk.rejects[index] as (error: unknown) => void)(signal.reason);
      this.#pump();
      this.#notify();
    });
    (chunk.cleanups ??= []).push(stop);
  }

  /** Admits waiting submits into free room, then dispatches every batch that is due. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#live + this.#inFlightItems < this.maxPending) {
      const w = this.#waiting.shift() as Waiter<I, O>;
      if (w.cancelled) continue;
      this.#waitingLive--;
      w.cleanup?.();
      const chunk = this.#admitChunk();
      const index = chunk.size;
      chunk.add(w.item, w.resolve, w.reject);
      if (w.signal !== undefined) this.#watchAbort(chunk, index, w.signal);
    }
    let head = this.#dropCancelledHead();
    while (head !== undefined && this.#inFlight.size < this.maxConcurrentFlushes) {
      if (head.size < this.maxSize && head.firstSeq > this.#forceThrough) {
        // An armed timer will pump when the head may be due; reading the clock on every
        // submit would cost more than the rest of the submit.
        if (this.#timer !== undefined) break;
        if (this.#clock.now() < head.arrivedAt + this.maxDelayMs) break;
      }
      this.#dispatch(head);
      head = this.#dropCancelledHead();
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

  /** The oldest chunk with a live item, after discarding chunks whose items were all aborted. */
  #dropCancelledHead(): Chunk<I, O> | undefined {
    let head = this.#chunks.peek();
    while (head !== undefined && head.live === 0) {
      this.#chunks.shift();
      this.#consumedThrough = head.lastSeq;
      head = this.#chunks.peek();
    }
    return head;
  }

  #dispatch(chunk: Chunk<I, O>): void {
    this.#chunks.shift();
    this.#consumedThrough = chunk.lastSeq;
    chunk.dispatched = true;
    if (chunk.cleanups !== undefined) for (const cleanup of chunk.cleanups) cleanup();
    chunk.compact();
    const n = chunk.size;
    this.#live -= n;
    this.#inFlightItems += n;
    this.#batches++;
    this.#inFlight.add(chunk);
    void this.#run(chunk);
  }

  async #run(chunk: Chunk<I, O>): Promise<void> {
    const items = chunk.items;
    let attempt = 1;
    try {
      let result: FlushResult<O>;
      if (this.#retry === undefined) {
        result = await this.#flush(items, new Context(chunk, 1));
      } else {
        result = await retry(
          (n) => {
            attempt = n;
            return this.#flush(items, new Context(chunk, n));
          },
          this.#retry,
          {
            signal: chunk.signal,
            clock: this.#clock,
            onRetry: () => this.#retries++,
            ...(this.#isRetryable === undefined ? {} : { isRetryable: this.#isRetryable }),
          },
        );
      }
      this.#settle(chunk, result);
    } catch (error) {
      this.#fail(chunk, new BatchError(error, chunk.resolves.length, attempt));
    } finally {
      this.#inFlight.delete(chunk);
      this.#inFlightItems -= chunk.resolves.length;
      this.#pump();
      this.#notify();
    }
  }

  #settle(chunk: Chunk<I, O>, result: FlushResult<O>): void {
    if (chunk.settled) return;
    const { resolves, rejects } = chunk;
    const n = resolves.length;
    if (result === undefined) {
      chunk.settled = true;
      for (let i = 0; i < n; i++) (resolves[i] as (value: O) => void)(undefined as O);
      this.#flushed += n;
      return;
    }
    if (!Array.isArray(result) || result.length !== n) {
      const got = Array.isArray(result) ? `${result.length} results` : typeof result;
      this.#fail(
        chunk,
        new TypeError(
          `Batcher flush must return nothing or an array with one result per item, in order: got ${got} for ${n} items`,
        ),
      );
      return;
    }
    chunk.settled = true;
    for (let i = 0; i < n; i++) {
      const value = result[i] as O | Error;
      if (value instanceof Error) {
        this.#failed++;
        (rejects[i] as (error: unknown) => void)(value);
      } else {
        this.#flushed++;
        (resolves[i] as (value: O) => void)(value);
      }
    }
  }

  #fail(chunk: Chunk<I, O>, error: unknown): void {
    if (chunk.settled) return;
    chunk.settled = true;
    this.#failed += chunk.rejects.length;
    for (const reject of chunk.rejects) reject(error);
  }

  async #finishClose(deadlineMs: number): Promise<CloseResult> {
    if (deadlineMs === Infinity) {
      await this.drain();
      return { drained: true, abandoned: 0 };
    }
    let timer: Timer | undefined;
    const timedOut = await Promise.race([
      this.drain().then(() => false),
      new Promise<boolean>((resolve) => {
        timer = this.#clock.setTimer(() => resolve(true), deadlineMs);
      }),
    ]);
    timer?.cancel();
    if (!timedOut) return { drained: true, abandoned: 0 };
    return { drained: false, abandoned: this.#abandonAll(deadlineMs) };
  }

  /** At a close deadline: settles every caller still waiting for an outcome. */
  #abandonAll(deadlineMs: number): number {
    let abandoned = 0;
    for (const chunk of this.#inFlight) {
      if (chunk.settled) continue;
      chunk.settled = true;
      const error = new TimeoutError(
        `close deadline of ${deadlineMs} ms passed while this item's flush was in flight; its outcome is unknown`,
      );
      (chunk.controller ??= new AbortController()).abort(error);
      for (const reject of chunk.rejects) reject(error);
      abandoned += chunk.rejects.length;
    }
    const notWritten = (): ClosedError =>
      new ClosedError(
        `close deadline of ${deadlineMs} ms passed before this item was flushed; it was not written`,
      );
    for (let c = this.#chunks.shift(); c !== undefined; c = this.#chunks.shift()) {
      c.dispatched = true;
      if (c.cleanups !== undefined) for (const cleanup of c.cleanups) cleanup();
      c.compact();
      for (const reject of c.rejects) reject(notWritten());
      abandoned += c.rejects.length;
    }
    for (let w = this.#waiting.shift(); w !== undefined; w = this.#waiting.shift()) {
      if (w.cancelled) continue;
      w.cleanup?.();
      w.reject(notWritten());
      abandoned++;
    }
    this.#live = 0;
    this.#waitingLive = 0;
    this.#consumedThrough = this.#seq;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#abandoned += abandoned;
    this.#notify();
    return abandoned;
  }

  #isIdle(): boolean {
    return this.#live === 0 && this.#inFlight.size === 0 && this.#waitingLive === 0;
  }

  /** Every item admitted up to `through` has left the buffer and its flush has settled. */
  #settledThrough(through: number): boolean {
    if (this.#consumedThrough < through) return false;
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
