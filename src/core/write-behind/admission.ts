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
   * Waits for room for `entries`, then takes it. `full(appending)` says which bound is
   * reached with that many entries in flight; `check()` throws when the pipeline no longer
   * accepts (closed, failed) after a wait.
   */
  async enter(
    full: (appending: number) => Fullness,
    check: () => void,
    entries = 1,
  ): Promise<void> {
    for (let reached = full(this.#appending + entries - 1); reached !== undefined;) {
      if (this.overflow === 'reject') {
        throw reached === 'entries'
          ? new QueueFullError('write-behind backlog', this.limits.maxBacklog)
          : new QueueFullError('write-behind backlog bytes', this.limits.maxBacklogBytes);
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      check();
      reached = full(this.#appending + entries - 1);
    }
    this.#appending += entries;
  }

  /** An append of `entries` let in by `enter` settled. */
  leave(entries = 1): void {
    this.#appending -= entries;
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
