/**
 * WorkerPool: a fixed set of serial workers fed by key-aware routing, supervised.
 *
 * The facade that composes the pool's parts; each concept has its file:
 * - `job.ts`: what a job is, and the checks on `cast`/`call` input ({@link InputError});
 * - `dispatcher.ts`: a job from admission to a worker and to its end; the workers in rotation;
 * - `routing.ts`: which worker a job goes to, which mode to choose when, key ownership;
 * - `job-queue.ts`: queues by priority that keep each key's order;
 * - `discard.ts`: queue limits, which job is shed, how every discard is reported; ttl;
 * - `rate-gate.ts`: the rate limit and its delay line;
 * - `worker.ts`, `in-process-runner.ts`, `thread-worker.ts`: a worker and what runs its jobs;
 * - `pool-books.ts`, `pool-events.ts`: the counts `stats()` shows, the events announced;
 * - `supervision.ts`: crashed or stuck workers replaced, the restart budget;
 * - `pool-options.ts`: the options and their one resolver.
 *
 * Accounting: every job given to `cast`/`call` on an open pool is accepted and ends as
 * completed, failed or discarded; `stats()` shows the counts, and in flight never exceeds
 * the worker count. A handler that throws fails that job only (`call` rejects with it).
 *
 * States (asserted): `open → closing → closed`, and `open | closing → failed` when the
 * restart budget is spent (every waiting caller then rejects with
 * {@link RestartBudgetExhaustedError}; `stats().failure` and a `pool:failed` event say why).
 *
 * Lifecycle: `drain()` resolves once nothing is queued or in flight and keeps accepting;
 * `close({ deadlineMs })` stops accepting at once ({@link ClosedError}), lets queued and
 * running jobs finish until the deadline, then discards what is still queued (reason
 * `shutdown`), abandons what still runs (its caller gets {@link TimeoutError}) and stops
 * the workers. Idempotent.
 *
 * ```ts
 * const pool = new WorkerPool<string, Row, void>({
 *   workers: 4,
 *   routing: 'keyPersistent',
 *   handler: (row) => db.write(row),
 * });
 * pool.cast({ key: row.account, msg: row });
 * await pool.call({ key: 'acct-7', msg: row });
 * await pool.close({ deadlineMs: 5_000 });
 * ```
 */
import { ClosedError, TimeoutError, type DiscardReason } from '../../errors.js';
import type { Clock } from '../clock.js';
import { withinDeadline } from '../deadline.js';
import { Emitter } from '../events.js';
import { integerOption } from '../options.js';
import { RestartBudget } from '../restart-budget.js';
import { Discards, LoadShedding } from './discard.js';
import { Dispatcher } from './dispatcher.js';
import { inProcessRunners } from './in-process-runner.js';
import { createJob, type Job, type JobSpec, type PoolHandler, type PoolKey } from './job.js';
import { PoolBooks } from './pool-books.js';
import type { PoolEvents } from './pool-events.js';
import { resolveCloseOptions } from '../close-options.js';
import { resolvePoolOptions, type WorkerPoolOptions } from './pool-options.js';
import { RateGate } from './rate-gate.js';
import { Router, type RoutingKind } from './routing.js';
import { Supervisor, type SupervisedPool } from './supervision.js';
import { threadRunners } from './thread-worker.js';
import type { PoolWorker, WorkerStats } from './worker.js';

export type { JobContext, JobSpec, PoolHandler, PoolKey } from './job.js';
export type { PoolEvents } from './pool-events.js';
export type { WorkerPoolOptions } from './pool-options.js';
export type { DeadManSwitch } from './supervision.js';
export type { WorkerState, WorkerStats } from './worker.js';

/** A pool's lifecycle: `open → closing → closed`, or `failed` once the restart budget is spent. */
export type PoolState = 'open' | 'closing' | 'closed' | 'failed';

