/**
 * WorkerPool: a fixed set of serial workers fed by key-aware routing, supervised.
 *
 * The facade that composes the pool's parts; each concept has its file:
 * - `job.ts`: what a job is, and the checks on `cast`/`call` input ({@link InputError});
 * - `routing.ts`: which worker a job goes to, which mode to choose when, key ownership;
 * - `job-queue.ts`: queues by priority that keep each key's order;
 * - `discard.ts`: queue limits, which job is shed, how every discard is reported; ttl;
 * - `rate-gate.ts`: the rate limit and its delay line;
 * - `worker.ts`, `in-process-runner.ts`, `thread-worker.ts`: a worker and what runs its jobs;
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
import {
  ClosedError,
  FatalWorkerError,
  ThreadExitError,
  TimeoutError,
  type DiscardReason,
} from '../../errors.js';
import type { Clock } from '../clock.js';
import { withinDeadline } from '../deadline.js';
import { Emitter } from '../events.js';
import { integerOption } from '../options.js';
import { RestartBudget } from '../restart-budget.js';
import { Discards, LoadShedding } from './discard.js';
import { inProcessRunners } from './in-process-runner.js';
import { createJob, type Job, type JobSpec, type PoolHandler, type PoolKey } from './job.js';
import { JobQueue } from './job-queue.js';
import { PoolBooks } from './pool-books.js';
import type { PoolEvents } from './pool-events.js';
import { resolveCloseOptions, resolvePoolOptions, type WorkerPoolOptions } from './pool-options.js';
import { RateGate } from './rate-gate.js';
import { Router, type RoutingKind } from './routing.js';
import { Supervisor, type SupervisedPool } from './supervision.js';
import { threadRunners } from './thread-worker.js';
import { PoolWorker, type RunnerFactory, type WorkerStats } from './worker.js';

export type { JobContext, JobSpec, PoolHandler, PoolKey } from './job.js';
export type { PoolEvents } from './pool-events.js';
export type { WorkerPoolOptions } from './pool-options.js';
export type { DeadManSwitch } from './supervision.js';
export type { WorkerState, WorkerStats } from './worker.js';

export type PoolState = 'open' | 'closing' | 'closed' | 'failed';

const transitions: Record<PoolState, readonly PoolState[]> = {
  open: ['closing', 'failed'],
  closing: ['closed', 'failed'],
  closed: [],
  failed: [],
};

export interface PoolStats {
  workers: WorkerStats[];
  /** Jobs waiting (all queues, and rate-limit delays). */
  queued: number;
  inFlight: number;
  /** Idle workers. */
  available: number;
  accepted: number;
  completed: number;
  failed: number;
  discarded: Record<DiscardReason, number>;
  state: PoolState;
  /** Why the pool failed, when it did. */
  failure: string | undefined;
}

export interface PoolCloseResult {
  /** Whether everything accepted finished before the deadline. */
  drained: boolean;
  /** Jobs still queued at the deadline, discarded with reason `shutdown`. */
  discarded: number;
  /** Jobs still running at the deadline, given up (their callers got `TimeoutError`). */
  abandoned: number;
}

type Worker<K extends PoolKey, M, R> = PoolWorker<Job<K, M, R>>;

