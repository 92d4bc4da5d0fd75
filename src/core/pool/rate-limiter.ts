/**
 * RateLimiter: a leaky bucket. It holds at most `burst` jobs' worth of credit and refills at
 * `limit` per `intervalMs`; each admitted job takes one. Over the limit, a job is either
 * refused (`mode: 'reject'`) or waits for credit (`mode: 'delay'`, in arrival order).
 */
import type { Clock } from '../clock.js';

/**
 * A WorkerPool's rate limit, a leaky bucket: `burst` jobs of credit, refilled at `limit` per
 * `intervalMs`. A job over it is discarded (`rateLimited`) or waits, per `mode`.
 */
export interface RateLimit {
  /** Jobs admitted per `intervalMs` on average. Integer >= 1. */
  limit: number;
  /** The period `limit` is counted over, in ms. @default 1000 */
  intervalMs?: number;
  /** Jobs admitted at once after a quiet period. @default limit */
  burst?: number;
  /** What happens to a job over the limit. @default 'reject' */
  mode?: 'reject' | 'delay';
}

const EPSILON = 1e-9;

export class RateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  #credit: number;
  #at: number;

  constructor(
    limit: number,
    intervalMs: number,
    burst: number,
    private readonly clock: Clock,
  ) {
    this.#perMs = limit / intervalMs;
    this.#burst = burst;
    this.#credit = burst;
    this.#at = clock.now();
  }

  /** Takes one credit if there is one. */
  tryTake(): boolean {
    this.#refill();
    // The tolerance absorbs floating-point dust, so a credit due at a whole millisecond is there.
    if (this.#credit < 1 - EPSILON) return false;
    this.#credit = Math.max(0, this.#credit - 1);
    return true;
  }

  /** Whole milliseconds until one credit is available (0 if it is now). */
  waitMs(): number {
    this.#refill();
    return this.#credit >= 1 - EPSILON ? 0 : Math.ceil((1 - this.#credit) / this.#perMs);
  }

  #refill(): void {
    const now = this.clock.now();
    this.#credit = Math.min(this.#burst, this.#credit + (now - this.#at) * this.#perMs);
    this.#at = now;
  }
}
