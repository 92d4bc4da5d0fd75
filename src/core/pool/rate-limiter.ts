/**
 * RateLimiter: a leaky bucket. It holds at most `burst` jobs' worth of credit and refills at
 * `limit` per `intervalMs`; each admitted job takes one. Over the limit, a job is either
 * refused (`mode: 'reject'`) or waits for credit (`mode: 'delay'`, in arrival order).
 */
import type { Clock } from '../clock.js';

export interface RateLimit {
  /** Jobs admitted per `intervalMs` on average. Integer >= 1. */
  limit: number;
  /** @default 1000 */
  intervalMs?: number;
  /** Jobs admitted at once after a quiet period. @default limit */
  burst?: number;
  /** What happens to a job over the limit. @default 'reject' */
  mode?: 'reject' | 'delay';
}

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
    if (this.#credit < 1) return false;
    this.#credit -= 1;
    return true;
  }

  /** Milliseconds until one credit is available (0 if it is now). */
  waitMs(): number {
    this.#refill();
    return this.#credit >= 1 ? 0 : (1 - this.#credit) / this.#perMs;
  }

  #refill(): void {
    const now = this.clock.now();
    this.#credit = Math.min(this.#burst, this.#credit + (now - this.#at) * this.#perMs);
    this.#at = now;
  }
}