export class WorkerPool<K extends PoolKey, M, R>
  extends Emitter<PoolEvents>
  implements AsyncDisposable
{
  readonly routing: RoutingKind;
  readonly #router: Router<Worker<K, M, R>>;
  readonly #clock: Clock;
  readonly #levels: number;
  readonly #ttlMs: number;
  readonly #runners: RunnerFactory;
  readonly #shedding: LoadShedding;
  readonly #discards: Discards<K, M>;
  readonly #gate: RateGate<Job<K, M, R>> | undefined;
  readonly #supervisor: Supervisor<Job<K, M, R>>;
  readonly #books = new PoolBooks();
  /** Queueing modes: the line idle workers pull from. */
  readonly #shared: JobQueue<Job<K, M, R>>;
  /** Workers that take new work, by slot; routing picks among these. */
  #active: Worker<K, M, R>[] = [];
  /** Workers taken out of rotation by `resize`, finishing their queues. */
  readonly #retiring = new Set<Worker<K, M, R>>();
  #nextWorkerId = 0;
  #state: PoolState = 'open';
  #failure: Error | undefined;
  #closed: Promise<PoolCloseResult> | undefined;
  #stopped: Promise<void> = Promise.resolve();

  constructor(options: WorkerPoolOptions<K, M, R>) {
    super();
    const o = resolvePoolOptions(options);
    this.#router = new Router(o.routing);
    this.routing = this.#router.kind;
    this.#clock = o.clock;
    this.#levels = o.priorities;
    this.#ttlMs = o.ttlMs;
    this.#runners =
      o.threads === undefined
        ? inProcessRunners(o.handler as PoolHandler<M, R>)
        : threadRunners(o.threads);
    this.#shedding = new LoadShedding(o.queueLimit, o.discard);
    this.#discards = new Discards(o.onDiscard, (key, reason) =>
      this.emit('job:discarded', { key, reason }),
    );
    this.#gate =
      o.rateLimit === undefined
        ? undefined
        : new RateGate(o.rateLimit, o.clock, this.#books, (job) => {
            this.#route(job);
            this.#books.checkIdle();
          });
    this.#shared = new JobQueue(this.#levels, this.#books);
    this.#supervisor = new Supervisor(
      this.#supervised(),
      new RestartBudget(o.restart, o.clock),
      o.deadManSwitch,
      o.clock,
    );
    for (let i = 0; i < o.workers; i++) this.#active.push(this.#spawn());
    this.#supervisor.start();
  }

  /**
   * Fire and forget. Returns whether the job was accepted (false: discarded or closed).
   * Throws {@link InputError} for a bad job.
   */
  cast(spec: JobSpec<K, M>): boolean {
    if (this.#state !== 'open') return false;
    return this.#admit(this.#createJob(spec));
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
    this.#admit(job);
    return promise;
  }

  /** Changes the number of workers. Shrinking lets the retired workers finish their queues. */
  resize(workers: number): void {
    const n = integerOption('workers', workers, undefined, 1);
    if (!this.#running()) return;
    while (this.#active.length < n) this.#active.push(this.#spawn());
    while (this.#active.length > n) {
      const w = this.#active.pop() as Worker<K, M, R>;
      this.#retiring.add(w);
      if (w.phase === 'idle' && w.queue.length === 0) void this.#retire(w);
    }
    // Work already queued in the shared queue may now have more hands.
    if (this.#router.shared) for (const w of this.#active) if (w.phase === 'idle') this.#next(w);
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
      deadlineMs = resolveCloseOptions(options).deadlineMs;
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closed ??= this.#close(deadlineMs);
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): PoolStats {
    const b = this.#books;
    return {
      workers: this.#allWorkers().map((w) => ({
        id: w.id,
        state: this.#retiring.has(w) ? 'retiring' : (w.phase as 'idle' | 'busy' | 'stuck'),
        processed: w.processed,
        failed: w.failed,
        queued: w.queue.length,
        lastPingMs: w.lastPingMs,
        restarts: w.restarts,
      })),
      queued: b.queued,
      inFlight: b.inFlight,
      available: this.#active.filter((w) => w.phase === 'idle').length,
      accepted: b.accepted,
      completed: b.completed,
      failed: b.failed,
      discarded: this.#discards.counts(),
      state: this.#state,
      failure: this.#failure?.message,
    };
  }

  // ---- admission and routing ------------------------------------------------------------

  #createJob(spec: JobSpec<K, M>): Job<K, M, R> {
    return createJob(spec, { ttlMs: this.#ttlMs, levels: this.#levels, now: this.#clock.now() });
  }

  #admit(job: Job<K, M, R>): boolean {
    this.#books.accepted++;
    const verdict = this.#gate?.admit(job) ?? 'pass';
    if (verdict === 'refused') {
      this.#discards.discard(job, 'rateLimited', 'over the rate limit');
      return false;
    }
    return verdict === 'delayed' || this.#route(job);
  }

  #route(job: Job<K, M, R>): boolean {
    const to = this.#router.route(job.skey, this.#active, this.#shared.has(job.skey));
    return to === 'shared' ? this.#enqueueShared(job) : this.#enqueueOn(to.worker, job, to.sticky);
  }

  #enqueueShared(job: Job<K, M, R>): boolean {
    const idle = this.#active.find((w) => w.phase === 'idle');
    if (this.#shedding.limit === 0) {
      if (idle === undefined) {
        this.#discards.discard(job, 'loadshed', 'no worker was free and the queue limit is 0');
        return false;
      }
      this.#startOwned(idle, job);
      return true;
    }
    if (this.#books.queued >= this.#shedding.limit && !this.#makeRoom(this.#shared, job, false)) {
      return false;
    }
    this.#shared.enqueue(job, 'back');
    if (idle !== undefined) this.#next(idle);
    return true;
  }

  /** Queues a job on a worker's own queue, or runs it at once if the worker is idle. */
  #enqueueOn(worker: Worker<K, M, R>, job: Job<K, M, R>, sticky: boolean): boolean {
    if (worker.phase === 'idle' && worker.queue.length === 0 && !this.#retiring.has(worker)) {
      this.#startOwned(worker, job);
      return true;
    }
    // A sticky job follows its key to a worker whatever that worker's queue holds.
    const limit = sticky ? Infinity : this.#shedding.limit;
    if (limit === 0) {
      this.#discards.discard(
        job,
        'loadshed',
        `worker ${worker.id} was busy and the queue limit is 0`,
      );
      return false;
    }
    if (worker.queue.length >= limit && !this.#makeRoom(worker.queue, job, true)) return false;
    this.#router.own(worker, job.skey);
    worker.queue.enqueue(job, 'back');
    return true;
  }

  /**
   * Sheds one job for `incoming` at a full queue; false if `incoming` is the one shed.
   * `owned`: the queue is a worker's, whose jobs count toward their key's ownership.
   */
  #makeRoom(queue: JobQueue<Job<K, M, R>>, incoming: Job<K, M, R>, owned: boolean): boolean {
    const victim = this.#shedding.victim(queue, incoming);
    if (victim === incoming) {
      this.#discards.discard(incoming, 'loadshed', 'the queue was full');
      return false;
    }
    if (owned) this.#router.disown(victim.skey);
    this.#discards.discard(
      victim,
      'loadshed',
      'the queue was full and a newer or higher-priority job took its place',
    );
    return true;
  }

  // ---- running --------------------------------------------------------------------------

  /** Gives a worker its next job, if any; a job past its ttl is discarded, not started. */
  #next(worker: Worker<K, M, R>): void {
    const retiring = this.#retiring.has(worker);
    for (;;) {
      const job =
        worker.queue.shift() ??
        (this.#router.shared && !retiring ? this.#pullShared(worker) : undefined);
      if (job === undefined) {
        worker.rest();
        if (retiring) void this.#retire(worker);
        this.#books.checkIdle();
        return;
      }
      if (job.expired(this.#clock.now())) {
        this.#router.disown(job.skey);
        this.#discards.discard(job, 'ttl', 'it waited longer than its ttl');
        continue;
      }
      this.#start(worker, job);
      return;
    }
  }

  /** Takes from the shared queue; in stickyQueuer mode, hands jobs of busy keys to their worker. */
  #pullShared(worker: Worker<K, M, R>): Job<K, M, R> | undefined {
    for (;;) {
      const job = this.#shared.shift();
      if (job === undefined) return undefined;
      const claimant = this.#router.claimant(job.skey, worker);
      this.#router.own(claimant, job.skey);
      if (claimant === worker) return job;
      claimant.queue.enqueue(job, 'back');
    }
  }

  #startOwned(worker: Worker<K, M, R>, job: Job<K, M, R>): void {
    this.#router.own(worker, job.skey);
    this.#start(worker, job);
  }

  #start(worker: Worker<K, M, R>, job: Job<K, M, R>): void {
    this.#books.inFlight++;
    const generation = worker.generation;
    const running = worker.begin(job);
    this.emit('job:started', { workerId: worker.id, key: job.skey });
    running.then(
      (value) => {
        if (!worker.isRunning(job, generation)) return;
        this.#unseat(worker);
        this.#router.disown(job.skey);
        worker.processed++;
        this.#books.completed++;
        job.resolve?.(value as R);
        this.emit('job:completed', { workerId: worker.id, key: job.skey });
        this.#next(worker);
      },
      (error: unknown) => {
        if (!worker.isRunning(job, generation)) return;
        if (error instanceof FatalWorkerError || error instanceof ThreadExitError) {
          this.#supervisor.replace(worker, error, 'crashed');
          return;
        }
        this.#unseat(worker);
        this.#endFailed(worker, job, error);
        this.emit('job:failed', { workerId: worker.id, key: job.skey, error });
        this.#next(worker);
      },
    );
  }

  /** Takes the running job off a worker: no longer in flight (its key stays owned). */
  #unseat(worker: Worker<K, M, R>): Job<K, M, R> | undefined {
    const job = worker.takeCurrent();
    if (job !== undefined) this.#books.inFlight--;
    return job;
  }

  #endFailed(worker: Worker<K, M, R>, job: Job<K, M, R>, error: unknown): void {
    this.#router.disown(job.skey);
    worker.failed++;
    this.#books.failed++;
    job.reject?.(error);
  }

  // ---- workers and lifecycle ------------------------------------------------------------

  #spawn(): Worker<K, M, R> {
    return new PoolWorker<Job<K, M, R>>(
      this.#nextWorkerId++,
      this.#levels,
      this.#books,
      this.#runners,
      (worker, death) => this.#supervisor.replace(worker, death, 'crashed'),
    );
  }

  /** The view of the pool its supervisor works through. */
  #supervised(): SupervisedPool<Job<K, M, R>> {
    return {
      running: () => this.#running(),
      workers: () => this.#allWorkers(),
      unseat: (worker) => this.#unseat(worker),
      failJob: (worker, job, error) => this.#endFailed(worker, job, error),
      next: (worker) => this.#next(worker),
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
    for (const job of this.#takeAllQueued()) {
      this.#discards.discard(job, 'shutdown', 'the pool closed before it ran');
      discarded++;
    }
    let abandoned = 0;
    for (const w of this.#allWorkers()) {
      const error = new TimeoutError(
        `close deadline of ${deadlineMs} ms passed while this job ran; its outcome is unknown`,
      );
      if (this.#abandon(w, error)) abandoned++;
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
    for (const job of this.#takeAllQueued()) {
      this.#books.failed++;
      job.reject?.(error);
    }
    for (const w of this.#allWorkers()) this.#abandon(w, error);
    this.emit('pool:failed', { error });
    this.#stopped = this.#stopWorkers();
  }

  /** Gives up on a worker's running job: its caller gets `error`. Whether there was one. */
  #abandon(worker: Worker<K, M, R>, error: Error): boolean {
    const job = this.#unseat(worker);
    if (job === undefined) return false;
    worker.disregardRun();
    this.#router.disown(job.skey);
    this.#books.failed++;
    job.abort(error);
    job.reject?.(error);
    return true;
  }

  /** Removes every queued job (shared, per worker, delayed), keeping the books straight. */
  #takeAllQueued(): Job<K, M, R>[] {
    const jobs = [...(this.#gate?.stop() ?? []), ...this.#shared.drain()];
    for (const w of this.#allWorkers()) {
      for (const job of w.queue.drain()) {
        this.#router.disown(job.skey);
        jobs.push(job);
      }
    }
    return jobs;
  }

  async #stopWorkers(): Promise<void> {
    this.#supervisor.stop();
    const workers = this.#allWorkers();
    this.#active = [];
    this.#retiring.clear();
    this.#books.checkIdle();
    await Promise.all(workers.map((w) => w.stop()));
  }

  async #retire(worker: Worker<K, M, R>): Promise<void> {
    this.#retiring.delete(worker);
    await worker.stop();
  }

  #allWorkers(): Worker<K, M, R>[] {
    return [...this.#active, ...this.#retiring];
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
