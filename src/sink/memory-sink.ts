/**
 * MemorySink: the sink contract in memory, the reference and test double.
 *
 * `mode: 'insert'` keeps one row per entry id (a repeated id is ignored); `mode: 'upsert'`
 * keeps one row per key, the last write winning (with `versioned`, the highest version:
 * an older entry is counted as superseded and changes nothing). `check` plays the part of a
 * table's constraints: it may throw for an entry, and then nothing of that batch is written.
 */
import { booleanOption, choiceOption, functionOption, knownOptions } from '../core/options.js';
import type { Sink, SinkContext, SinkEntry, SinkFailure, SinkWriteResult } from './sink.js';

/** Options of `new MemorySink()`; a misspelled name is a ConfigError. */
export interface MemorySinkOptions<V> {
  /**
   * `insert`: one row per entry id (a repeated id is ignored); `upsert`: one row per key,
   * the last write winning (with `versioned`, the highest version).
   * @default 'upsert'
   */
  mode?: 'insert' | 'upsert';
  /** Throws for an entry the "table" refuses; the whole batch is then refused. */
  check?: (entry: SinkEntry<V>) => void;
  /** Upsert: an entry overwrites a row only if its version is higher. @default false */
  versioned?: boolean;
  /** Whose fault a failure is. @default every failure is `'unknown'` */
  classify?: (error: unknown) => SinkFailure;
  /** Runs before each write; throwing fails the write (to drive outages in tests). */
  beforeWrite?: (entries: readonly SinkEntry<V>[], context: SinkContext) => void | Promise<void>;
}

interface ResolvedMemorySink<V> {
  readonly mode: 'insert' | 'upsert';
  readonly check: ((entry: SinkEntry<V>) => void) | undefined;
  readonly versioned: boolean;
  readonly classify: (error: unknown) => SinkFailure;
  readonly beforeWrite:
    ((entries: readonly SinkEntry<V>[], context: SinkContext) => void | Promise<void>) | undefined;
}

const KNOWN: readonly (keyof MemorySinkOptions<unknown>)[] = [
  'mode',
  'check',
  'versioned',
  'classify',
  'beforeWrite',
];

function resolveMemorySink<V>(options: unknown): ResolvedMemorySink<V> {
  const o = knownOptions('MemorySink options', options, KNOWN);
  const optional = <F extends (...args: never[]) => unknown>(name: string): F | undefined =>
    o[name] === undefined ? undefined : functionOption<F>(name, o[name]);
  return {
    mode: choiceOption('mode', o.mode, 'upsert', ['insert', 'upsert']),
    check: optional('check'),
    versioned: booleanOption('versioned', o.versioned, false),
    classify: functionOption('classify', o.classify, (): SinkFailure => 'unknown'),
    beforeWrite: optional('beforeWrite'),
  };
}

/**
 * The sink contract in memory: the reference semantics and the test double. Rows live in
 * `rows`; `check` plays a table's constraints (it throws for an entry, and nothing of that
 * batch is written), `beforeWrite` can fail writes to stage an outage.
 */
export class MemorySink<V = unknown> implements Sink<V> {
  /** One row per entry id (`insert`) or per key (`upsert`). */
  readonly mode: 'insert' | 'upsert';
  /** Rows by entry id (insert) or by key (upsert), in first-written order. */
  readonly rows = new Map<string, SinkEntry<V>>();
  /** Batches written successfully, for tests that look at batching. */
  readonly batches: (readonly SinkEntry<V>[])[] = [];
  readonly #options: ResolvedMemorySink<V>;

  constructor(options: MemorySinkOptions<V> = {}) {
    this.#options = resolveMemorySink(options);
    this.mode = this.#options.mode;
  }

  async writeBatch(
    entries: readonly SinkEntry<V>[],
    context: SinkContext = {},
  ): Promise<SinkWriteResult> {
    await this.#options.beforeWrite?.(entries, context);
    if (this.#options.check !== undefined) for (const e of entries) this.#options.check(e);
    let duplicates = 0;
    let superseded = 0;
    for (const e of entries) {
      if (this.mode === 'insert') {
        if (this.rows.has(e.id)) duplicates++;
        else this.rows.set(e.id, e);
      } else {
        const row = this.rows.get(e.key);
        if (this.#options.versioned && row !== undefined && row.version >= e.version) {
          superseded++;
        } else {
          this.rows.set(e.key, e);
        }
      }
    }
    this.batches.push(entries);
    return { ...(duplicates > 0 ? { duplicates } : {}), ...(superseded > 0 ? { superseded } : {}) };
  }

  classify(error: unknown): SinkFailure {
    return this.#options.classify(error);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
