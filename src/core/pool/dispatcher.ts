/**
 * Dispatcher: moves each job from admission to a worker, and on to its end.
 *
 * It owns the workers in rotation (`active`, which routing picks among) and those retiring
 * after a shrink, and the shared queue of the queueing modes; it keeps the pool's books as
 * jobs move. Guarantees: a job
 * accepted here ends exactly once (completed, failed or discarded) or is handed back by
 * `takeAllQueued`/`abandon` for the pool to end; a job past its ttl is discarded before it
 * starts, never after; a key's ownership (routing.ts) is held from the moment one of its
 * jobs is queued on or runs on a worker until the last such job ends.
 */
import type { Clock } from '../clock.js';
import { FatalWorkerError, ThreadExitError } from '../../errors.js';
import type { Discards, LoadShedding } from './discard.js';
import type { Job, PoolKey } from './job.js';
import { JobQueue } from './job-queue.js';
import type { PoolBooks } from './pool-books.js';
import type { PoolEvents } from './pool-events.js';
import type { RateGate } from './rate-gate.js';
import type { Router } from './routing.js';
import { PoolWorker, type RunnerFactory } from './worker.js';

type Worker<K extends PoolKey, M, R> = PoolWorker<Job<K, M, R>>;

/** What the pool gives its dispatcher. */
export interface DispatcherParts<K extends PoolKey, M, R> {
  router: Router<Worker<K, M, R>>;
  levels: number;
  clock: Clock;
  books: PoolBooks;
  shedding: LoadShedding;
  discards: Discards<K, M>;
  gate: RateGate<Job<K, M, R>> | undefined;
  runners: RunnerFactory;
  /** A worker crashed (during a job, or its thread died between jobs): supervision's turn. */
  onCrash: (worker: Worker<K, M, R>, error: unknown) => void;
  emit: <E extends 'job:started' | 'job:completed' | 'job:failed'>(
    event: E,
    payload: PoolEvents[E],
  ) => void;
}

export class Dispatcher<K extends PoolKey, M, R> {
  readonly #router: Router<Worker<K, M, R>>;
  readonly #clock: Clock;
  readonly #books: PoolBooks;
  readonly #shedding: LoadShedding;
  readonly #discards: Discards<K, M>;
  /** Queueing modes: the line idle workers pull from. */
  readonly #shared: JobQueue<Job<K, M, R>>;
  /** Workers that take new work, by slot; routing picks among these. */
  #active: Worker<K, M, R>[] = [];
  /** Workers taken out of rotation by `resize`, finishing their queues. */
  readonly #retiring = new Set<Worker<K, M, R>>();
  #nextWorkerId = 0;

  constructor(
    private readonly parts: DispatcherParts<K, M, R>,
    workers: number,
  ) {
    this.#router = parts.router;
    this.#clock = parts.clock;
    this.#books = parts.books;
    this.#shedding = parts.shedding;
    this.#discards = parts.discards;
    this.#shared = new JobQueue(parts.levels, parts.books);
    this.resize(workers);
  }

  /** Idle workers in rotation. */
  available(): number {
    return this.#active.filter((w) => w.phase === 'idle').length;
  }

  isRetiring(worker: Worker<K, M, R>): boolean {
    return this.#retiring.has(worker);
  }

  /** Grows or shrinks the rotation; a shrunk worker finishes its queue, then stops. */
  resize(n: number): void {
    while (this.#active.length < n) this.#active.push(this.#spawn());
    while (this.#active.length > n) {
      const w = this.#active.pop() as Worker<K, M, R>;
      this.#retiring.add(w);
      if (w.phase === 'idle' && w.queue.length === 0) void this.#retire(w);
    }
    // Work already queued in the shared queue may now have more hands.
    if (this.#router.shared) for (const w of this.#active) if (w.phase === 'idle') this.next(w);
  }

  /** Takes a new job: through the rate gate, then routed. Whether it was accepted. */
  admit(job: Job<K, M, R>): boolean {
    this.#books.accepted++;
    const verdict = this.parts.gate?.admit(job) ?? 'pass';
    if (verdict === 'refused') {
      this.#discards.discard(job, 'rateLimited', 'over the rate limit');
      return false;
    }
    return verdict === 'delayed' || this.route(job);
  }

  /** Sends a job where routing says: a worker (run now or queued) or the shared queue. */
  route(job: Job<K, M, R>): boolean {
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
    if (idle !== undefined) this.next(idle);
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
  next(worker: Worker<K, M, R>): void {
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
    this.parts.emit('job:started', { workerId: worker.id, key: job.skey });
    running.then(
      (value) => {
        if (!worker.isRunning(job, generation)) return;
        this.unseat(worker);
        this.#router.disown(job.skey);
        worker.processed++;
        this.#books.completed++;
        job.resolve?.(value as R);
        this.parts.emit('job:completed', { workerId: worker.id, key: job.skey });
        this.next(worker);
      },
      (error: unknown) => {
        if (!worker.isRunning(job, generation)) return;
        if (error instanceof FatalWorkerError || error instanceof ThreadExitError) {
          this.parts.onCrash(worker, error);
          return;
        }
        this.unseat(worker);
        this.endFailed(worker, job, error);
        this.parts.emit('job:failed', { workerId: worker.id, key: job.skey, error });
        this.next(worker);
      },
    );
  }

  /** Takes the running job off a worker: no longer in flight (its key stays owned). */
  unseat(worker: Worker<K, M, R>): Job<K, M, R> | undefined {
    const job = worker.takeCurrent();
    if (job !== undefined) this.#books.inFlight--;
    return job;
  }

  /** Ends a job taken off `worker` as failed: its caller gets `error`. */
  endFailed(worker: Worker<K, M, R>, job: Job<K, M, R>, error: unknown): void {
    this.#router.disown(job.skey);
    worker.failed++;
    this.#books.failed++;
    job.reject?.(error);
  }

  #spawn(): Worker<K, M, R> {
    return new PoolWorker<Job<K, M, R>>(
      this.#nextWorkerId++,
      this.parts.levels,
      this.#books,
      this.parts.runners,
      (worker, death) => this.parts.onCrash(worker, death),
    );
  }

  /** Gives up on a worker's running job: its caller gets `error`. Whether there was one. */
  abandon(worker: Worker<K, M, R>, error: Error): boolean {
    const job = this.unseat(worker);
    if (job === undefined) return false;
    worker.disregardRun();
    this.#router.disown(job.skey);
    this.#books.failed++;
    job.abort(error);
    job.reject?.(error);
    return true;
  }

  /** Removes every queued job (shared, per worker, delayed), keeping the books straight. */
  takeAllQueued(): Job<K, M, R>[] {
    const jobs = [...(this.parts.gate?.stop() ?? []), ...this.#shared.drain()];
    for (const w of this.allWorkers()) {
      for (const job of w.queue.drain()) {
        this.#router.disown(job.skey);
        jobs.push(job);
      }
    }
    return jobs;
  }

  /** Takes every worker out and stops it (closed or failed). */
  async stopWorkers(): Promise<void> {
    const workers = this.allWorkers();
    this.#active = [];
    this.#retiring.clear();
    this.#books.checkIdle();
    await Promise.all(workers.map((w) => w.stop()));
  }

  async #retire(worker: Worker<K, M, R>): Promise<void> {
    this.#retiring.delete(worker);
    await worker.stop();
  }

  /** Every live worker: in rotation, then retiring. */
  allWorkers(): Worker<K, M, R>[] {
    return [...this.#active, ...this.#retiring];
  }
}
