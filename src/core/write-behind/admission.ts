/**
 * Admission: who may append now. A write takes room before it appends and gives it back
 * when its append settles; while the backlog is full, writers wait (or are refused under
 * `overflow: 'reject'`) until the pipeline frees room and wakes them.
 *
 * The room check and the taking happen in one synchronous step, so concurrent writers
 * cannot all pass one free slot.
 */
import { QueueFullError } from '../../errors.js';

/** Which bound is reached, if any. */
export type Fullness = 'entries' | 'bytes' | undefined;

export class Admission {
  /** Entries of the appends let in and not yet settled. */
  #appending = 0;
  /** Their payload bytes, where the source holds them in memory (memory mode). */
  #appendingBytes = 0;
  #roomWaiters: (() => void)[] = [];
  #settledWaiters: (() => void)[] = [];

  constructor(
    private readonly overflow: 'wait' | 'reject',
    private readonly limits: { readonly maxBacklog: number; readonly maxBacklogBytes: number },
  ) {}

  get appending(): number {
    return this.#appending;
  }

  /**
   * Waits for room for `entries` (and `bytes` held in memory), then takes it.
   * `full(appending, bytes, alone)` says which bound is reached with that many entries and
   * bytes in flight (`alone`: nothing else is); `check()` throws when the pipeline no longer
   * accepts (closed, failed) after a wait.
   */
  async enter(
    full: (appending: number, bytes: number, alone: boolean) => Fullness,
    check: () => void,
    entries = 1,
    bytes = 0,
  ): Promise<void> {
    const reach = (): Fullness =>
      full(this.#appending + entries - 1, this.#appendingBytes + bytes, this.#appending === 0);
    for (let reached = reach(); reached !== undefined;) {
      if (this.overflow === 'reject') {
        throw reached === 'entries'
          ? new QueueFullError('write-behind backlog', this.limits.maxBacklog)
          : new QueueFullError('write-behind backlog bytes', this.limits.maxBacklogBytes);
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      check();
      reached = reach();
    }
    this.#appending += entries;
    this.#appendingBytes += bytes;
  }

  /** An append of `entries` (and `bytes`) let in by `enter` settled. */
  leave(entries = 1, bytes = 0): void {
    this.#appending -= entries;
    this.#appendingBytes -= bytes;
    if (this.#appending === 0) for (const settled of this.#settledWaiters.splice(0)) settled();
  }

  /** Room may have been freed (or the pipeline stopped): every waiting writer looks again. */
  wake(): void {
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  /** Resolves once no append is in flight (at once if none is). */
  settled(): Promise<void> {
    if (this.#appending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }
}
