/**
 * WorkerPool: a fixed set of serial workers fed by key-aware routing, supervised.
 *
 * Each worker runs one job at a time, in-process (an async `handler`) or in its own
 * `worker_threads` thread (`threads: { module }`). Routing (see `routing.ts` for which mode
 * to choose) decides where a job waits: per worker, or in one shared queue idle workers pull
 * from. With `keyPersistent` and `stickyQueuer`, jobs of one key run one at a time, in the
 * order submitted, also across `resize`.
 *
 * Supervision:
 * - a handler that throws fails that job only (`call` rejects with the error);
 * - a worker that crashes (its thread exits or throws at top level; an in-process handler
 *   throws {@link FatalWorkerError}) is replaced under the same id with its queue kept; the
 *   job it was running is re-dispatched if it has retries left, else its caller gets
 *   {@link WorkerCrashedError}. Never silently lost;
 * - with `deadManSwitch`, workers are pinged every `intervalMs`; one silent for `timeoutMs`
 *   is reported stuck (`worker:stuck`) and, with `kill`, replaced: a thread is terminated,
 *   an in-process worker is abandoned and its hung job's caller gets {@link WorkerStuckError};
 * - replacements draw on the `restart` budget; when it is spent the pool fails loudly:
 *   every waiting caller rejects with {@link RestartBudgetExhaustedError}, `stats().failure`
 *   and a `pool:failed` event say why.
 *
 * Load shedding: a queue `limit` (shared queue, or per worker) with `discard` of the oldest
 * or newest job of the lowest priority; limit 0 means a job runs at once or not at all.
 * Per-job TTL (expired jobs are dropped before they start, never after), priority levels
 * (higher first; a job never overtakes an earlier job of its key), and an optional
 * rate limit. Every discard carries a reason (`ttl`, `loadshed`, `rateLimited`, `shutdown`),
 * is counted, reaches `onDiscard` and the `job:discarded` event, and rejects the job's call
 * with {@link DiscardedError}.
 *
 * Accounting: every job given to `cast`/`call` on an open pool is accepted and ends as
 * completed, failed or discarded; `stats()` shows the counts, and in flight never exceeds
 * the worker count.
 *
 * ```ts
 * const pool = new WorkerPool<string, Row, void>({
 *   workers: 4,
 *   routing: 'keyPersistent',
 *   handler: (row) => db.write(row),
 * });
 * pool.cast({ key: row.account, msg: row });
 * await pool.call({ key: 'acct-7', msg: row });
 * await pool.close();
 * ```
 */
import {
  ClosedError,
  ConfigError,
  DiscardedError,
  RestartBudgetExhaustedError,
  TimeoutError,
  WorkerCrashedError,
  WorkerStuckError,
  type DiscardReason,
  FatalWorkerError,
  ThreadExitError,
} from '../../errors.js';
import { callSafely } from '../callbacks.js';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { Emitter } from '../events.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  numberOption,
  objectOption,
} from '../options.js';
import { RestartBudget, resolveRestartPolicy, type RestartPolicy } from '../restart-budget.js';
import { PriorityQueue } from './priority-queue.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import {
  hashKey,
  isKeyed,
  routingKind,
  usesSharedQueue,
  type RoutingKind,
  type RoutingMode,
} from './routing.js';
import { ThreadRunner, type ThreadOptions } from './thread-worker.js';


export type PoolKey = string | number;

export interface JobSpec<K extends PoolKey, M> {
  key: K;
  msg: M;
  /** Discard the job if it has not started this long after submission. @default pool ttlMs */
  ttlMs?: number;
  /** Priority level, 0 (lowest) to `priorities - 1`. @default 0 */
  priority?: number;
  /** Times the job is re-dispatched if its worker crashes under it. @default 0 */
  retries?: number;
}

export interface JobContext {
  readonly workerId: number;
  readonly key: string;
  /** 1, then 2... when re-dispatched after a crash. */
  readonly attempt: number;
  /** Aborted when the pool abandons this job (stuck worker, close deadline). */
  readonly signal: AbortSignal;
}

export type PoolHandler<M, R> = (msg: M, ctx: JobContext) => R | Promise<R>;

export interface DeadManSwitch {
  /** How often each worker is pinged. */
  intervalMs: number;
  /** A worker silent this long is stuck. */
  timeoutMs: number;
  /** Replace a stuck worker. @default false (report only) */
  kill?: boolean;
}

