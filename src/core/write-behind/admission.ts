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
   * Takes room for `entries` (and `bytes` held in memory) at once when there is room, and
   * returns `undefined`: no promise on the common path. Otherwise returns a promise that
   * waits for room, then takes it; under `overflow: 'reject'` it throws QueueFullError
   * instead. `full(appending, bytes, alone)` says which bound is reached with that many
   * entries and bytes in flight (`alone`: nothing else is); `check()` throws when the
   * pipeline no longer accepts (closed, failed) after a wait.
   */
  enter(
    full: (appending: number, bytes: number, alone: boolean) => Fullness,
    check: () => void,
    entries = 1,
    bytes = 0,
  ): Promise<void> | undefined {
    const reached = this.#reach(full, entries, bytes);
    if (reached === undefined) {
      this.#take(entries, bytes);
      return undefined;
    }
    this.#refuse(reached);
    return this.#wait(full, check, entries, bytes);
  }

  async #wait(
    full: (appending: number, bytes: number, alone: boolean) => Fullness,
    check: () => void,
    entries: number,
    bytes: number,
  ): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      check();
      const reached = this.#reach(full, entries, bytes);
      if (reached === undefined) break;
      this.#refuse(reached);
    }
    this.#take(entries, bytes);
  }

  #reach(
    full: (appending: number, bytes: number, alone: boolean) => Fullness,
    entries: number,
    bytes: number,
  ): Fullness {
    return full(this.#appending + entries - 1, this.#appendingBytes + bytes, this.#appending === 0);
  }

  /** Under `overflow: 'reject'`, a reached bound is refused rather than waited for. */
  #refuse(reached: 'entries' | 'bytes'): void {
    if (this.overflow !== 'reject') return;
    throw reached === 'entries'
      ? new QueueFullError('write-behind backlog', this.limits.maxBacklog)
      : new QueueFullError('write-behind backlog bytes', this.limits.maxBacklogBytes);
  }

  #take(entries: number, bytes: number): void {
    this.#appending += entries;
    this.#appendingBytes += bytes;
  }

  /** The source holds `bytes` of an append let in by `enter` from now on: not counted twice. */
  handedOver(bytes: number): void {
    this.#appendingBytes -= bytes;
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
