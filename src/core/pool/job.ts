/**
 * Job: one unit of work given to the pool, from `cast`/`call` until it ends.
 *
 * A job ends exactly once: completed, failed or discarded (its caller, if any, is settled
 * then and only then). Its `level` is its priority, lowered if needed so it never overtakes
 * an earlier job of its key (see `job-queue.ts`). Bad per-call input (a job that is not an
 * object, a key that is neither a string nor a number, a priority out of range) is an
 * {@link InputError}: the pool's options were fine, this one call was not.
 */
import { ConfigError, InputError } from '../../errors.js';
import { integerOption, numberOption } from '../options.js';

/** A job's key: what routing hashes, as a string, to keep one key's jobs in order. */
export type PoolKey = string | number;

/** A job as `cast` and `call` take it. */
export interface JobSpec<K extends PoolKey, M> {
  /** Routing key; the keyed modes run one key's jobs one at a time, in order. */
  key: K;
  /** What the handler receives. */
  msg: M;
  /** Discard the job if it has not started this long after submission. @default pool ttlMs */
  ttlMs?: number;
  /** Priority level, 0 (lowest) to `priorities - 1`. @default 0 */
  priority?: number;
  /** Times the job is re-dispatched if its worker crashes under it. @default 0 */
  retries?: number;
}

/** What a handler gets beside the message. */
export interface JobContext {
  /** The worker running the job (`WorkerStats.id`). */
  readonly workerId: number;
  /** The job's key, as a string. */
  readonly key: string;
  /** 1, then 2... when re-dispatched after a crash. */
  readonly attempt: number;
  /** Aborted when the pool abandons this job (stuck worker, close deadline). */
  readonly signal: AbortSignal;
}

/**
 * Runs one job; its result (or rejection) settles the job's `call`. Throw FatalWorkerError
 * to say the worker itself is unusable and must be replaced.
 */
export type PoolHandler<M, R> = (msg: M, ctx: JobContext) => R | Promise<R>;

/**
 * What the pool's parts other than the facade need of a job, whatever its key, message and
 * result types: queues order it, runners run it, supervision retries or gives up on it.
 */
export interface PoolJob {
  readonly skey: string;
  readonly msg: unknown;
  level: number;
  attempt: number;
  retriesLeft: number;
  readonly signal: AbortSignal;
  abort(reason: unknown): void;
}

export class Job<K extends PoolKey = PoolKey, M = unknown, R = unknown> implements PoolJob {
  /** Effective priority level: never above the level of an earlier queued job of its key. */
  level = 0;
  attempt = 1;
  resolve: ((value: R) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;
  #controller: AbortController | undefined = undefined;

  constructor(
    readonly key: K,
    /** The key as a string: what routing hashes and what events and handlers see. */
    readonly skey: string,
    readonly msg: M,
    /** Clock time after which the job may no longer start; `Infinity` for no ttl. */
    readonly expiresAt: number,
    public retriesLeft: number,
  ) {}

  /** Created on first use, so jobs whose handler never looks pay nothing. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** Whether the job waited past its ttl: it is discarded before it starts, never after. */
  expired(now: number): boolean {
    return this.expiresAt !== Infinity && now > this.expiresAt;
  }

  /** Tells a handler still running it that the pool gave up on it. */
  abort(reason: unknown): void {
    this.#controller?.abort(reason);
  }
}

/** What a job takes from the pool when its spec leaves a field out. */
export interface JobDefaults {
  ttlMs: number;
  /** Number of priority levels: a priority is in `[0, levels - 1]`. */
  levels: number;
  now: number;
}

/** Checks a job spec and makes the job; a bad field is an {@link InputError} naming it. */
export function createJob<K extends PoolKey, M, R>(
  spec: JobSpec<K, M>,
  defaults: JobDefaults,
): Job<K, M, R> {
  return asInputError(() => {
    if (typeof spec !== 'object' || spec === null) {
      throw new ConfigError('job', 'an object { key, msg }', spec);
    }
    const { key } = spec;
    if (typeof key !== 'string' && typeof key !== 'number') {
      throw new ConfigError('job.key', 'a string or a number', key);
    }
    const ttl = numberOption('job.ttlMs', spec.ttlMs, defaults.ttlMs, 0);
    const job = new Job<K, M, R>(
      key,
      typeof key === 'string' ? key : String(key),
      spec.msg,
      ttl === Infinity ? Infinity : defaults.now + ttl,
      integerOption('job.retries', spec.retries, 0, 0),
    );
    job.level = integerOption('job.priority', spec.priority, 0, 0, defaults.levels - 1);
    return job;
  });
}

/** The option checkers speak of options; for a job they speak of the call's input. */
function asInputError<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ConfigError) throw new InputError(error.message);
    throw error;
  }
}