export interface WorkerPoolOptions<K extends PoolKey, M, R> {
  /** Number of workers. @default 4 */
  workers?: number;
  /** @default 'keyPersistent' */
  routing?: RoutingMode;
  /** In-process handler; give this or `threads`. */
  handler?: PoolHandler<M, R>;
  /** Run each worker in a thread that loads this module's handler. */
  threads?: ThreadOptions;
  /** Queue bound: on the shared queue in queueing modes, per worker otherwise. */
  queue?: { limit?: number; discard?: 'oldest' | 'newest' };
  /** Default time a job may wait before it starts. @default no limit */
  ttlMs?: number;
  /** Number of priority levels. @default 1 */
  priorities?: number;
  deadManSwitch?: DeadManSwitch;
  rateLimit?: RateLimit;
  /** Budget for replacing crashed or stuck workers. @default { maxRestarts: 10, withinMs: 60000 } */
  restart?: RestartPolicy;
  /** Called with every discarded job. */
  onDiscard?: (job: { key: K; msg: M }, reason: DiscardReason) => void;
  /** @default systemClock */
  clock?: Clock;
}

export type WorkerState = 'idle' | 'busy' | 'stuck' | 'retiring';

export interface WorkerStats {
  id: number;
  state: WorkerState;
  processed: number;
  failed: number;
  queued: number;
  /** Latency of the last answered ping, ms; undefined before the first. */
  lastPingMs: number | undefined;
  restarts: number;
}

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
  state: 'open' | 'draining' | 'closed' | 'failed';
  /** Why the pool failed, when it did. */
  failure: string | undefined;
}

export interface PoolEvents {
  'job:started': { workerId: number; key: string };
  'job:completed': { workerId: number; key: string };
  'job:failed': { workerId: number; key: string; error: unknown };
  'job:discarded': { key: string; reason: DiscardReason };
  'worker:replaced': { workerId: number; reason: 'crashed' | 'stuck'; error: unknown };
  'worker:stuck': { workerId: number; silentMs: number };
  'pool:failed': { error: Error };
  [event: string]: unknown;
}

export interface PoolCloseResult {
  /** Whether every job in flight finished before the deadline. */
  drained: boolean;
  /** Queued jobs discarded with reason `shutdown`. */
  discarded: number;
  /** Jobs in flight given up at the deadline (their callers got `TimeoutError`). */
  abandoned: number;
}

class Job<K extends PoolKey, M, R> {
  level = 0;
  attempt = 1;
  resolve: ((value: R) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;
  controller: AbortController | undefined = undefined;

  constructor(
    readonly key: K,
    readonly skey: string,
    readonly msg: M,
    readonly expiresAt: number,
    public retriesLeft: number,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }
}

/** Keeps a key's jobs in order within one queue despite priorities: see PriorityQueue. */
interface KeyLedger {
  count: number;
  level: number;
}

interface Runner {
  /** False while a thread is still loading its module: it is not pinged then. */
  readonly ready: boolean;
  run(job: Job<PoolKey, unknown, unknown>): Promise<unknown>;
  ping(): Promise<void>;
  terminate(): Promise<void>;
}

class Worker<K extends PoolKey, M, R> {
  state: WorkerState = 'idle';
  current: Job<K, M, R> | undefined = undefined;
  /** Its own queue: all its jobs in per-worker modes, sticky jobs in queueing modes. */
  readonly queue: PriorityQueue<Job<K, M, R>>;
  readonly ledger = new Map<string, KeyLedger>();
  processed = 0;
  failed = 0;
  restarts = 0;
  lastPingMs: number | undefined = undefined;
  pingTimer: Timer | undefined = undefined;
  retiring = false;
  /** Bumped on replacement: a settling run of an older generation is ignored. */
  generation = 0;

