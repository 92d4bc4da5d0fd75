/**
 * Discard: which jobs the pool drops, and how every drop is reported.
 *
 * Reasons: `loadshed` (a queue at its limit: the oldest or newest job of the lowest priority
 * makes room), `ttl` (a job waited past its ttl: dropped before it starts, never after),
 * `rateLimited` (over the rate limit in `reject` mode) and `shutdown` (still queued when
 * `close()`'s deadline passed). Guarantee: every discard is counted, reaches `onDiscard`
 * (a handler that throws becomes a process warning, never breaks the pool), is announced
 * to `report` (the pool's `job:discarded` event) and rejects the job's call with
 * {@link DiscardedError}. Overflow is a policy, never a surprise.
 */
import { DiscardedError, type DiscardReason } from '../../errors.js';
import { callSafely } from '../callbacks.js';
import type { Job, PoolJob, PoolKey } from './job.js';
import type { JobQueue } from './job-queue.js';

/** Queue bound: on the shared queue in queueing modes, per worker otherwise. */
export interface QueueOptions {
  /** Jobs that may wait; 0: a job runs at once or not at all. @default no limit */
  limit?: number;
  /** Which job of the lowest priority goes when the queue is full. @default 'newest' */
  discard?: 'oldest' | 'newest';
}

/**
 * Told of every job dropped before it ran, with why; a handler that throws becomes a process
 * warning and never breaks the pool.
 */
export type DiscardHandler<K extends PoolKey, M> = (
  job: { key: K; msg: M },
  reason: DiscardReason,
) => void;

/** Whether a job fits under a queue limit, and which job goes when it does not. */
export class LoadShedding {
  constructor(
    readonly limit: number,
    readonly which: 'oldest' | 'newest',
  ) {}

  /**
   * The job to shed so that `incoming` can join the full `queue`: a queued job (taken out of
   * the queue) when one of a lower priority, or an older one under `'oldest'`, can go; else
   * `incoming` itself.
   */
  victim<J extends PoolJob>(queue: JobQueue<J>, incoming: J): J {
    const lowest = queue.lowestLevel();
    const incomingGoes =
      lowest < 0 ||
      incoming.level < lowest ||
      (incoming.level === lowest && this.which === 'newest');
    return incomingGoes ? incoming : (queue.shed(this.which) as J);
  }
}

/** Counts and reports discards; one per pool. */
export class Discards<K extends PoolKey, M> {
  readonly #counts: Record<DiscardReason, number> = {
    ttl: 0,
    loadshed: 0,
    rateLimited: 0,
    shutdown: 0,
  };

  constructor(
    private readonly onDiscard: DiscardHandler<K, M> | undefined,
    private readonly report: (key: string, reason: DiscardReason) => void,
  ) {}

  /** Ends `job` as discarded; `detail` says why, in its caller's {@link DiscardedError}. */
  discard<R>(job: Job<K, M, R>, reason: DiscardReason, detail: string): void {
    this.#counts[reason]++;
    callSafely(this.onDiscard, { key: job.key, msg: job.msg }, reason);
    this.report(job.skey, reason);
    job.reject?.(new DiscardedError(reason, detail));
  }

  counts(): Record<DiscardReason, number> {
    return { ...this.#counts };
  }

  total(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }
}
