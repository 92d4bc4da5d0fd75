/**
 * WorkerPoolOptions and their one resolver: every field is checked at construction (names
 * too: a misspelled one is a ConfigError naming the nearest known one), and every default
 * is filled in here and nowhere else.
 */
import { ConfigError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import {
  booleanOption,
  choiceOption,
  functionOption,
  integerOption,
  knownOptions,
  numberOption,
  serviceOption,
} from '../options.js';
import { resolveRestartPolicy, type RestartPolicy } from '../restart-budget.js';
import type { DiscardHandler, QueueOptions } from './discard.js';
import type { PoolHandler, PoolKey } from './job.js';
import type { ResolvedRateLimit } from './rate-gate.js';
import type { RateLimit } from './rate-limiter.js';
import { resolveRouting, type ResolvedRouting, type RoutingMode } from './routing.js';
import type { DeadManSwitch } from './supervision.js';
import type { ThreadOptions } from './thread-worker.js';

/**
 * Options of `new WorkerPool()`. Give `handler` or `threads`; everything else has a default.
 * Each field is checked at construction: a bad value or a misspelled name is a ConfigError.
 */
export interface WorkerPoolOptions<K extends PoolKey, M, R> {
  /** Number of workers. @default 4 */
  workers?: number;
  /**
   * Which worker a job goes to; {@link RoutingMode} says which to choose.
   * @default 'keyPersistent'
   */
  routing?: RoutingMode;
  /** In-process handler; give this or `threads`. */
  handler?: PoolHandler<M, R>;
  /** Run each worker in a thread that loads this module's handler. */
  threads?: ThreadOptions;
  /** Queue bound: on the shared queue in queueing modes, per worker otherwise. */
  queue?: QueueOptions;
  /** Default time a job may wait before it starts, ms. @default no limit */
  ttlMs?: number;
  /** Number of priority levels. @default 1 */
  priorities?: number;
  /** Ping the workers and report (or replace) those that do not answer. @default off */
  deadManSwitch?: DeadManSwitch;
  /** Admit at most this many jobs per interval. @default no limit */
  rateLimit?: RateLimit;
  /** Budget for replacing crashed or stuck workers. @default { maxRestarts: 10, withinMs: 60000 } */
  restart?: RestartPolicy;
  /** Called with every discarded job. @default none */
  onDiscard?: DiscardHandler<K, M>;
  /** Source of time and timers; a ManualClock drives them in tests. @default systemClock */
  clock?: Clock;
}

export interface ResolvedPoolOptions<K extends PoolKey, M, R> {
  workers: number;
  routing: ResolvedRouting;
  /** Exactly one of `handler` and `threads` is set. */
  handler: PoolHandler<M, R> | undefined;
  threads: ThreadOptions | undefined;
  /** `Infinity`: no limit. */
  queueLimit: number;
  discard: 'oldest' | 'newest';
  ttlMs: number;
  priorities: number;
  deadManSwitch: Required<DeadManSwitch> | undefined;
  rateLimit: ResolvedRateLimit | undefined;
  restart: RestartPolicy;
  onDiscard: DiscardHandler<K, M> | undefined;
  clock: Clock;
}

const known = [
  'workers',
  'routing',
  'handler',
  'threads',
  'queue',
  'ttlMs',
  'priorities',
  'deadManSwitch',
  'rateLimit',
  'restart',
  'onDiscard',
  'clock',
] as const satisfies readonly (keyof WorkerPoolOptions<PoolKey, unknown, unknown>)[];

export function resolvePoolOptions<K extends PoolKey, M, R>(
  options: WorkerPoolOptions<K, M, R>,
): ResolvedPoolOptions<K, M, R> {
  const o = knownOptions('WorkerPool options', options, known);
  if ((o.handler === undefined) === (o.threads === undefined)) {
    throw new ConfigError('handler', 'a function, or `threads` instead (exactly one)', o.handler);
  }
  const q = knownOptions('queue', o.queue, ['limit', 'discard']);
  return {
    workers: integerOption('workers', o.workers, 4, 1),
    routing: resolveRouting(o.routing),
    handler:
      o.handler === undefined ? undefined : functionOption<PoolHandler<M, R>>('handler', o.handler),
    threads: o.threads === undefined ? undefined : resolveThreads(o.threads),
    queueLimit:
      q.limit === undefined ? Infinity : integerOption('queue.limit', q.limit, undefined, 0),
    discard: choiceOption('queue.discard', q.discard, 'newest', ['oldest', 'newest']),
    ttlMs: numberOption('ttlMs', o.ttlMs, Infinity, 0),
    priorities: integerOption('priorities', o.priorities, 1, 1, 100),
    deadManSwitch: o.deadManSwitch === undefined ? undefined : resolveDeadMan(o.deadManSwitch),
    rateLimit: o.rateLimit === undefined ? undefined : resolveRateLimit(o.rateLimit),
    restart: resolveRestart(o.restart),
    onDiscard:
      o.onDiscard === undefined
        ? undefined
        : functionOption<DiscardHandler<K, M>>('onDiscard', o.onDiscard),
    clock: serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
  };
}

function resolveThreads(value: unknown): ThreadOptions {
  const t = knownOptions('threads', value, ['module', 'workerData']);
  if (typeof t.module !== 'string' && !(t.module instanceof URL)) {
    throw new ConfigError('threads.module', 'a module path or URL', t.module);
  }
  return { module: t.module, workerData: t.workerData };
}

function resolveDeadMan(value: unknown): Required<DeadManSwitch> {
  const d = knownOptions('deadManSwitch', value, ['intervalMs', 'timeoutMs', 'kill']);
  return {
    intervalMs: numberOption('deadManSwitch.intervalMs', d.intervalMs, undefined, 1),
    timeoutMs: numberOption('deadManSwitch.timeoutMs', d.timeoutMs, undefined, 1),
    kill: booleanOption('deadManSwitch.kill', d.kill, false),
  };
}

function resolveRateLimit(value: unknown): ResolvedRateLimit {
  const r = knownOptions('rateLimit', value, ['limit', 'intervalMs', 'burst', 'mode']);
  const limit = integerOption('rateLimit.limit', r.limit, undefined, 1);
  return {
    limit,
    intervalMs: numberOption('rateLimit.intervalMs', r.intervalMs, 1000, 1),
    burst: integerOption('rateLimit.burst', r.burst, limit, 1),
    mode: choiceOption('rateLimit.mode', r.mode, 'reject', ['reject', 'delay']),
  };
}

function resolveRestart(value: unknown): RestartPolicy {
  if (value === undefined) return { maxRestarts: 10, withinMs: 60_000 };
  // The shared policy parser reads the fields; the names are checked here.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    knownOptions('restart', value, ['maxRestarts', 'withinMs']);
  }
  return resolveRestartPolicy(value);
}