  constructor(
    readonly id: number,
    levels: number,
    public runner: Runner,
  ) {
    this.queue = new PriorityQueue(levels);
  }
}

export class WorkerPool<K extends PoolKey, M, R>
  extends Emitter<PoolEvents>
  implements AsyncDisposable
{
  readonly routing: RoutingKind;
  readonly #custom: ((key: string, workers: number) => number) | undefined;
  readonly #handler: PoolHandler<M, R> | undefined;
  readonly #threads: ThreadOptions | undefined;
  readonly #limit: number;
  readonly #discardWhich: 'oldest' | 'newest';
  readonly #ttlMs: number;
  readonly #levels: number;
  readonly #deadMan: Required<DeadManSwitch> | undefined;
  readonly #limiter: RateLimiter | undefined;
  readonly #rateMode: 'reject' | 'delay';
  readonly #budget: RestartBudget;
  readonly #onDiscard: ((job: { key: K; msg: M }, reason: DiscardReason) => void) | undefined;
  readonly #clock: Clock;
  readonly #shared: boolean;
  readonly #keyed: boolean;

  /** Workers that take new work, by slot; hashing is over this list. */
  #active: Worker<K, M, R>[] = [];
  /** Workers finishing their queue after a shrink. */
  readonly #retiring = new Set<Worker<K, M, R>>();
  #nextWorkerId = 0;
  readonly #sharedQueue: PriorityQueue<Job<K, M, R>>;
  readonly #sharedLedger = new Map<string, KeyLedger>();
  /** Keyed modes: the worker a key's queued or running jobs are on, and how many. */
  readonly #owners = new Map<string, { worker: Worker<K, M, R>; count: number }>();
  readonly #delayed: Job<K, M, R>[] = [];
  #delayTimer: Timer | undefined;
  #pingTimer: Timer | undefined;
  #roundRobin = 0;

  #state: PoolStats['state'] = 'open';
  #failure: Error | undefined;
  #queued = 0;
  #inFlight = 0;
  #accepted = 0;
  #completed = 0;
  #failed = 0;
  readonly #discarded: Record<DiscardReason, number> = {
    ttl: 0,
    loadshed: 0,
    rateLimited: 0,
    shutdown: 0,
  };
  #idleWaiters: (() => void)[] = [];

