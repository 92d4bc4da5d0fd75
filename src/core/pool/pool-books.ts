/**
 * PoolBooks: the pool's accounting, and the waiters for "nothing left to do".
 *
 * Invariant (checked by the tests after every step): every accepted job is, at any moment,
 * exactly one of completed, failed, discarded, queued (in any queue or the rate-limit delay
 * line) or in flight; and in flight never exceeds the worker count.
 */
import type { QueueTally } from './job-queue.js';

export class PoolBooks implements QueueTally {
  queued = 0;
  inFlight = 0;
  accepted = 0;
  completed = 0;
  failed = 0;
  #idleWaiters: (() => void)[] = [];

  /** Nothing queued or in flight. */
  get idle(): boolean {
    return this.inFlight === 0 && this.queued === 0;
  }

  /** Resolves once nothing is queued or in flight: at once if so already. */
  whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Wakes the idle waiters if nothing is left; call after anything leaves the books. */
  checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.idle) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
