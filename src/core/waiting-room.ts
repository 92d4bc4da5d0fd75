/**
 * WaitingRoom: callers waiting for room in a bounded queue, in arrival order — the Batcher's
 * submits beyond `maxPending`, the Channel's senders while it is full (overflow `wait`).
 *
 * Guarantees: waiters leave in the order they came; each leaves exactly once, one of three
 * ways: admitted (`next()`: the owner takes its item and settles it), aborted (its signal
 * fired: it rejects with the signal's reason and its item is never taken), or turned away
 * (`rejectAll`, at a close). An aborted waiter is marked and skipped later rather than
 * searched for, so an abort costs no scan of the queue.
 */
import { onAbort } from './callbacks.js';
import { Deque } from './deque.js';

/** A caller waiting for room; `resolve` settles it once its item is taken. */
export interface Waiter<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  cancelled: boolean;
  cleanup: (() => void) | undefined;
}

export class WaitingRoom<I, O> {
  /** In arrival order; may hold aborted waiters, skipped when reached. */
  readonly #queue = new Deque<Waiter<I, O>>();
  /** Waiters not aborted. */
  #live = 0;
  /** Called after a waiter left by its signal (so the owner can count it and re-check idleness). */
  readonly #onAborted: () => void;

  constructor(onAborted: () => void) {
    this.#onAborted = onAborted;
  }

  /** Waiters still waiting. */
  get length(): number {
    return this.#live;
  }

  /** Waits for room; the promise settles as the owner settles the admitted waiter. */
  enter(item: I, signal: AbortSignal | undefined): Promise<O> {
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
          this.#live--;
          reject(signal.reason);
          this.#onAborted();
        });
      }
      this.#queue.push(waiter);
      this.#live++;
    });
  }

  /** Takes the first waiter still waiting (its abort listener removed), if any. */
  next(): Waiter<I, O> | undefined {
    for (let w = this.#queue.shift(); w !== undefined; w = this.#queue.shift()) {
      if (w.cancelled) continue;
      this.#live--;
      w.cleanup?.();
      return w;
    }
    return undefined;
  }

  /** Rejects every waiter still waiting with `error()`; returns how many. */
  rejectAll(error: () => unknown): number {
    let rejected = 0;
    for (let w = this.next(); w !== undefined; w = this.next()) {
      w.reject(error());
      rejected++;
    }
    return rejected;
  }
}