  constructor(options: WorkerPoolOptions<K, M, R>) {
    super();
    const o = objectOption('options', options);
    const workers = integerOption('workers', o.workers, 4, 1);
    this.routing = routingKind(o.routing);
    this.#custom =
      this.routing === 'customHash'
        ? (o.routing as { customHash: (key: string, workers: number) => number }).customHash
        : undefined;
    if ((o.handler === undefined) === (o.threads === undefined)) {
      throw new ConfigError('handler', 'a function, or `threads` instead (exactly one)', o.handler);
    }
    this.#handler =
      o.handler === undefined ? undefined : functionOption<PoolHandler<M, R>>('handler', o.handler);
    if (o.threads !== undefined) {
      const t = objectOption('threads', o.threads);
      if (typeof t.module !== 'string' && !(t.module instanceof URL)) {
        throw new ConfigError('threads.module', 'a module path or URL', t.module);
      }
      this.#threads = o.threads as ThreadOptions;
    }
    const q = objectOption('queue', o.queue);
    this.#limit =
      q.limit === undefined ? Infinity : integerOption('queue.limit', q.limit, undefined, 0);
    this.#discardWhich = choiceOption('queue.discard', q.discard, 'newest', ['oldest', 'newest']);
    this.#ttlMs = numberOption('ttlMs', o.ttlMs, Infinity, 0);
    this.#levels = integerOption('priorities', o.priorities, 1, 1, 100);
    this.#clock = (o.clock as Clock | undefined) ?? systemClock;
    if (o.deadManSwitch !== undefined) {
      const d = objectOption('deadManSwitch', o.deadManSwitch);
      this.#deadMan = {
        intervalMs: numberOption('deadManSwitch.intervalMs', d.intervalMs, undefined, 1),
        timeoutMs: numberOption('deadManSwitch.timeoutMs', d.timeoutMs, undefined, 1),
        kill: d.kill === true,
      };
    }
    if (o.rateLimit !== undefined) {
      const r = objectOption('rateLimit', o.rateLimit);
      const limit = integerOption('rateLimit.limit', r.limit, undefined, 1);
      this.#limiter = new RateLimiter(
        limit,
        numberOption('rateLimit.intervalMs', r.intervalMs, 1000, 1),
        integerOption('rateLimit.burst', r.burst, limit, 1),
        this.#clock,
      );
      this.#rateMode = choiceOption('rateLimit.mode', r.mode, 'reject', ['reject', 'delay']);
    } else {
      this.#rateMode = 'reject';
    }
    this.#budget = new RestartBudget(
      resolveRestartPolicy(o.restart ?? { maxRestarts: 10, withinMs: 60_000 }),
      this.#clock,
    );
    this.#onDiscard =
      o.onDiscard === undefined
        ? undefined
        : functionOption<(job: { key: K; msg: M }, reason: DiscardReason) => void>(
            'onDiscard',
            o.onDiscard,
          );
    this.#shared = usesSharedQueue(this.routing);
    this.#keyed = isKeyed(this.routing);
    this.#sharedQueue = new PriorityQueue(this.#levels);
    for (let i = 0; i < workers; i++) this.#active.push(this.#spawn());
    this.#schedulePings();
  }

  /** Fire and forget. Returns whether the job was accepted (false: discarded or closed). */
  cast(spec: JobSpec<K, M>): boolean {
    if (this.#state !== 'open') return false;
    const job = this.#makeJob(spec);
    return this.#admit(job);
  }

  /** Runs the job and resolves with the handler's result, or rejects saying why not. */
  call(spec: JobSpec<K, M>): Promise<R> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError());
    let job: Job<K, M, R>;
    try {
      job = this.#makeJob(spec);
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
    if (this.#state === 'closed' || this.#state === 'failed') return;
    while (this.#active.length < n) this.#active.push(this.#spawn());
    while (this.#active.length > n) {
      const w = this.#active.pop() as Worker<K, M, R>;
      w.retiring = true;
      if (w.state === 'idle' && w.queue.length === 0) void this.#remove(w);
      else this.#retiring.add(w);
    }
    // Work already queued in the shared queue may now have more hands.
    if (this.#shared) for (const w of this.#active) if (w.state === 'idle') this.#next(w);
  }

  /** Resolves once nothing is queued or in flight (at once if so already); keeps accepting. */
  onIdle(): Promise<void> {
    return this.#whenIdle();
  }

  /** Stops accepting jobs (`ClosedError`) and resolves when everything queued has run. */
  drain(): Promise<void> {
    if (this.#state === 'open') this.#state = 'draining';
    return this.#whenIdle();
  }

  /**
   * Stops accepting jobs, discards what is queued (reason `shutdown`), waits for jobs in
   * flight up to `deadlineMs`, then stops the workers. Idempotent.
   */
  async close(options: { deadlineMs?: number } = {}): Promise<PoolCloseResult> {
    const deadlineMs = numberOption(
      'deadlineMs',
      objectOption('close options', options).deadlineMs,
      Infinity,
      0,
    );
    if (this.#state === 'closed' || this.#state === 'failed') {
      return { drained: true, discarded: 0, abandoned: 0 };
    }
    this.#state = 'draining';
    let discarded = 0;
    for (const job of this.#takeAllQueued()) {
      this.#discard(job, 'shutdown', 'the pool was closed before it ran');
      discarded++;
    }
    let drained = true;
    if (this.#inFlight > 0) {
      let timer: Timer | undefined;
      drained = await Promise.race([
        this.#whenIdle().then(() => true),
        new Promise<boolean>((resolve) => {
          if (deadlineMs !== Infinity)
            timer = this.#clock.setTimer(() => resolve(false), deadlineMs);
        }),
      ]);
      timer?.cancel();
    }
    let abandoned = 0;
    for (const w of this.#allWorkers()) {
      const job = w.current;
      if (job !== undefined) {
        abandoned++;
        this.#abandon(
          w,
          new TimeoutError(
            `close deadline of ${deadlineMs} ms passed while this job ran; its outcome is unknown`,
          ),
        );
      }
    }
    await this.#shutdown('closed');
    return { drained, discarded, abandoned };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  stats(): PoolStats {
    const workers = [...this.#active, ...this.#retiring].map((w) => ({
      id: w.id,
      state: w.state,
      processed: w.processed,
      failed: w.failed,
      queued: w.queue.length,
      lastPingMs: w.lastPingMs,
      restarts: w.restarts,
    }));
    return {
      workers,
      queued: this.#queued + this.#delayed.length,
      inFlight: this.#inFlight,
      available: this.#active.filter((w) => w.state === 'idle').length,
      accepted: this.#accepted,
      completed: this.#completed,
      failed: this.#failed,
      discarded: { ...this.#discarded },
      state: this.#state,
      failure: this.#failure?.message,
    };
  }

  // ---- admission and routing ------------------------------------------------------------

  #makeJob(spec: JobSpec<K, M>): Job<K, M, R> {
    if (typeof spec !== 'object' || spec === null) {
      throw new ConfigError('job', 'an object { key, msg }', spec);
    }
    const { key } = spec;
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new ConfigError('job.key', 'a string or a number', key);
    }
    const ttl =
      spec.ttlMs === undefined ? this.#ttlMs : numberOption('job.ttlMs', spec.ttlMs, undefined, 0);
    const job = new Job<K, M, R>(
      key,
      typeof key === 'string' ? key : String(key),
      spec.msg,
      ttl === Infinity ? Infinity : this.#clock.now() + ttl,
      spec.retries === undefined ? 0 : integerOption('job.retries', spec.retries, undefined, 0),
    );
    if (spec.priority !== undefined) {
      job.level = integerOption('job.priority', spec.priority, undefined, 0, this.#levels - 1);
    }
    return job;
  }

  #admit(job: Job<K, M, R>): boolean {
    this.#accepted++;
    if (this.#limiter !== undefined && (this.#delayed.length > 0 || !this.#limiter.tryTake())) {
      if (this.#rateMode === 'reject') {
        this.#discard(job, 'rateLimited', 'over the rate limit');
        return false;
      }
      this.#delayed.push(job);
      this.#armDelay();
      return true;
    }
    return this.#route(job);
  }

  #route(job: Job<K, M, R>): boolean {
    if (this.#shared) {
      // A busy key's job follows it to its worker, unless earlier jobs of the key still wait
      // in the shared queue: then it waits behind them, and is handed over when pulled.
      const owner = this.routing === 'stickyQueuer' ? this.#owners.get(job.skey) : undefined;
      if (owner !== undefined && !this.#sharedLedger.has(job.skey)) {
        return this.#enqueueOn(owner.worker, job, true);
      }
      if (this.#limit === 0) {
        const idle = this.#active.find((w) => w.state === 'idle');
        if (idle === undefined) {
          this.#discard(job, 'loadshed', 'no worker was free and the queue limit is 0');
          return false;
        }
        this.#start(idle, job);
        return true;
      }
      if (
        this.#queued >= this.#limit &&
        !this.#makeRoom(this.#sharedQueue, this.#sharedLedger, job, false)
      ) {
        return false;
      }
      this.#push(this.#sharedQueue, this.#sharedLedger, job);
      for (const w of this.#active) {
        if (w.state === 'idle') {
          this.#next(w);
          break;
        }
      }
      return true;
    }
    const owner = this.#keyed ? this.#owners.get(job.skey) : undefined;
    const worker = owner?.worker ?? this.#pick(job.skey);
    return this.#enqueueOn(worker, job, false);
  }

  #pick(skey: string): Worker<K, M, R> {
    const n = this.#active.length;
    let slot: number;
    switch (this.routing) {
      case 'roundRobin':
        slot = this.#roundRobin++ % n;
        break;
      case 'random':
        slot = Math.floor(Math.random() * n);
        break;
      case 'customHash': {
        const chosen = (this.#custom as (key: string, workers: number) => number)(skey, n);
        slot = Number.isInteger(chosen) ? ((chosen % n) + n) % n : 0;
        break;
      }
      default:
        slot = hashKey(skey) % n;
    }
    return this.#active[slot] as Worker<K, M, R>;
  }

  /** Queues a job on a worker's own queue (or runs it if the worker is idle). */
  #enqueueOn(worker: Worker<K, M, R>, job: Job<K, M, R>, sticky: boolean): boolean {
    const limit = sticky ? Infinity : this.#limit;
    if (worker.state === 'idle' && worker.queue.length === 0 && !worker.retiring) {
      this.#own(worker, job);
      this.#start(worker, job);
      return true;
    }
    if (limit === 0) {
      this.#discard(job, 'loadshed', `worker ${worker.id} was busy and the queue limit is 0`);
      return false;
    }
    if (worker.queue.length >= limit && !this.#makeRoom(worker.queue, worker.ledger, job, true)) {
      return false;
    }
    this.#own(worker, job);
    this.#push(worker.queue, worker.ledger, job);
    return true;
  }

  /**
   * Sheds one queued job of the lowest priority for `incoming`; false if `incoming` is shed.
   * `owned`: jobs in this queue count toward their key's owner (a worker's own queue).
   */
  #makeRoom(
    queue: PriorityQueue<Job<K, M, R>>,
    ledger: Map<string, KeyLedger>,
    incoming: Job<K, M, R>,
    owned: boolean,
  ): boolean {
    const lowest = queue.lowestLevel();
    const incomingIsLowest =
      lowest < 0 ||
      incoming.level < lowest ||
      (incoming.level === lowest && this.#discardWhich === 'newest');
    if (incomingIsLowest) {
      this.#discard(incoming, 'loadshed', 'the queue was full');
      return false;
    }
    const victim = queue.shed(this.#discardWhich) as Job<K, M, R>;
    this.#unledger(ledger, victim);
    this.#queued--;
    if (owned) this.#disown(victim);
    this.#discard(
      victim,
      'loadshed',
      'the queue was full and a newer or higher-priority job took its place',
    );
    return true;
  }

  #push(
    queue: PriorityQueue<Job<K, M, R>>,
    ledger: Map<string, KeyLedger>,
    job: Job<K, M, R>,
  ): void {
    const entry = ledger.get(job.skey);
    if (entry === undefined) {
      ledger.set(job.skey, { count: 1, level: job.level });
    } else {
      if (job.level > entry.level) job.level = entry.level;
      entry.count++;
      entry.level = job.level;
    }
    queue.push(job, job.level);
    this.#queued++;
  }

  #unledger(ledger: Map<string, KeyLedger>, job: Job<K, M, R>): void {
    const entry = ledger.get(job.skey);
    if (entry !== undefined && --entry.count === 0) ledger.delete(job.skey);
  }

  #own(worker: Worker<K, M, R>, job: Job<K, M, R>): void {
    if (!this.#keyed) return;
    const owner = this.#owners.get(job.skey);
    if (owner === undefined) this.#owners.set(job.skey, { worker, count: 1 });
    else owner.count++;
  }

  #disown(job: Job<K, M, R>): void {
    if (!this.#keyed) return;
    const owner = this.#owners.get(job.skey);
    if (owner !== undefined && --owner.count === 0) this.#owners.delete(job.skey);
  }

  // ---- running --------------------------------------------------------------------------

  /** Gives an idle worker its next job, if any. */
  #next(worker: Worker<K, M, R>): void {
    for (;;) {
      let job = worker.queue.shift();
      if (job !== undefined) {
        this.#unledger(worker.ledger, job);
        this.#queued--;
      } else if (this.#shared && !worker.retiring) {
        job = this.#pullShared(worker);
      }
      if (job === undefined) {
        worker.state = 'idle';
        if (worker.retiring) void this.#remove(worker);
        this.#checkIdle();
        return;
      }
      if (job.expiresAt !== Infinity && this.#clock.now() > job.expiresAt) {
        this.#disown(job);
        this.#discard(job, 'ttl', 'it waited longer than its ttl');
        continue;
      }
      this.#start(worker, job);
      return;
    }
  }

  /** Takes from the shared queue; in stickyQueuer mode, hands jobs of busy keys to their worker. */
  #pullShared(worker: Worker<K, M, R>): Job<K, M, R> | undefined {
    for (;;) {
      const job = this.#sharedQueue.shift();
      if (job === undefined) return undefined;
      this.#unledger(this.#sharedLedger, job);
      this.#queued--;
      if (this.routing !== 'stickyQueuer') return job;
      const owner = this.#owners.get(job.skey);
      if (owner === undefined || owner.worker === worker) {
        this.#own(worker, job);
        return job;
      }
      this.#own(owner.worker, job);
      this.#push(owner.worker.queue, owner.worker.ledger, job);
    }
  }

  #start(worker: Worker<K, M, R>, job: Job<K, M, R>): void {
    worker.state = 'busy';
    worker.current = job;
    this.#inFlight++;
    this.emit('job:started', { workerId: worker.id, key: job.skey });
    const generation = worker.generation;
    let running: Promise<unknown>;
    try {
      running = worker.runner.run(job as unknown as Job<PoolKey, unknown, unknown>);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => {
        if (worker.current !== job || worker.generation !== generation) return;
        this.#finish(worker, job);
        worker.processed++;
        this.#completed++;
        job.resolve?.(value as R);
        this.emit('job:completed', { workerId: worker.id, key: job.skey });
        this.#next(worker);
      },
      (error: unknown) => {
        if (worker.current !== job || worker.generation !== generation) return;
        if (error instanceof FatalWorkerError || error instanceof ThreadExitError) {
          this.#crash(worker, error, 'crashed');
          return;
        }
        this.#finish(worker, job);
        worker.failed++;
        this.#failed++;
        job.reject?.(error);
        this.emit('job:failed', { workerId: worker.id, key: job.skey, error });
        this.#next(worker);
      },
    );
  }

  #finish(worker: Worker<K, M, R>, job: Job<K, M, R>): void {
    worker.current = undefined;
    this.#inFlight--;
    this.#disown(job);
  }

  // ---- supervision ----------------------------------------------------------------------

  #spawn(id = this.#nextWorkerId++): Worker<K, M, R> {
    const worker = new Worker<K, M, R>(id, this.#levels, undefined as unknown as Runner);
    worker.runner = this.#makeRunner(worker);
    return worker;
  }

  #makeRunner(worker: Worker<K, M, R>): Runner {
    if (this.#threads !== undefined) {
      const generation = worker.generation;
      const thread = new ThreadRunner(worker.id, this.#threads, (death) => {
        // A thread that dies between jobs is replaced too, so its queue keeps moving.
        if (worker.generation === generation && worker.current === undefined) {
          this.#crash(worker, death, 'crashed');
        }
      });
      return {
        get ready() {
          return thread.ready;
        },
        run: (job) => thread.run(job.skey, job.attempt, job.msg),
        ping: () => thread.ping(),
        terminate: () => thread.terminate(),
      };
    }
    const handler = this.#handler as PoolHandler<M, R>;
    let busy: Promise<unknown> | undefined;
    return {
      ready: true,
      run: (job) => {
        const ctx: JobContext = {
          workerId: worker.id,
          key: job.skey,
          attempt: job.attempt,
          get signal() {
            return job.signal;
          },
        };
        const result = Promise.resolve(handler(job.msg as M, ctx));
        busy = result;
        return result;
      },
      // An in-process worker answers between jobs, as a mailbox would.
      ping: () =>
        busy === undefined
          ? Promise.resolve()
          : busy.then(
              () => undefined,
              () => undefined,
            ),
      terminate: () => Promise.resolve(),
    };
  }

  /** Replaces a worker under the same id, keeping its queue; handles the job it was running. */
  #crash(worker: Worker<K, M, R>, error: unknown, reason: 'crashed' | 'stuck'): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    const job = worker.current;
    const silentMs = reason === 'stuck' && worker.lastPingMs !== undefined ? worker.lastPingMs : 0;
    if (job !== undefined) {
      worker.current = undefined;
      this.#inFlight--;
      const inProcessStuck = reason === 'stuck' && this.#threads === undefined;
      if (job.retriesLeft > 0 && !inProcessStuck) {
        job.retriesLeft--;
        job.attempt++;
        this.#unshift(worker, job);
      } else {
        this.#disown(job);
        worker.failed++;
        this.#failed++;
        job.controller?.abort(error);
        job.reject?.(
          reason === 'stuck'
            ? new WorkerStuckError(worker.id, silentMs)
            : new WorkerCrashedError(worker.id, error),
        );
      }
    }
    void worker.runner.terminate();
    if (!this.#budget.tryRestart()) {
      this.#fail(new RestartBudgetExhaustedError('worker pool', this.#budget.restarts, error));
      return;
    }
    worker.generation++;
    worker.restarts++;
    worker.pingTimer?.cancel();
    worker.pingTimer = undefined;
    worker.runner = this.#makeRunner(worker);
    this.emit('worker:replaced', { workerId: worker.id, reason, error });
    this.#next(worker);
  }

  /** Puts a job back at the front of its worker's queue (it keeps its key ownership). */
  #unshift(worker: Worker<K, M, R>, job: Job<K, M, R>): void {
    const entry = worker.ledger.get(job.skey);
    if (entry === undefined) worker.ledger.set(job.skey, { count: 1, level: job.level });
    else entry.count++;
    worker.queue.unshift(job, job.level);
    this.#queued++;
  }

  #schedulePings(): void {
    const dms = this.#deadMan;
    if (dms === undefined || this.#state === 'closed' || this.#state === 'failed') return;
    this.#pingTimer = this.#clock.setTimer(
      () => {
        for (const w of this.#allWorkers()) this.#ping(w, dms);
        this.#schedulePings();
      },
      dms.intervalMs,
      { keepAlive: false },
    );
  }

  #ping(worker: Worker<K, M, R>, dms: Required<DeadManSwitch>): void {
    if (worker.pingTimer !== undefined || worker.state === 'stuck' || !worker.runner.ready) return;
    const generation = worker.generation;
    const sentAt = this.#clock.now();
    const timer = this.#clock.setTimer(
      () => {
        if (worker.generation !== generation || worker.pingTimer !== timer) return;
        worker.pingTimer = undefined;
        worker.lastPingMs = this.#clock.now() - sentAt;
        worker.state = 'stuck';
        this.emit('worker:stuck', { workerId: worker.id, silentMs: worker.lastPingMs });
        if (dms.kill)
          this.#crash(worker, new Error(`no answer to a ping for ${dms.timeoutMs} ms`), 'stuck');
      },
      dms.timeoutMs,
      { keepAlive: false },
    );
    worker.pingTimer = timer;
    void worker.runner.ping().then(() => {
      if (worker.generation !== generation || worker.pingTimer !== timer) return;
      timer.cancel();
      worker.pingTimer = undefined;
      worker.lastPingMs = this.#clock.now() - sentAt;
    });
  }

  /** Gives up on a worker's running job (close deadline): the caller gets `error`. */
  #abandon(worker: Worker<K, M, R>, error: Error): void {
    const job = worker.current;
    if (job === undefined) return;
    worker.current = undefined;
    worker.generation++;
    this.#inFlight--;
    this.#disown(job);
    this.#failed++;
    job.controller?.abort(error);
    job.reject?.(error);
  }

  /** The restart budget is spent: everything waiting rejects, the workers stop. */
  #fail(error: Error): void {
    this.#failure = error;
    for (const job of this.#takeAllQueued()) {
      this.#failed++;
      job.reject?.(error);
    }
    for (const w of this.#allWorkers()) this.#abandon(w, error);
    this.emit('pool:failed', { error });
    void this.#shutdown('failed');
  }

  async #shutdown(state: 'closed' | 'failed'): Promise<void> {
    this.#state = state;
    this.#pingTimer?.cancel();
    this.#delayTimer?.cancel();
    const workers = this.#allWorkers();
    for (const w of workers) w.pingTimer?.cancel();
    this.#active = [];
    this.#retiring.clear();
    await Promise.all(workers.map((w) => w.runner.terminate()));
    this.#checkIdle();
  }

  async #remove(worker: Worker<K, M, R>): Promise<void> {
    this.#retiring.delete(worker);
    worker.pingTimer?.cancel();
    await worker.runner.terminate();
  }

  // ---- discards, delays, bookkeeping ------------------------------------------------------

  #discard(job: Job<K, M, R>, reason: DiscardReason, detail: string): void {
    this.#discarded[reason]++;
    callSafely(this.#onDiscard, { key: job.key, msg: job.msg }, reason);
    this.emit('job:discarded', { key: job.skey, reason });
    job.reject?.(new DiscardedError(reason, detail));
  }

  #armDelay(): void {
    if (this.#delayTimer !== undefined || this.#limiter === undefined) return;
    this.#delayTimer = this.#clock.setTimer(() => {
      this.#delayTimer = undefined;
      while (
        this.#delayed.length > 0 &&
        this.#state !== 'closed' &&
        this.#limiter?.tryTake() === true
      ) {
        this.#route(this.#delayed.shift() as Job<K, M, R>);
      }
      if (this.#delayed.length > 0) this.#armDelay();
      this.#checkIdle();
    }, this.#limiter.waitMs());
  }

  /** Removes every queued job (shared, per worker, delayed), keeping the books straight. */
  #takeAllQueued(): Job<K, M, R>[] {
    const jobs = [...this.#delayed.splice(0), ...this.#sharedQueue.drain()];
    this.#sharedLedger.clear();
    for (const w of this.#allWorkers()) {
      for (const job of w.queue.drain()) {
        this.#disown(job);
        jobs.push(job);
      }
      w.ledger.clear();
    }
    this.#queued = 0;
    return jobs;
  }

  #allWorkers(): Worker<K, M, R>[] {
    return [...this.#active, ...this.#retiring];
  }

  #closedError(): Error {
    return this.#failure ?? new ClosedError('worker pool is closed: the job was not accepted');
  }

  #whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return this.#inFlight === 0 && this.#queued === 0 && this.#delayed.length === 0;
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
