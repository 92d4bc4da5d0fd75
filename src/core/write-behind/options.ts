/**
 * WriteBehind's options: the documented type, and the one resolver that fills every default
 * and checks every field (a misspelled name is a ConfigError naming the nearest known one).
 * Every default of the pipeline is written here and nowhere else.
 */
import { ConfigError, InputError, show } from '../../errors.js';
import type { DeadLetterStore } from '../../journal/dead-letters.js';
import type { Journal } from '../../journal/journal.js';
import type { Sink } from '../../sink/sink.js';
import { systemClock, type Clock } from '../clock.js';
import {
  booleanOption,
  choiceOption,
  integerOption,
  knownOptions,
  numberOption,
  serviceOption,
  stringOption,
} from '../options.js';
import { resolveRetryPolicy, type RetryPolicy } from '../retry.js';

/** The consumer name of a pipeline's checkpoint unless `consumer` says otherwise. */
export const DEFAULT_CONSUMER = 'write-behind';

/**
 * Options of `WriteBehind.open()`. Only `journal` and `sink` are required; an unknown or
 * misspelled option is a ConfigError naming the nearest known one.
 */
export interface WriteBehindOptions<V> {
  /**
   * A durable journal, or `'memory'`: a bounded in-memory queue, no durability (what is not
   * yet in the sink is lost if the process dies). In memory an id deduplicates at least
   * until the watermark passes its entry, and usually about a backlog longer.
   */
  journal: Journal | 'memory';
  /** Where entries land, in batches, idempotently by entry id. */
  sink: Sink<V>;
  /**
   * A batch is written at `maxSize` entries or `maxDelayMs` after its first, and cut into
   * sink writes of at most `maxBytes` of payload each (at least one entry each).
   * @default { maxSize: 500, maxDelayMs: 20, maxBytes: 4194304 }
   */
  batch?: {
    /** Entries per batch, at most. @default 500 */
    maxSize?: number;
    /** Longest wait from a batch's first entry to its write, in ms. @default 20 */
    maxDelayMs?: number;
    /** Payload bytes per sink write, at most (one entry at least). @default 4194304 */
    maxBytes?: number;
  };
  /** Lanes writing in parallel, one sink write each at a time; a key stays on one. @default 4 */
  workers?: number;
  /** Backoff for a sink outage (and a failing dead-letter store); retried until it passes. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
  /** Entries appended and not yet in the sink or dead letters. @default 100000 */
  maxBacklog?: number;
  /**
   * Payload bytes (characters of JSON text, or bytes) the pipeline holds in memory: entries
   * read and not yet in the sink or dead letters (in memory mode, every entry not finished).
   * @default 67108864 (64 MiB)
   */
  maxBacklogBytes?: number;
  /** A value whose encoded payload is larger is refused at `write`. @default 4194304 (4 MiB) */
  maxEntryBytes?: number;
  /** What `write` does at `maxBacklog` or `maxBacklogBytes`. @default 'wait' */
  overflow?: 'wait' | 'reject';
  /** Within a batch, keep only the last entry of each key. @default false */
  coalesce?: boolean;
  /**
   * Handled entries kept in a durable journal behind the checkpoint; older ones are deleted
   * as the checkpoint moves (never past another consumer's checkpoint). Ids deduplicate
   * only while their entry is kept, so this is also the idempotency window. `Infinity`
   * keeps everything. (Memory mode keeps no handled value; it keeps their ids for a while,
   * see `journal`.) @default 100000
   */
  retain?: number;
  /** Consumer name of the checkpoint. @default 'write-behind' */
  consumer?: string;
  /** Where failing entries go. @default the journal's own store (memory mode: in memory) */
  deadLetters?: DeadLetterStore;
  /** Source of time and timers; a ManualClock drives them in tests. @default systemClock */
  clock?: Clock;
}

