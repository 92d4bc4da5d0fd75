/**
 * The wake-up list behind `waitForAppend`: readers park here instead of polling, and the
 * journal calls `notify(head)` after each durable append.
 */
import { onAbort } from '../core/callbacks.js';

interface Waiter {
  readonly after: number;
  readonly resolve: () => void;
  cleanup: () => void;
}

/**
 * The wake-up list behind `Journal.waitForAppend`: readers park here instead of polling;
 * the journal calls `notify(head)` after each durable append, and `releaseAll()` on close or
 * when it cannot read its head.
 */
export class AppendWaiters {
  #waiters = new Set<Waiter>();

  /** Readers parked now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Resolves once `notify` reports a head past `after`; rejects with the signal's reason. */
  wait(after: number, head: number, signal: AbortSignal | undefined): Promise<void> {
    if (head > after) return Promise.resolve();
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { after, resolve, cleanup: () => {} };
      if (signal !== undefined) {
        waiter.cleanup = onAbort(signal, () => {
          this.#waiters.delete(waiter);
          reject(signal.reason);
        });
      }
      this.#waiters.add(waiter);
    });
  }

  /** The head is now `head`: wakes every reader whose `after` is below it. */
  notify(head: number): void {
    for (const w of this.#waiters) {
      if (head <= w.after) continue;
      this.#waiters.delete(w);
      w.cleanup();
      w.resolve();
    }
  }

  /**
   * Wakes everyone: on close, or when the journal cannot read its head; readers then read,
   * and see the journal closed or the failure.
   */
  releaseAll(): void {
    for (const w of this.#waiters) {
      w.cleanup();
      w.resolve();
    }
    this.#waiters.clear();
  }
}
