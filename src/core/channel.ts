/**
 * Channel: a bounded async queue between producers and consumers.
 *
 * Guarantees:
 * - Items are received in the order they were accepted (FIFO), each by exactly one receiver.
 * - The buffer never holds more than `capacity` items. What happens to an item sent to a
 *   full channel is the `overflow` policy, never a surprise: `wait` (the sender waits, in
 *   order), `reject` (`send` rejects with {@link QueueFullError}), `dropOldest` or
 *   `dropNewest` (the item is dropped, counted and handed to `onDiscard`).
 * - Receivers are served first come, first served. `receiveBatch(max, maxWaitMs)` waits
 *   without limit for a first item, then at most `maxWaitMs` more to fill up to `max`.
 *
 * Lifecycle (the glossary's table, index.ts): `drain()` resolves once the buffer is empty
 * and no sender waits (at once if so), and keeps accepting. `close({ deadlineMs })` is
 * idempotent and stops accepting at once: waiting senders and later ones reject with
 * {@link ClosedError} (their items were never accepted); receivers still take what is
 * buffered. It resolves `{ drained, remaining }` once the buffer is empty, or when the
 * deadline passes. Items still buffered at the deadline are not discarded: they stay
 * receivable, and `remaining` says how many there were, because the channel cannot know
 * whether a slow receiver is about to take them and dropping them would lose them in
 * silence. Once closed and empty, `receive()` rejects with `ClosedError` and
 * `receiveBatch()` resolves to `[]`.
 *
 * States: open → closing (`close()` called: no new items, receivers empty the buffer) →
 * closed (the buffer emptied, or the deadline passed).
 *
 * ```ts
 * const ch = new Channel<Row>({ capacity: 10_000 });
 * await ch.send(row);                        // waits while full
 * const rows = await ch.receiveBatch(500, 20);
 * await ch.close({ deadlineMs: 1_000 });     // receivers take what is left
 * ```
 */
import { ClosedError, QueueFullError } from '../errors.js';
import type { Clock, Timer } from './clock.js';
import { callSafely, onAbort } from './callbacks.js';
import {
  resolveChannelOptions,
  type ChannelOptions,
  type DropReason,
  type OverflowPolicy,
} from './channel-options.js';
import { resolveCloseOptions, type CloseOptions } from './close-options.js';
import { withinDeadline } from './deadline.js';
import { Deque } from './deque.js';
import { integerOption, numberOption } from './options.js';
import { WaitingRoom, type Waiter } from './waiting-room.js';

export type { ChannelOptions, DropReason, OverflowPolicy } from './channel-options.js';

/**
 * `open` → `closing` (`close()` called: no new items, receivers empty the buffer) →
 * `closed` (the buffer emptied, or the deadline passed); one way only.
 */
export type ChannelState = 'open' | 'closing' | 'closed';

const nextStates: Record<ChannelState, readonly ChannelState[]> = {
  open: ['closing'],
  closing: ['closed'],
  closed: [],
};

/** What `Channel.close()` resolves with. */
export interface ChannelCloseResult {
  /** Whether the buffer emptied before the deadline. */
  drained: boolean;
  /** Items still buffered when the deadline passed (they stay receivable); 0 if drained. */
  remaining: number;
}

/** What `Channel.stats()` reports: current sizes, and counts since creation. */
export interface ChannelStats {
  /** Items buffered now. */
  length: number;
  /** Most items buffered at once. */
  capacity: number;
  /** Senders waiting for room (overflow `wait`). */
  waitingSenders: number;
  /** Receivers waiting for items. */
  waitingReceivers: number;
  /** Items accepted into the buffer since creation. */
  accepted: number;
  /** Items handed to receivers since creation. */
  received: number;
  /** Items dropped by the overflow policy, by reason. */
  dropped: Record<DropReason, number>;
  /** Sends refused with `QueueFullError`. */
  rejected: number;
  /** No longer accepting items (`close()` was called). */
  closed: boolean;
}

/** Options of a call that may wait. */
export interface SignalOptions {
  /** Gives up the wait: the call rejects with the signal's reason, having done nothing. */
  signal?: AbortSignal;
}

interface Receiver<T> {
  readonly max: number;
  readonly maxWaitMs: number;
  resolve(items: T[]): void;
  reject(error: unknown): void;
  done: boolean;
  expired: boolean;
  timer?: Timer;
  cleanup?: () => void;
}

