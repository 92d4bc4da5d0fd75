/**
 * Admission: who may append now. A write takes room before it appends and gives it back
 * when its append settles; while the backlog is full, writers wait in line (or are refused
 * under `overflow: 'reject'`) until the pipeline frees room and wakes them.
 *
 * The room check and the taking happen in one synchronous step, so concurrent writers
 * cannot all pass one free slot. Waiting writers are let in first come, first served, and
 * only as many as the freed room holds: a wake costs the writers it lets in, not every
 * writer in line (under overload thousands wait), and a large write at the front is not
 * passed forever by small ones behind it.
 */
import { QueueFullError } from '../../errors.js';
import { Deque } from '../deque.js';

/** Which bound is reached, if any. */
export type Fullness = 'entries' | 'bytes' | undefined;

export interface AdmissionOptions {
  readonly overflow: 'wait' | 'reject';
  readonly maxBacklog: number;
  readonly maxBacklogBytes: number;
  /**
   * Which bound is reached with `appending` entries and `bytes` in flight (`alone`: nothing
   * else is in flight).
   */
  readonly full: (appending: number, bytes: number, alone: boolean) => Fullness;
  /** Throws when the pipeline no longer accepts (closed, failed): waiting writers get it. */
  readonly check: () => void;
}

interface Waiter {
  readonly entries: number;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class Admission {
  readonly #o: AdmissionOptions;
  /** Entries of the appends let in and not yet settled. */
  #appending = 0;
  /** Their payload bytes, where the source holds them in memory (memory mode). */
  #appendingBytes = 0;
  readonly #line = new Deque<Waiter>();
  #settledWaiters: (() => void)[] = [];

  constructor(options: AdmissionOptions) {
    this.#o = options;
  }

  get appending(): number {
    return this.#appending;
  }

  /** Writers waiting in line for room. */
  get waiting(): number {
    return this.#line.length;
  }

  /**
   * Takes room for `entries` (and `bytes` held in memory) at once when there is room and
   * nobody waits before it, and returns `undefined`: no promise on the common path.
   * Otherwise returns a promise that resolves once the writer was let in (the room taken)
   * or rejects with what `check` throws; under `overflow: 'reject'` it throws
   * QueueFullError instead.
   */
  enter(entries = 1, bytes = 0): Promise<void> | undefined {
    const reached = this.#reach(entries, bytes);
    if (reached === undefined && this.#line.length === 0) {
      this.#take(entries, bytes);
      return undefined;
    }
    if (this.#o.overflow === 'reject') {
      throw reached === 'bytes'
        ? new QueueFullError('write-behind backlog bytes', this.#o.maxBacklogBytes)
        : new QueueFullError('write-behind backlog', this.#o.maxBacklog);
    }
    return new Promise<void>((resolve, reject) =>
      this.#line.push({ entries, bytes, resolve, reject }),
    );
  }

  /** The source holds `bytes` of an append let in by `enter` from now on: not counted twice. */
  handedOver(bytes: number): void {
    this.#appendingBytes -= bytes;
  }

  /**
   * An append of `entries` let in by `enter` settled. Its room may be free again (a known id
   * or a failed append adds nothing to the backlog), so the line looks again.
   */
  leave(entries = 1): void {
    this.#appending -= entries;
    if (this.#appending === 0) for (const settled of this.#settledWaiters.splice(0)) settled();
    this.wake();
  }

  /**
   * Room may have been freed (or the pipeline stopped): lets in, in order, the waiting
   * writers the room now holds; if the pipeline no longer accepts, every one of them
   * rejects with why.
   */
  wake(): void {
    if (this.#line.length === 0) return;
    try {
      this.#o.check();
    } catch (error) {
      for (let w = this.#line.shift(); w !== undefined; w = this.#line.shift()) w.reject(error);
      return;
    }
    for (let w = this.#line.peek(); w !== undefined; w = this.#line.peek()) {
      if (this.#reach(w.entries, w.bytes) !== undefined) break;
      this.#line.shift();
      this.#take(w.entries, w.bytes);
      w.resolve();
    }
  }

  /** Resolves once no append is in flight (at once if none is). */
  settled(): Promise<void> {
    if (this.#appending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  #reach(entries: number, bytes: number): Fullness {
    return this.#o.full(
      this.#appending + entries - 1,
      this.#appendingBytes + bytes,
      this.#appending === 0,
    );
  }

  #take(entries: number, bytes: number): void {
    this.#appending += entries;
    this.#appendingBytes += bytes;
  }
}
