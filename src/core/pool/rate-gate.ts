/**
 * RateGate: the pool's rate limit at admission, with its delay line.
 *
 * Under the limit a job passes at once. Over it, in `reject` mode the job is refused (the
 * pool discards it as `rateLimited`); in `delay` mode it waits in a FIFO line and is let
 * through, in arrival order, as credit comes back (one timer at a time, on the pool's
 * clock). A job never overtakes the line: while anyone waits, a new job joins it. Waiting
 * jobs count as queued in the pool's {@link QueueTally}.
 */
import type { Clock, Timer } from '../clock.js';
import { Deque } from '../deque.js';
import type { QueueTally } from './job-queue.js';
import { RateLimiter } from './rate-limiter.js';

/** The rate limit, checked and with its defaults filled in. */
export interface ResolvedRateLimit {
  limit: number;
  intervalMs: number;
  burst: number;
  mode: 'reject' | 'delay';
}

export class RateGate<J> {
  readonly #limiter: RateLimiter;
  readonly #mode: 'reject' | 'delay';
  readonly #line = new Deque<J>();
  #timer: Timer | undefined;
  #stopped = false;

  constructor(
    rate: ResolvedRateLimit,
    private readonly clock: Clock,
    private readonly tally: QueueTally,
    /** Called with each delayed job as credit lets it through. */
    private readonly release: (job: J) => void,
  ) {
    this.#limiter = new RateLimiter(rate.limit, rate.intervalMs, rate.burst, clock);
    this.#mode = rate.mode;
  }

  /** `'pass'`: go on now; `'delayed'`: it waits in line; `'refused'`: over the limit. */
  admit(job: J): 'pass' | 'delayed' | 'refused' {
    if (this.#line.length === 0 && this.#limiter.tryTake()) return 'pass';
    if (this.#mode === 'reject') return 'refused';
    this.#line.push(job);
    this.tally.queued++;
    this.#arm();
    return 'delayed';
  }

  /** Takes every job still waiting and lets no more through. */
  stop(): J[] {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.tally.queued -= this.#line.length;
    return this.#line.drain();
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = this.clock.setTimer(() => {
      this.#timer = undefined;
      while (this.#line.length > 0 && !this.#stopped && this.#limiter.tryTake()) {
        this.tally.queued--;
        this.release(this.#line.shift() as J);
      }
      if (this.#line.length > 0) this.#arm();
    }, this.#limiter.waitMs());
  }
}
