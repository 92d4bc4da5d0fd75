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
 * - `close()` rejects waiting senders with {@link ClosedError} (their items were never
 *   accepted) and lets receivers drain what is buffered; after that `receive()` rejects
 *   with `ClosedError` and `receiveBatch()` resolves to `[]`.
 *
 * ```ts
 * const ch = new Channel<Row>({ capacity: 10_000 });
 * await ch.send(row);                        // waits while full
 * const rows = await ch.receiveBatch(500, 20);
 * ```
 */
import { ClosedError, QueueFullError } from '../errors.js';
import { systemClock, type Clock, type Timer } from './clock.js';
import { callSafely, onAbort } from './callbacks.js';
import { Deque } from './deque.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  numberOption,
  objectOption,
} from './options.js';

/** What happens to an item sent while the channel is full. */
export type OverflowPolicy = 'wait' | 'reject' | 'dropOldest' | 'dropNewest';

/** Why an item was dropped. */
export type DropReason = 'dropOldest' | 'dropNewest';

export interface ChannelOptions<T> {
  /** Most items buffered at once. Integer >= 1. */
  capacity: number;
  /** @default 'wait' */
  overflow?: OverflowPolicy;
  /** Called with every dropped item. An error it throws is rethrown asynchronously. */
  onDiscard?: (item: T, reason: DropReason) => void;
  /** @default systemClock */
  clock?: Clock;
}

export interface ChannelStats {
  /** Items buffered now. */
  length: number;
  capacity: number;
  /** Senders waiting for room (overflow `wait`). */
  waitingSenders: number;
  waitingReceivers: number;
  /** Items accepted into the buffer since creation. */
  accepted: number;
  /** Items handed to receivers since creation. */
  received: number;
  /** Items dropped by the overflow policy, by reason. */
  dropped: Record<DropReason, number>;
  /** Sends refused with `QueueFullError`. */
  rejected: number;
  closed: boolean;
}

export interface SignalOptions {
  signal?: AbortSignal;
}

interface Sender<T> {
  readonly item: T;
  resolve(accepted: boolean): void;
  reject(error: unknown): void;
  done: boolean;
  cleanup?: () => void;
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

export class Channel<T> implements AsyncIterable<T> {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  readonly #onDiscard: ((item: T, reason: DropReason) => void) | undefined;
  readonly #clock: Clock;
  readonly #buffer = new Deque<T>();
  readonly #senders = new Deque<Sender<T>>();
  /** Senders in `#senders` still waiting (aborted ones are removed lazily). */
  #sendersLive = 0;
  readonly #receivers = new Deque<Receiver<T>>();
  #closed = false;
  #accepted = 0;
  #received = 0;
  #rejected = 0;
  readonly #dropped: Record<DropReason, number> = { dropOldest: 0, dropNewest: 0 };

  constructor(options: ChannelOptions<T>) {
    const o = objectOption('options', options);
    this.capacity = integerOption('capacity', o.capacity, undefined, 1);
    this.overflow = choiceOption('overflow', o.overflow, 'wait', [
      'wait',
      'reject',
      'dropOldest',
      'dropNewest',
    ]);
    this.#onDiscard =
      o.onDiscard === undefined
        ? undefined
        : functionOption<(item: T, reason: DropReason) => void>('onDiscard', o.onDiscard);
    this.#clock = (o.clock as Clock | undefined) ?? systemClock;
  }

  get closed(): boolean {
    return this.#closed;
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
    if (this.#closed) return Promise.reject(new ClosedError('channel is closed'));
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
        return this.#waitToSend(item, signal);
    }
  }

  /**
   * Sends without waiting: `true` if the item is in the buffer, `false` if it is not (full
   * under `wait` or `reject`, or dropped under `dropNewest`). Throws `ClosedError` after
   * `close()`.
   */
  trySend(item: T): boolean {
    if (this.#closed) throw new ClosedError('channel is closed');
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

  /** Stops accepting items; receivers still get what is buffered. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sendersLive = 0;
    for (let s = this.#senders.shift(); s !== undefined; s = this.#senders.shift()) {
      if (s.done) continue;
      s.done = true;
      s.cleanup?.();
      s.reject(new ClosedError('channel was closed before this item could be sent'));
    }
    this.#pump();
  }

  /** Yields items until the channel is closed and drained. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const batch = await this.receiveBatch(1, 0);
      if (batch.length === 0) return;
      yield batch[0] as T;
    }
  }

  stats(): ChannelStats {
    return {
      length: this.#buffer.length,
      capacity: this.capacity,
      waitingSenders: this.#sendersLive,
      waitingReceivers: this.#receivers.length,
      accepted: this.#accepted,
      received: this.#received,
      dropped: { ...this.#dropped },
      rejected: this.#rejected,
      closed: this.#closed,
    };
  }

  /** Room now, and nobody already waiting (no barging past waiting senders). */
  #hasRoom(): boolean {
    return this.#buffer.length < this.capacity && this.#sendersLive === 0;
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

  #waitToSend(item: T, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const sender: Sender<T> = { item, resolve, reject, done: false };
      if (signal !== undefined) {
        sender.cleanup = onAbort(signal, () => {
          if (sender.done) return;
          sender.done = true;
          this.#sendersLive--;
          reject(signal.reason);
        });
      }
      this.#senders.push(sender);
      this.#sendersLive++;
    });
  }

  #finishReceiver(r: Receiver<T>): void {
    r.done = true;
    r.timer?.cancel();
    r.cleanup?.();
  }

  /** Moves waiting senders into room and serves receivers in order. */
  #pump(): void {
    for (;;) {
      while (this.#buffer.length < this.capacity && this.#senders.length > 0) {
        const s = this.#senders.shift() as Sender<T>;
        if (s.done) continue;
        s.done = true;
        this.#sendersLive--;
        s.cleanup?.();
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
        if (!this.#closed) return;
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
        this.#closed;
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