/**
 * A bounded async FIFO queue between producers and consumers. Each item is received once,
 * in the order accepted; the buffer never holds more than `capacity`, and what happens to
 * an item sent while it is full is the `overflow` policy: `wait`, `reject`
 * ({@link QueueFullError}), `dropOldest` or `dropNewest` (counted, handed to `onDiscard`).
 * `close()` stops accepting at once; receivers still take what is buffered.
 *
 * ```ts
 * const ch = new Channel<Row>({ capacity: 10_000 });
 * await ch.send(row);                        // waits while full
 * const rows = await ch.receiveBatch(500, 20);
 * await ch.close({ deadlineMs: 1_000 });     // receivers take what is left
 * ```
 */
export class Channel<T> implements AsyncIterable<T>, AsyncDisposable {
  /** Most items buffered at once. */
  readonly capacity: number;
  /** What `send` does when the buffer is full. */
  readonly overflow: OverflowPolicy;
  readonly #onDiscard: ((item: T, reason: DropReason) => void) | undefined;
  readonly #clock: Clock;
  readonly #buffer = new Deque<T>();
  /** Senders waiting for room (overflow `wait`). */
  readonly #senders = new WaitingRoom<T, boolean>(() => this.#notifyDrained());
  readonly #receivers = new Deque<Receiver<T>>();
  #state: ChannelState = 'open';
  #closing: Promise<ChannelCloseResult> | undefined = undefined;
  /** `drain()` callers waiting for an empty buffer and no waiting sender. */
  #drainWaiters: (() => void)[] = [];
  #accepted = 0;
  #received = 0;
  #rejected = 0;
  readonly #dropped: Record<DropReason, number> = { dropOldest: 0, dropNewest: 0 };

  constructor(options: ChannelOptions<T>) {
    const o = resolveChannelOptions(options);
    this.capacity = o.capacity;
    this.overflow = o.overflow;
    this.#onDiscard = o.onDiscard;
    this.#clock = o.clock;
  }

  /** Where the channel is in its lifecycle. */
  get state(): ChannelState {
    return this.#state;
  }

  /** No longer accepting items (`close()` was called). */
  get closed(): boolean {
    return this.#state !== 'open';
  }

  /** Items buffered now. */
  get length(): number {
    return this.#buffer.length;
  }