const transitions: Record<PoolState, readonly PoolState[]> = {
  open: ['closing', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

/**
 * What `WorkerPool.stats()` reports. Every accepted job is, at any moment, exactly one of
 * queued, in flight, completed, failed or discarded.
 */
export interface PoolStats {
  /** One entry per live worker, retiring ones included. */
  workers: WorkerStats[];
  /** Jobs waiting (all queues, and rate-limit delays). */
  queued: number;
  /** Jobs running now; never more than the worker count. */
  inFlight: number;
  /** Idle workers. */
  available: number;
  /** Jobs accepted by `cast`/`call` since the pool was made. */
  accepted: number;
  /** Jobs whose handler returned. */
  completed: number;
  /** Jobs that ended in an error: the handler threw, or the job was crashed under or abandoned. */
  failed: number;
  /** Jobs dropped before they ran, by reason. */
  discarded: Record<DiscardReason, number>;
  /** The pool's lifecycle state. */
  state: PoolState;
  /** Why the pool failed, when it did. */
  failure: string | undefined;
}

/** What `WorkerPool.close()` resolves with. */
export interface PoolCloseResult {
  /** Whether everything accepted finished before the deadline. */
  drained: boolean;
  /** Jobs still queued at the deadline, discarded with reason `shutdown`. */
  discarded: number;
  /** Jobs still running at the deadline, given up (their callers got `TimeoutError`). */
  abandoned: number;
}

type Worker<K extends PoolKey, M, R> = PoolWorker<Job<K, M, R>>;

/**
 * A fixed set of serial workers fed by key-aware routing, and supervised: a crashed or stuck
 * worker is replaced within a restart budget. `cast` fires and forgets, `call` resolves with
 * the handler's result; with a keyed routing mode one key's jobs run one at a time, in
 * order. Every accepted job ends completed, failed or discarded (never silently lost);
 * emits {@link PoolEvents}. Options: {@link WorkerPoolOptions}.
 *
 * ```ts
 * const pool = new WorkerPool<string, Row, void>({
 *   workers: 4,
 *   routing: 'keyPersistent',
 *   handler: (row) => db.write(row),
 * });
 * pool.cast({ key: row.account, msg: row });
 * await pool.close({ deadlineMs: 5_000 });
 * ```
 */
export class WorkerPool<K extends PoolKey, M, R>
  extends Emitter<PoolEvents>
  implements AsyncDisposable
{
  /** The routing mode in use (`customHash` when given a function). */
  readonly routing: RoutingKind;
  readonly #clock: Clock;
  readonly #levels: number;
  readonly #ttlMs: number;
  readonly #discards: Discards<K, M>;
  readonly #books = new PoolBooks();
  readonly #dispatcher: Dispatcher<K, M, R>;
  readonly #supervisor: Supervisor<Job<K, M, R>>;
  #state: PoolState = 'open';
  #failure: Error | undefined;
  #closed: Promise<PoolCloseResult> | undefined;
  #stopped: Promise<void> = Promise.resolve();

  constructor(options: WorkerPoolOptions<K, M, R>) {
    super();
    const o = resolvePoolOptions(options);
    const router = new Router<Worker<K, M, R>>(o.routing);
    this.routing = router.kind;
    this.#clock = o.clock;
    this.#levels = o.priorities;
    this.#ttlMs = o.ttlMs;
    this.#discards = new Discards(o.onDiscard, (key, reason) =>
      this.emit('job:discarded', { key, reason }),
    );
    this.#supervisor = new Supervisor(
      this.#supervised(),
      new RestartBudget(o.restart, o.clock),
      o.deadManSwitch,
      o.clock,
    );
    this.#dispatcher = new Dispatcher<K, M, R>(
      {
        router,
        levels: o.priorities,
        clock: o.clock,
        books: this.#books,
        shedding: new LoadShedding(o.queueLimit, o.discard),
        discards: this.#discards,
        gate:
          o.rateLimit === undefined
            ? undefined
            : new RateGate(o.rateLimit, o.clock, this.#books, (job) => {
                this.#dispatcher.route(job);
                this.#books.checkIdle();
              }),
        runners:
          o.threads === undefined
            ? inProcessRunners(o.handler as PoolHandler<M, R>)
            : threadRunners(o.threads),
        onCrash: (worker, error) => this.#supervisor.replace(worker, error, 'crashed'),
        emit: (event, payload) => this.emit(event, payload),
      },
      o.workers,
    );
    this.#supervisor.start();
  }

  /**
   * Fire and forget. Returns whether the job was accepted (false: discarded or closed).
   * Throws {@link InputError} for a bad job.
   */
  cast(spec: JobSpec<K, M>): boolean {
    if (this.#state !== 'open') return false;
    return this.#dispatcher.admit(this.#createJob(spec));
  }

  /** Runs the job and resolves with the handler's result, or rejects saying why not. */
  call(spec: JobSpec<K, M>): Promise<R> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError());
    let job: Job<K, M, R>;
    try {
      job = this.#createJob(spec);
    } catch (error) {
      return Promise.reject(error);
    }
    const promise = new Promise<R>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    this.#dispatcher.admit(job);
    return promise;
  }

  /** Changes the number of workers. Shrinking lets the retired workers finish their queues. */
  resize(workers: number): void {
    const n = integerOption('workers', workers, undefined, 1);
    if (this.#running()) this.#dispatcher.resize(n);
  }

  /** Resolves once nothing is queued or in flight (at once if so already); keeps accepting. */
  drain(): Promise<void> {
    return this.#books.whenIdle();
  }

  /**
   * Stops accepting jobs at once (`cast` returns false, `call` rejects with ClosedError),
   * lets queued and running jobs finish until `deadlineMs` (default: no deadline), then
   * discards what is still queued (reason `shutdown`), abandons what still runs (its caller
   * gets TimeoutError, its handler's signal aborts) and stops the workers. Idempotent: later
   * calls resolve with the first call's result.
   */
  close(options?: { deadlineMs?: number }): Promise<PoolCloseResult> {
    let deadlineMs: number;
    try {
      deadlineMs = resolveCloseOptions('WorkerPool.close() options', options).deadlineMs;
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closed ??= this.#close(deadlineMs);
    return this.#closed;
  }

  /** `close()` with no deadline, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Counts, queue lengths and each worker's state, now. */
  stats(): PoolStats {
    const b = this.#books;
    return {
      workers: this.#dispatcher.allWorkers().map((w) => ({
        id: w.id,
        state: this.#dispatcher.isRetiring(w) ? 'retiring' : (w.phase as 'idle' | 'busy' | 'stuck'),
        processed: w.processed,
        failed: w.failed,
        queued: w.queue.length,
        lastPingMs: w.lastPingMs,
        restarts: w.restarts,
      })),
      queued: b.queued,
      inFlight: b.inFlight,
      available: this.#dispatcher.available(),
      accepted: b.accepted,
      completed: b.completed,
      failed: b.failed,
      discarded: this.#discards.counts(),
      state: this.#state,
      failure: this.#failure?.message,
    };
  }

  // ---- lifecycle ------------------------------------------------------------------------

  #createJob(spec: JobSpec<K, M>): Job<K, M, R> {
    return createJob(spec, { ttlMs: this.#ttlMs, levels: this.#levels, now: this.#clock.now() });
  }

  /** The view of the pool its supervisor works through. */
  #supervised(): SupervisedPool<Job<K, M, R>> {
    return {
      running: () => this.#running(),
      workers: () => this.#dispatcher.allWorkers(),
      unseat: (worker) => this.#dispatcher.unseat(worker),
      failJob: (worker, job, error) => this.#dispatcher.endFailed(worker, job, error),
      next: (worker) => this.#dispatcher.next(worker),
      fail: (error) => this.#fail(error),
      emit: (event, payload) => this.emit(event, payload),
    };
  }

  async #close(deadlineMs: number): Promise<PoolCloseResult> {
    if (this.#state === 'failed') {
      await this.#stopped;
      return { drained: true, discarded: 0, abandoned: 0 };
    }
    this.#setState('closing');
    const drained = await withinDeadline(this.#books.whenIdle(), deadlineMs, this.#clock);
    if (this.#failure !== undefined) {
      // The restart budget ran out while closing: everything was rejected then.
      await this.#stopped;
      return { drained: false, discarded: 0, abandoned: 0 };
    }
    let discarded = 0;
    for (const job of this.#dispatcher.takeAllQueued()) {
      this.#discards.discard(job, 'shutdown', 'the pool closed before it ran');
      discarded++;
    }
    let abandoned = 0;
    for (const w of this.#dispatcher.allWorkers()) {
      const error = new TimeoutError(
        `close deadline of ${deadlineMs} ms passed while this job ran; its outcome is unknown`,
      );
      if (this.#dispatcher.abandon(w, error)) abandoned++;
    }
    this.#setState('closed');
    this.#stopped = this.#stopWorkers();
    await this.#stopped;
    return { drained, discarded, abandoned };
  }

  /** The restart budget is spent: everything waiting rejects, the workers stop. */
  #fail(error: Error): void {
    this.#failure = error;
    this.#setState('failed');
    for (const job of this.#dispatcher.takeAllQueued()) {
      this.#books.failed++;
      job.reject?.(error);
    }
    for (const w of this.#dispatcher.allWorkers()) this.#dispatcher.abandon(w, error);
    this.emit('pool:failed', { error });
    this.#stopped = this.#stopWorkers();
  }

  #stopWorkers(): Promise<void> {
    this.#supervisor.stop();
    return this.#dispatcher.stopWorkers();
  }

  #running(): boolean {
    return this.#state === 'open' || this.#state === 'closing';
  }

  #closedError(): Error {
    return this.#failure ?? new ClosedError('worker pool is closed: the job was not accepted');
  }

  #setState(next: PoolState): void {
    if (!transitions[this.#state].includes(next)) {
      throw new Error(`worker pool: no transition from ${this.#state} to ${next}`);
    }
    this.#state = next;
  }
}
