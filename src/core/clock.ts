/**
 * Clock: the only way sluice reads time or waits for it.
 *
 * Every component takes a `clock` option so tests can drive time by hand instead of
 * sleeping. {@link systemClock} is the default; {@link ManualClock} is the in-memory
 * implementation (time moves only when `advance()` is called).
 *
 * ```ts
 * const clock = new ManualClock();
 * const batcher = new Batcher({ maxSize: 10, maxDelayMs: 50, flush, clock });
 * void batcher.submit(1);
 * await clock.advance(50); // the timer fires; the batch of one is flushed
 * ```
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { onAbort } from './callbacks.js';

/** A pending timer; `cancel()` is idempotent. */
export interface Timer {
  /** Stops the timer if it has not fired; does nothing otherwise. */
  cancel(): void;
}

/** Options of `Clock.setTimer()`. */
export interface TimerOptions {
  /**
   * Whether the timer alone keeps the process alive. Timers that guard caller-visible work
   * (a batch with waiting callers) keep it alive; background probes do not.
   * @default true
   */
  keepAlive?: boolean;
}

/**
 * The source of time and timers every component takes as its `clock` option: systemClock
 * by default, a ManualClock in tests to drive time by hand instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since an arbitrary, fixed origin; never goes backwards. */
  now(): number;
  /** Calls `callback` once, `delayMs` from now. */
  setTimer(callback: () => void, delayMs: number, options?: TimerOptions): Timer;
}

/**
 * The real clock: `performance.now()` and Node's timers. A delay of 0 fires on the next turn
 * of the event loop (`setImmediate`), not after the 1 ms a zero `setTimeout` takes.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(callback, delayMs, options) {
    if (delayMs <= 0) {
      const immediate = setImmediate(callback);
      if (options?.keepAlive === false) immediate.unref();
      return { cancel: () => clearImmediate(immediate) };
    }
    const handle = setTimeout(callback, delayMs);
    if (options?.keepAlive === false) handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers fire in due order (ties in creation order),
 * each with `now()` equal to its due time; between timers, pending promise callbacks run,
 * so code awaiting inside a timer callback makes progress as it would in real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): Timer {
    const timer: ManualTimer = {
      due: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      callback,
      cancelled: false,
    };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way (including
   * timers those callbacks create), and lets promise callbacks settle after each one.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#nextDue(target);
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.due;
      next.callback();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Fires whatever is due now without moving time. */
  async tick(): Promise<void> {
    await this.advance(0);
  }

  #nextDue(limit: number): ManualTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.due > limit) continue;
      if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) {
        best = t;
      }
    }
    return best;
  }
}

/** Lets every queued promise callback (and I/O callbacks already due) run. */
async function settle(): Promise<void> {
  await nextMacrotask();
  await nextMacrotask();
}

/**
 * Resolves after `delayMs` on `clock`; rejects with `signal.reason` if the signal aborts
 * first.
 */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const stop =
      signal === undefined
        ? undefined
        : onAbort(signal, () => {
            timer.cancel();
            reject(signal.reason);
          });
    const timer = clock.setTimer(() => {
      stop?.();
      resolve();
    }, delayMs);
  });
}