  /**
   * Sends one item. Resolves `true` once it is in the buffer, `false` if the `dropNewest`
   * policy dropped it. Rejects with `ClosedError` after `close()`, `QueueFullError` when
   * full under `reject`, or the signal's reason if aborted while waiting (the item is then
   * not sent).
   */
  send(item: T, options?: SignalOptions): Promise<boolean> {
    if (this.#state !== 'open') return Promise.reject(new ClosedError('channel is closed'));
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    if (this.#hasRoom()) {
      this.#accept(item);
      return Promise.resolve(true);
    }
    switch (this.overflow) {
      case 'reject':
        this.#rejected++;
        return Promise.reject(new QueueFullError('channel', this.capacity));
      case 'dropOldest':
      case 'dropNewest':
        return Promise.resolve(this.#overflowDrop(item));
      case 'wait':
        return this.#senders.enter(item, signal);
    }
  }

  /**
   * Sends without waiting: `true` if the item is in the buffer, `false` if it is not (full
   * under `wait` or `reject`, or dropped under `dropNewest`). Throws `ClosedError` after
   * `close()`.
   */
  trySend(item: T): boolean {
    if (this.#state !== 'open') throw new ClosedError('channel is closed');
    if (this.#hasRoom()) {
      this.#accept(item);
      return true;
    }
    if (this.overflow === 'dropOldest' || this.overflow === 'dropNewest') {
      return this.#overflowDrop(item);
    }
    return false;
  }

  /** The next item. Rejects with `ClosedError` once closed and drained. */
  async receive(options?: SignalOptions): Promise<T> {
    const batch = await this.receiveBatch(1, 0, options);
    if (batch.length === 0) throw new ClosedError('channel is closed and drained');
    return batch[0] as T;
  }

  /**
   * Up to `max` items: waits for a first item, then at most `maxWaitMs` for more, and
   * returns early once `max` items (or a full buffer) are available. Resolves `[]` once
   * closed and drained.
   */
  receiveBatch(max: number, maxWaitMs: number, options?: SignalOptions): Promise<T[]> {
    integerOption('max', max, undefined, 1);
    numberOption('maxWaitMs', maxWaitMs, undefined, 0);
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    return new Promise<T[]>((resolve, reject) => {
      const receiver: Receiver<T> = {
        max,
        maxWaitMs,
        resolve,
        reject,
        done: false,
        expired: false,
      };
      if (signal !== undefined) {
        receiver.cleanup = onAbort(signal, () => {
          this.#finishReceiver(receiver);
          reject(signal.reason);
          this.#pump();
        });
      }
      this.#receivers.push(receiver);
      this.#pump();
    });
  }

  /**
   * Resolves once the buffer is empty and no sender waits (at once if so already); the
   * channel keeps accepting meanwhile.
   */
  drain(): Promise<void> {
    if (this.#isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Stops accepting items at once (waiting senders reject with `ClosedError`); receivers
   * still take what is buffered. Resolves once the buffer is empty, or at `deadlineMs` with
   * how many items were left (they stay receivable). Idempotent: later calls return the
   * first call's result.
   */
  close(options?: CloseOptions): Promise<ChannelCloseResult> {
    if (this.#closing !== undefined) return this.#closing;
    const { deadlineMs } = resolveCloseOptions('Channel.close() options', options);
    this.#setState('closing');
    this.#senders.rejectAll(
      () => new ClosedError('channel was closed before this item could be sent'),
    );
    this.#pump();
    this.#closing = this.#finishClose(deadlineMs);
    return this.#closing;
  }

  /** `close()` with no deadline: waits until receivers have taken every buffered item. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Yields items until the channel is closed and drained. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const batch = await this.receiveBatch(1, 0);
      if (batch.length === 0) return;
      yield batch[0] as T;
    }
  }

  /** Sizes and counts, now. */
  stats(): ChannelStats {
    return {
      length: this.#buffer.length,
      capacity: this.capacity,
      waitingSenders: this.#senders.length,
      waitingReceivers: this.#receivers.length,
      accepted: this.#accepted,
      received: this.#received,
      dropped: { ...this.#dropped },
      rejected: this.#rejected,
      closed: this.#state !== 'open',
    };
  }

  #setState(next: ChannelState): void {
    if (!nextStates[this.#state].includes(next)) {
      throw new Error(`Channel cannot go from '${this.#state}' to '${next}'`);
    }
    this.#state = next;
  }

  async #finishClose(deadlineMs: number): Promise<ChannelCloseResult> {
    const drained = await withinDeadline(this.drain(), deadlineMs, this.#clock);
    this.#setState('closed');
    return { drained, remaining: drained ? 0 : this.#buffer.length };
  }

  #isDrained(): boolean {
    return this.#buffer.length === 0 && this.#senders.length === 0;
  }

  /** Resolves `drain()` callers once the channel is drained. */
  #notifyDrained(): void {
    if (this.#drainWaiters.length === 0 || !this.#isDrained()) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Room now, and nobody already waiting (no barging past waiting senders). */
  #hasRoom(): boolean {
    return this.#buffer.length < this.capacity && this.#senders.length === 0;
  }

  #accept(item: T): void {
    this.#buffer.push(item);
    this.#accepted++;
    this.#pump();
  }

  #overflowDrop(item: T): boolean {
    if (this.overflow === 'dropNewest') {
      this.#drop(item, 'dropNewest');
      return false;
    }
    this.#drop(this.#buffer.shift() as T, 'dropOldest');
    this.#accept(item);
    return true;
  }

  #drop(item: T, reason: DropReason): void {
    this.#dropped[reason]++;
    callSafely(this.#onDiscard, item, reason);
  }

  #finishReceiver(r: Receiver<T>): void {
    r.done = true;
    r.timer?.cancel();
    r.cleanup?.();
  }

  /** Moves waiting senders into room, serves receivers in order, then wakes `drain()`. */
  #pump(): void {
    this.#serve();
    if (this.#drainWaiters.length > 0) this.#notifyDrained();
  }

  #serve(): void {
    for (;;) {
      while (this.#buffer.length < this.capacity && this.#senders.length > 0) {
        const s = this.#senders.next() as Waiter<T, boolean>;
        this.#buffer.push(s.item);
        this.#accepted++;
        s.resolve(true);
      }
      const r = this.#receivers.peek();
      if (r === undefined) return;
      if (r.done) {
        this.#receivers.shift();
        continue;
      }
      const available = this.#buffer.length;
      if (available === 0) {
        if (this.#state === 'open') return;
        this.#receivers.shift();
        this.#finishReceiver(r);
        r.resolve([]);
        continue;
      }
      const ready =
        available >= r.max ||
        available >= this.capacity ||
        r.maxWaitMs === 0 ||
        r.expired ||
        this.#state !== 'open';
      if (!ready) {
        // Head of line: later receivers must not take items from the batch this one fills.
        r.timer ??= this.#clock.setTimer(() => {
          r.expired = true;
          this.#pump();
        }, r.maxWaitMs);
        return;
      }
      this.#receivers.shift();
      this.#finishReceiver(r);
      const n = Math.min(r.max, available);
      const items = new Array<T>(n);
      for (let i = 0; i < n; i++) items[i] = this.#buffer.shift() as T;
      this.#received += n;
      r.resolve(items);
    }
  }
}