/** Every option filled in and checked. */
export interface ResolvedOptions<V> {
  readonly journal: Journal | 'memory';
  readonly sink: Sink<V>;
  readonly maxSize: number;
  readonly maxDelayMs: number;
  readonly batchMaxBytes: number;
  readonly workers: number;
  /** The outage backoff: retried without end. */
  readonly retry: RetryPolicy;
  readonly maxBacklog: number;
  readonly maxBacklogBytes: number;
  readonly maxEntryBytes: number;
  readonly overflow: 'wait' | 'reject';
  readonly coalesce: boolean;
  readonly retain: number;
  readonly consumer: string;
  readonly deadLetters: DeadLetterStore | undefined;
  readonly clock: Clock;
}

const MIB = 1024 * 1024;
const WHERE = 'WriteBehind.open() options';
/** The option names `WriteBehind.open()` takes (the cluster pipeline adds its own). */
export const WRITE_BEHIND_OPTIONS = [
  'journal',
  'sink',
  'batch',
  'workers',
  'retry',
  'maxBacklog',
  'maxBacklogBytes',
  'maxEntryBytes',
  'overflow',
  'coalesce',
  'retain',
  'consumer',
  'deadLetters',
  'clock',
] as const;
const BATCH = ['maxSize', 'maxDelayMs', 'maxBytes'] as const;
const RETRY = ['minDelayMs', 'maxDelayMs', 'multiplier', 'jitter'] as const;
const OUTAGE_BACKOFF = {
  minDelayMs: 50,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: 'full',
} as const;

export function resolveWriteBehindOptions<V>(options: WriteBehindOptions<V>): ResolvedOptions<V> {
  const o = knownOptions(WHERE, options, WRITE_BEHIND_OPTIONS);
  const journal =
    o.journal === 'memory'
      ? 'memory'
      : serviceOption<Journal>('journal', o.journal, [
          'append',
          'read',
          'commit',
          'committed',
          'waitForAppend',
          'truncate',
          'stats',
          'acquire',
          'close',
        ]);
  const sink = serviceOption<Sink<V>>('sink', o.sink, ['writeBatch']);
  const classify: unknown = (sink as { classify?: unknown }).classify;
  if (classify !== undefined && typeof classify !== 'function') {
    throw new ConfigError('sink.classify', 'a function when given', classify);
  }
  const b = knownOptions('batch', o.batch, BATCH);
  const r = knownOptions('retry', o.retry, RETRY);
  const deadLetters =
    o.deadLetters === undefined
      ? undefined
      : serviceOption<DeadLetterStore>('deadLetters', o.deadLetters, [
          'add',
          'list',
          'get',
          'remove',
          'count',
        ]);
  return {
    journal,
    sink,
    maxSize: integerOption('batch.maxSize', b.maxSize, 500, 1),
    maxDelayMs: numberOption('batch.maxDelayMs', b.maxDelayMs, 20, 0),
    batchMaxBytes: integerOption('batch.maxBytes', b.maxBytes, 4 * MIB, 1),
    workers: integerOption('workers', o.workers, 4, 1, 256),
    retry: resolveRetryPolicy({ ...OUTAGE_BACKOFF, ...r, maxAttempts: Number.MAX_SAFE_INTEGER }),
    maxBacklog: integerOption('maxBacklog', o.maxBacklog, 100_000, 1),
    maxBacklogBytes: integerOption('maxBacklogBytes', o.maxBacklogBytes, 64 * MIB, 1),
    maxEntryBytes: integerOption('maxEntryBytes', o.maxEntryBytes, 4 * MIB, 1),
    overflow: choiceOption('overflow', o.overflow, 'wait', ['wait', 'reject']),
    coalesce: booleanOption('coalesce', o.coalesce, false),
    retain: o.retain === Infinity ? Infinity : integerOption('retain', o.retain, 100_000, 0),
    consumer: stringOption('consumer', o.consumer, DEFAULT_CONSUMER),
    deadLetters,
    clock: serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
  };
}

/** A write's options (a per-call argument: a bad one is an InputError); returns its `id`. */
export function resolveWriteOptions(options: { id?: string }): string | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new InputError(`write options must be an object when given, got ${show(options)}`);
  }
  for (const name in options) {
    if (name !== 'id' && Object.hasOwn(options, name))
      throw new InputError(`write options take only \`id\`, got \`${name}\``);
  }
  return options.id;
}
