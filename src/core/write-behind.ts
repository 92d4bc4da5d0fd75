/**
 * WriteBehind: the durable pipeline from `write()` to the store.
 *
 * ```
 * write ─▶ Journal.append (durable) ─▶ reader (from the checkpoint) ─▶ WorkerPool (by key)
 *        ─▶ the worker's Batcher ─▶ Sink.writeBatch (retry transient; split out poison)
 *        ─▶ Watermark ─▶ commit the checkpoint
 * ```
 *
 * Promises:
 * - `write` resolves once the entry is in the journal; from then on it reaches the sink or
 *   the dead letters, across restarts: on open, whatever the journal holds past the
 *   checkpoint is processed first. The checkpoint only moves to the watermark (every entry
 *   at or below it is in the sink or the dead letters), so workers finishing out of order
 *   lose nothing.
 * - Per-key order: a key's entries go to one worker (the key's hash picks it; the pool is
 *   never resized), in journal order, and its Batcher flushes them in order, one flush at a
 *   time.
 * - Bounded memory, in entries and in bytes: at most `maxBacklog` entries are appended and
 *   not yet finished, and the entries read and not yet finished (in the reader, the pool,
 *   the batchers, retries) hold at most `maxBacklogBytes` of payload (one entry past it at
 *   most); beyond either, `write` waits (or rejects with QueueFullError under
 *   `overflow: 'reject'`), and reads are sized to fit, so a backlog of any size on disk is
 *   worked off within the bound. A value larger than `maxEntryBytes` is refused at `write`.
 * - A sink that cannot take writes now (`sink.classify(error) === 'unavailable'`: a lost
 *   connection, a lock timeout, a table being migrated) is an outage, not bad entries: the
 *   batch is retried as it is, with backoff, for as long as it takes (`sink:unavailable`,
 *   then `sink:available`); the entries wait in the journal and backpressure reaches
 *   `write`. An error that blames an entry (`'rejected'`, or `'unknown'`) splits the batch
 *   in halves until the failing entries are found: the others land, each failing one goes
 *   to the dead letters with its error and attempt count. When every entry of a batch then
 *   fails alone with the same `'unknown'` error, that was the sink failing: an outage again.
 * - One pipeline per journal consumer: `open` takes the consumer (`journal.acquire`) and
 *   refuses with JournalLockedError while another pipeline holds it; `close` lets it go.
 * - Sink ids: a write's `id`, or `<journal id>:<version>` (unique beyond one journal); a
 *   replayed dead letter keeps the id and version it first had, so replay is idempotent and,
 *   with a version-guarded sink, cannot put an older value over a newer one.
 *
 * `journal: 'memory'` runs the same pipeline on a MemoryJournal whose handled entries are
 * truncated as the checkpoint moves: faster, bounded, and it LOSES whatever is not yet in
 * the sink if the process dies.
 */
import {
  ClosedError,
  DeadLetteredError,
  InputError,
  JournalReadError,
  JournalWriteError,
  QueueFullError,
  SluiceError,
  messageOf,
  show,
} from '../errors.js';
import { Batcher } from './batcher.js';
import { sleep, systemClock, type Clock, type Timer } from './clock.js';
import { Emitter } from './events.js';
import { Histogram, type HistogramSnapshot } from './histogram.js';
import { choiceOption, integerOption, numberOption, objectOption } from './options.js';
import { hashKey } from './pool/routing.js';
import { WorkerPool, type WorkerStats } from './pool/worker-pool.js';
import { computeDelay, resolveRetryPolicy, retry, type RetryPolicy } from './retry.js';
import { Watermark } from './watermark.js';
import {
  MemoryDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type DeadLetterStore,
} from '../journal/dead-letters.js';
import type { ConsumerHold, Journal, JournalEntry } from '../journal/journal.js';
import { MemoryJournal } from '../journal/memory-journal.js';
import type { Payload } from '../journal/codec.js';
import type { Sink, SinkEntry, SinkFailure, SinkWriteResult } from '../sink/sink.js';

export interface WriteBehindOptions<V> {
  /** A durable journal, or `'memory'` (no durability: see the module doc). */
  journal: Journal | 'memory';
  sink: Sink<V>;
  /**
   * A batch is written at `maxSize` entries or `maxDelayMs` after its first, and cut into
   * sink writes of at most `maxBytes` of payload each (at least one entry each).
   * @default { maxSize: 500, maxDelayMs: 20, maxBytes: 4194304 }
   */
  batch?: { maxSize?: number; maxDelayMs?: number; maxBytes?: number };
  /** Workers writing in parallel (one sink write each at a time). @default 4 */
  workers?: number;
  /** Backoff for a sink outage (and a failing dead-letter store); retried until it passes. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>>;
  /** Entries appended and not yet in the sink or dead letters. @default 100000 */
  maxBacklog?: number;
  /**
   * Payload bytes (characters of JSON text, or bytes) the pipeline holds in memory: entries
   * read and not yet in the sink or dead letters. @default 67108864 (64 MiB)
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
   * keeps everything. (A memory journal keeps nothing it has handled.) @default 100000
   */
  retain?: number;
  /** Consumer name of the checkpoint. @default 'write-behind' */
  consumer?: string;
  /** Where failing entries go. @default the journal's own store */
  deadLetters?: DeadLetterStore;
  /** @default systemClock */
  clock?: Clock;
}

/** The pipeline's dead letters: look at them, put them back in the journal, or purge them. */
export interface DeadLetters {
  list(options?: { after?: number; limit?: number }): Promise<DeadLetter[]>;
  count(): Promise<number>;
  /** Appends these letters to the journal again (the pipeline retries them) and removes them. */
  replay(ids: readonly number[]): Promise<{ replayed: number; positions: number[] }>;
  /** Removes these letters for good; returns how many were removed. */
  purge(ids: readonly number[]): Promise<number>;
}

export interface WriteOptions {
  /** Idempotency key: a write whose id is already in the journal is not written again. */
  id?: string;
}

export interface WriteBehindMetrics {
  written: number;
  persisted: number;
  /** Entries a version-guarded sink did not apply: the row held a newer version. */
  superseded: number;
  /** Entries the sink already had (by id): re-deliveries. */
  duplicates: number;
  retried: number;
  deadLettered: number;
  batches: number;
  /** Times the sink became unavailable (an outage began). */
  outages: number;
  /** How long the current outage has lasted; 0 while the sink takes writes. */
  unavailableForMs: number;
  /** Entries appended and not yet finished. */
  backlog: number;
  /** Payload bytes of the entries read and not yet finished (bounded by `maxBacklogBytes`). */
  backlogBytes: number;
  /** Journal positions the checkpoint is behind the newest append. */
  lag: number;
  batchSize: HistogramSnapshot;
  flushLatencyMs: HistogramSnapshot;
  endToEndLatencyMs: HistogramSnapshot;
  workers: WorkerStats[];
}

export interface WriteBehindEvents {
  'batch:flushed': { workerId: number; size: number; latencyMs: number };
  'entry:deadLettered': { position: number; key: string; error: string };
  'sink:retry': { attempt: number; delayMs: number; error: unknown };
  /** The sink stopped taking writes (an outage began); entries wait and are retried. */
  'sink:unavailable': { error: unknown };
  /** The sink takes writes again after an outage of `downMs`. */
  'sink:available': { downMs: number };
  /** The dead-letter store failed; the letters are retried after `delayMs`. */
  'deadLetters:retry': { attempt: number; delayMs: number; error: unknown };
  /** A journal read failed; it is tried again after `delayMs` (a bounded number of times). */
  'journal:readFailed': { attempt: number; delayMs: number; error: unknown };
  /** A checkpoint commit (or a trim behind it) failed; the next batch commits again. */
  'checkpoint:failed': { error: unknown };
  /**
   * The pipeline stopped on its own: the journal could not be read (or a flush failed in a
   * way it could not retry). Writes, flushes and close report `error`; what was not finished
   * stays in the journal for the next open.
   */
  'pipeline:failed': { error: SluiceError };
  [event: string]: unknown;
}

export interface WriteBehindCloseResult {
  /** Whether everything written reached the sink or the dead letters before the deadline. */
  drained: boolean;
  /** Entries left in the journal for the next open. */
  remaining: number;
}

/** Entries deleted from a durable journal per trim: at least, and at most. */
const TRIM_MIN = 1_000;
const TRIM_MAX = 10_000;

const DEFAULT_RETRY = { minDelayMs: 50, maxDelayMs: 5_000, multiplier: 2, jitter: 'full' } as const;

export class WriteBehind<V extends Payload>
  extends Emitter<WriteBehindEvents>
  implements AsyncDisposable
{
  readonly journal: Journal;
  readonly deadLetters: DeadLetters;
  readonly #store: DeadLetterStore;
  readonly #sink: Sink<V>;
  readonly #memory: boolean;
  readonly #consumer: string;
  readonly #maxBacklog: number;
  readonly #maxBacklogBytes: number;
  readonly #maxEntryBytes: number;
  readonly #batchMaxBytes: number;
  /** Payload bytes of the entries read and not yet finished. */
  #memoryBytes = 0;
  /**
   * The largest entry of the last read, to size the next read to the bytes left. It starts
   * at `maxEntryBytes`, so a first read of large entries cannot fetch more than fits.
   */
  #entryBytesEstimate: number;
  readonly #overflow: 'wait' | 'reject';
  readonly #coalesce: boolean;
  readonly #retain: number;
  /** Lowest position the journal may still hold: where the next truncation starts. */
  #retainedFrom: number;
  /** No trim before the mark reaches this: set when another consumer held the last one back. */
  #nextTrimAt = 0;
  readonly #retry: RetryPolicy;
  /** The same backoff, for a journal read: READ_ATTEMPTS tries, then the pipeline stops. */
  readonly #readRetry: RetryPolicy;
  readonly #clock: Clock;
  readonly #pool: WorkerPool<string, JournalEntry[], void>;
  readonly #batchers: Batcher<JournalEntry, void>[];
  readonly #watermark: Watermark;
  readonly #stop = new AbortController();
  readonly #hold: ConsumerHold;

  /** Highest position appended (or found at open). */
  #head: number;
  /** Highest position a write of this process was acknowledged at. */
  #acknowledged = 0;
  /** Set once close() let the consumer go: nothing may commit for it after that. */
  #released = false;
  /** Appends started and not yet resolved (they will each add at most one entry). */
  #appending = 0;
  #committed: number;
  #committing: Promise<void> | undefined;
  #reader: Promise<void>;
  #closing: Promise<WriteBehindCloseResult> | undefined;
  #roomWaiters: (() => void)[] = [];
  /** Woken when no append is in flight (close waits for writes it had let in). */
  #appendWaiters: (() => void)[] = [];
  #markWaiters: MarkWaiter[] = [];
  /** Set once the pipeline has stopped on its own; every later call reports it. */
  #failure: SluiceError | undefined;
  readonly #failed = new Map<number, unknown>();
  /** Append time by position, for end-to-end latency (only entries written by this process). */
  readonly #appendedAt = new Map<number, number>();

  #written = 0;
  #persisted = 0;
  #superseded = 0;
  #duplicates = 0;
  #retried = 0;
  #deadLettered = 0;
  #batches = 0;
  #outages = 0;
  /** When the current outage began; undefined while the sink takes writes. */
  #unavailableSince: number | undefined;
  readonly #batchSize = new Histogram();
  readonly #flushLatency = new Histogram();
  readonly #endToEnd = new Histogram();

  private constructor(
    journal: Journal,
    memory: boolean,
    options: WriteBehindOptions<V>,
    committed: number,
    head: number,
    first: number,
    hold: ConsumerHold,
  ) {
    super();
    this.#hold = hold;
    const o = objectOption('options', options);
    this.journal = journal;
    this.#memory = memory;
    this.#sink = options.sink;
    this.#consumer = (o.consumer as string | undefined) ?? 'write-behind';
    this.#maxBacklog = integerOption('maxBacklog', o.maxBacklog, 100_000, 1);
    this.#maxBacklogBytes = integerOption('maxBacklogBytes', o.maxBacklogBytes, 64 * MIB, 1);
    this.#maxEntryBytes = integerOption('maxEntryBytes', o.maxEntryBytes, 4 * MIB, 1);
    this.#entryBytesEstimate = this.#maxEntryBytes;
    this.#overflow = choiceOption('overflow', o.overflow, 'wait', ['wait', 'reject']);
    this.#coalesce = o.coalesce === true;
    this.#retain = o.retain === Infinity ? Infinity : integerOption('retain', o.retain, 100_000, 0);
    this.#retainedFrom = first;
    this.#clock = (o.clock as Clock | undefined) ?? systemClock;
    this.#retry = resolveRetryPolicy({
      ...DEFAULT_RETRY,
      ...(o.retry as object | undefined),
      maxAttempts: Number.MAX_SAFE_INTEGER,
    });
    this.#readRetry = { ...this.#retry, maxAttempts: READ_ATTEMPTS };
    const store = options.deadLetters ?? journal.deadLetters?.() ?? new MemoryDeadLetters();
    this.#store = store;
    this.deadLetters = {
      list: (opts) => store.list(opts),
      count: () => store.count(),
      replay: (ids) => replayDeadLetters(store, journal, ids),
      purge: async (ids) => (await store.remove(ids)).length,
    };
    const b = objectOption('batch', o.batch);
    const maxSize = integerOption('batch.maxSize', b.maxSize, 500, 1);
    const maxDelayMs = numberOption('batch.maxDelayMs', b.maxDelayMs, 20, 0);
    this.#batchMaxBytes = integerOption('batch.maxBytes', b.maxBytes, 4 * MIB, 1);
    const workers = integerOption('workers', o.workers, 4, 1, 256);
    this.#batchers = Array.from(
      { length: workers },
      (_, workerId) =>
        new Batcher<JournalEntry, void>({
          maxSize,
          maxDelayMs,
          maxPending: Math.max(maxSize, this.#maxBacklog),
          clock: this.#clock,
          flush: (entries) => this.#flush(workerId, entries),
        }),
    );
    // A job is the run of entries one read found for one worker (their keys hash to it,
    // so a key always meets the same worker), in journal order; the worker hands them to
    // its Batcher and is done, so it keeps taking jobs while the Batcher batches. One job
    // per run rather than per entry keeps the pool's bookkeeping off the per-entry cost.
    this.#pool = new WorkerPool<string, JournalEntry[], void>({
      workers,
      routing: { customHash: (slot) => Number(slot) },
      clock: this.#clock,
      handler: (run, ctx) => {
        const batcher = this.#batchers[ctx.workerId] as Batcher<JournalEntry, void>;
        for (const entry of run) {
          batcher.submit(entry).catch((error: unknown) => {
            // A flush gives up only when closing (its entries stay in the journal); any
            // other failure here would stall the pipeline silently, so it stops it loudly.
            if (!this.#stop.signal.aborted) this.#fail(error);
          });
        }
      },
    });
    this.#committed = committed;
    this.#head = head;
    this.#watermark = new Watermark(committed);
    this.#reader = this.#read(committed);
  }

  /** Opens the pipeline and starts processing what the journal holds past the checkpoint. */
  static async open<V extends Payload>(options: WriteBehindOptions<V>): Promise<WriteBehind<V>> {
    const o = objectOption('options', options);
    const sink = o.sink as Sink<V> | undefined;
    if (sink === undefined || typeof sink.writeBatch !== 'function') {
      throw new InputError('WriteBehind.open() needs a `sink` with writeBatch()');
    }
    const memory = o.journal === 'memory';
    const journal = memory ? new MemoryJournal() : (o.journal as Journal | undefined);
    if (journal === undefined || typeof journal.append !== 'function') {
      throw new InputError("WriteBehind.open() needs a `journal`: a Journal or 'memory'");
    }
    if (typeof journal.acquire !== 'function') {
      throw new InputError(
        'WriteBehind.open() needs a journal with acquire(consumer): one pipeline per consumer',
      );
    }
    const consumer = (o.consumer as string | undefined) ?? 'write-behind';
    const hold = await journal.acquire(consumer);
    try {
      const committed = await journal.committed(consumer);
      const { head, first } = await journal.stats();
      return new WriteBehind(journal, memory, options, committed, head, first, hold);
    } catch (error) {
      await hold.release();
      throw error;
    }
  }

  /** Resolves once the entry is durable in the journal (in memory mode: accepted). */
  async write(key: string, value: V, options: WriteOptions = {}): Promise<number> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closing !== undefined)
      throw new ClosedError('write-behind is closed: the write was not accepted');
    if (typeof key !== 'string' || key.length === 0) {
      throw new InputError(`key must be a non-empty string, got ${show(key)}`);
    }
    if (typeof options !== 'object' || options === null) {
      throw new InputError(`write options must be an object when given, got ${show(options)}`);
    }
    const id = options.id;
    await this.#room(); // counts this write in #appending when it lets it through
    try {
      let position: number | undefined;
      try {
        [position] = await this.journal.append(
          [{ key, payload: value, ...(id === undefined ? {} : { id }) }],
          { maxRecordBytes: this.#maxEntryBytes },
        );
      } catch (error) {
        if (error instanceof SluiceError) throw error;
        throw new JournalWriteError(`the journal refused the write: ${String(error)}`, {
          cause: error,
        });
      }
      const p = position as number;
      if (p > this.#acknowledged) this.#acknowledged = p;
      if (p > this.#head) {
        this.#head = p;
        this.#appendedAt.set(p, this.#clock.now());
        this.#written++;
      }
      return p;
    } finally {
      this.#appending--;
      if (this.#appending === 0) for (const settled of this.#appendWaiters.splice(0)) settled();
    }
  }

  /** Resolves once the entry is in the sink; rejects if it went to the dead letters. */
  async writeAndWait(key: string, value: V, options: WriteOptions = {}): Promise<number> {
    const position = await this.write(key, value, options);
    await this.#whenFinished(position);
    return position;
  }

  /** Resolves once everything in the journal now is in the sink or the dead letters. */
  async flush(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#stop.signal.aborted) throw new ClosedError('write-behind is closed');
    // The journal's head, not only our own appends: replays and other writers count too.
    const target = Math.max(this.#head, (await this.journal.stats()).head);
    await this.#flushTo(target);
  }

  /** Flushes the batchers until the mark reaches `target` (or the pipeline stops). */
  async #flushTo(target: number): Promise<void> {
    const done = this.#whenFinished(target, true);
    while (
      this.#watermark.mark < target &&
      this.#stop.signal.aborted === false &&
      this.#failure === undefined
    ) {
      const before = this.#watermark.mark;
      await Promise.race([done, Promise.all(this.#batchers.map((b) => b.flush()))]);
      // Nothing buffered moved the mark (the reader has not read the rest yet, or waits out
      // a failed read): wait for the mark instead of spinning.
      if (this.#watermark.mark === before) {
        await Promise.race([done, this.#whenFinished(before + 1, true)]);
      }
    }
    await done;
  }

  /**
   * Stops accepting writes, drains within `deadlineMs`, then stops. What is not in the sink
   * stays in the journal for the next open; the result says how much.
   */
  close(options: { deadlineMs?: number } = {}): Promise<WriteBehindCloseResult> {
    this.#closing ??= this.#close(
      numberOption('deadlineMs', objectOption('close options', options).deadlineMs, Infinity, 0),
    );
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  metrics(): WriteBehindMetrics {
    return {
      written: this.#written,
      persisted: this.#persisted,
      superseded: this.#superseded,
      duplicates: this.#duplicates,
      retried: this.#retried,
      deadLettered: this.#deadLettered,
      batches: this.#batches,
      outages: this.#outages,
      unavailableForMs:
        this.#unavailableSince === undefined ? 0 : this.#clock.now() - this.#unavailableSince,
      backlog: this.#head - this.#watermark.mark,
      backlogBytes: this.#memoryBytes,
      lag: this.#head - this.#committed,
      batchSize: this.#batchSize.snapshot(),
      flushLatencyMs: this.#flushLatency.snapshot(),
      endToEndLatencyMs: this.#endToEnd.snapshot(),
      workers: this.#pool.stats().workers,
    };
  }

  // ---- reading and routing --------------------------------------------------------------

  /** The reader: never rejects; a failure it cannot get past stops the pipeline. */
  async #read(from: number): Promise<void> {
    try {
      await this.#readFrom(from);
    } catch (error) {
      this.#fail(error);
    }
  }

  async #readFrom(from: number): Promise<void> {
    let position = from;
    const signal = this.#stop.signal;
    while (!signal.aborted && this.#failure === undefined) {
      const room = this.#maxBacklog - this.#watermark.pending;
      const bytesRoom = this.#maxBacklogBytes - this.#memoryBytes;
      if (room <= 0 || bytesRoom <= 0) {
        // Rejects only when closing or failed, which the loop condition then sees.
        await this.#whenFinished(this.#watermark.mark + 1, true).catch(() => {});
        continue;
      }
      // As many entries as fit in the bytes left, judging by the sizes seen so far.
      const fit = Math.max(1, Math.floor(bytesRoom / this.#entryBytesEstimate));
      const entries = await this.#readAt(position, Math.min(room, 1000, fit), bytesRoom);
      if (entries.length === 0) {
        try {
          await this.journal.waitForAppend(position, { signal });
        } catch (error) {
          if (signal.aborted) break;
          // The read that follows meets the same trouble and handles it; this only paces it.
          await this.#pause(error);
        }
        continue;
      }
      const runs = new Map<number, JournalEntry[]>();
      const workers = this.#batchers.length;
      let bytes = 0;
      let largest = 1;
      for (const entry of entries) {
        bytes += entry.bytes;
        if (entry.bytes > largest) largest = entry.bytes;
        this.#watermark.begin(entry.position);
        const slot = hashKey(entry.key) % workers;
        const run = runs.get(slot);
        if (run === undefined) runs.set(slot, [entry]);
        else run.push(entry);
        position = entry.position;
      }
      this.#memoryBytes += bytes;
      this.#entryBytesEstimate = largest;
      for (const [slot, run] of runs) this.#pool.cast({ key: String(slot), msg: run });
      if (position > this.#head) this.#head = position;
    }
  }

  /**
   * One read, tried again with backoff while it fails (a disk that errs for a moment); a
   * journal closed under the pipeline, or READ_ATTEMPTS failures in a row, stop it.
   */
  async #readAt(after: number, limit: number, maxBytes: number): Promise<JournalEntry[]> {
    let attempts = 0;
    try {
      return await retry(
        (attempt) => {
          attempts = attempt;
          return this.journal.read(after, { limit, maxBytes });
        },
        this.#readRetry,
        {
          signal: this.#stop.signal,
          clock: this.#clock,
          isRetryable: (error) => !(error instanceof ClosedError),
          onRetry: (error, attempt, delayMs) =>
            this.emit('journal:readFailed', { attempt, delayMs, error }),
        },
      );
    } catch (error) {
      if (this.#stop.signal.aborted) return [];
      if (error instanceof ClosedError) {
        throw new ClosedError(
          'the journal was closed while the pipeline was open: close the pipeline first',
          { cause: error },
        );
      }
      throw new JournalReadError(
        `the journal could not be read past position ${after} (${attempts} attempts): ${messageOf(error)}`,
        { cause: error instanceof JournalReadError ? error.cause : error },
      );
    }
  }

  /** Waits the retry backoff after a failed wait for appends (no wait left once closing). */
  async #pause(error: unknown): Promise<void> {
    const delayMs = computeDelay(1, this.#retry);
    this.emit('journal:readFailed', { attempt: 1, delayMs, error });
    await sleep(this.#clock, delayMs, this.#stop.signal).catch(() => {
      // Aborted: closing, which the caller's loop checks next.
    });
  }

  /** The pipeline cannot go on: every waiter and every later call gets `error`. */
  #fail(error: unknown): void {
    if (this.#stop.signal.aborted) return; // closing is not a failure
    if (this.#failure !== undefined) return; // the first failure is the one reported
    const failure =
      error instanceof SluiceError
        ? error
        : new JournalReadError(`the journal reader failed: ${messageOf(error)}`, {
            cause: error,
          });
    this.#failure = failure;
    this.emit('pipeline:failed', { error: failure });
    for (const w of this.#markWaiters.splice(0)) w.fail(failure);
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  // ---- writing to the sink --------------------------------------------------------------

  /** One batch of one worker: write it, waiting out outages, splitting out poison. */
  async #flush(workerId: number, entries: JournalEntry[]): Promise<void> {
    const started = this.#clock.now();
    let batch = entries;
    if (this.#coalesce) {
      // The newest version of each key (a replayed entry may be older than one after it).
      const last = new Map<string, JournalEntry>();
      for (const e of entries) {
        const kept = last.get(e.key);
        if (kept === undefined || kept.version <= e.version) last.set(e.key, e);
      }
      batch = entries.filter((e) => last.get(e.key) === e);
    }
    // An entry the journal could not decode never reaches the sink: it is dead-lettered as
    // it is stored, and the pipeline moves on.
    const readable = batch.some((e) => e.undecodable !== undefined)
      ? batch.filter((e) => e.undecodable === undefined)
      : batch;
    const refused: Refusal[] = [];
    for (const part of this.#byBytes(readable)) refused.push(...(await this.#deliver(part)));
    for (const e of batch) {
      if (e.undecodable !== undefined) {
        refused.push({ entry: e, error: undecodable(e), kind: 'rejected', attempts: 0 });
      }
    }
    if (refused.length > 0) await this.#deadLetter(refused);
    for (const e of entries) this.#finish(e);
    this.#batches++;
    this.#batchSize.record(batch.length);
    const latencyMs = this.#clock.now() - started;
    this.#flushLatency.record(latencyMs);
    this.emit('batch:flushed', { workerId, size: batch.length, latencyMs });
    this.#advance();
  }

  /**
   * Writes the batch, all but the entries the sink refuses alone, which it returns. An
   * outage is waited out; so is a batch whose every entry fails alone with one and the same
   * `'unknown'` error, since that is the sink failing, not the entries.
   */
  async #deliver(batch: JournalEntry[]): Promise<Refusal[]> {
    if (batch.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      const refused = await this.#split(batch);
      const first = refused[0];
      const alike =
        batch.length > 1 &&
        first !== undefined &&
        refused.length === batch.length &&
        refused.every((r) => r.kind === 'unknown' && messageOf(r.error) === messageOf(first.error));
      if (!alike) return refused;
      await this.#unavailable(first.error, attempt);
    }
  }

  /** Bisection: writes what it can of `batch`; returns the entries refused alone. */
  async #split(batch: JournalEntry[]): Promise<Refusal[]> {
    const failure = await this.#attempt(batch);
    if (failure === undefined) return [];
    if (batch.length === 1) return [{ entry: batch[0] as JournalEntry, ...failure }];
    const half = Math.ceil(batch.length / 2);
    return [
      ...(await this.#split(batch.slice(0, half))),
      ...(await this.#split(batch.slice(half))),
    ];
  }

  /**
   * One batch as it is, retried while the sink is unavailable. Resolves with nothing once
   * written, or with the failure when the sink blames the entries.
   */
  async #attempt(
    batch: JournalEntry[],
  ): Promise<{ error: unknown; kind: SinkFailure; attempts: number } | undefined> {
    const signal = this.#stop.signal;
    for (let attempt = 1; ; attempt++) {
      let result: SinkWriteResult | void;
      try {
        result = await this.#sink.writeBatch(batch.map(this.#toSinkEntry), { signal, attempt });
      } catch (error) {
        if (signal.aborted) throw error; // closing: the batch stays in the journal
        const kind = this.#classify(error);
        if (kind !== 'unavailable') return { error, kind, attempts: attempt };
        await this.#unavailable(error, attempt);
        continue;
      }
      this.#persisted += batch.length;
      if (result !== undefined) {
        this.#superseded += result.superseded ?? 0;
        this.#duplicates += result.duplicates ?? 0;
      }
      if (this.#unavailableSince !== undefined) {
        const downMs = this.#clock.now() - this.#unavailableSince;
        this.#unavailableSince = undefined;
        this.emit('sink:available', { downMs });
      }
      return undefined;
    }
  }

  /** The sink cannot take writes now: note the outage, then wait the backoff. */
  async #unavailable(error: unknown, attempt: number): Promise<void> {
    if (this.#unavailableSince === undefined) {
      this.#unavailableSince = this.#clock.now();
      this.#outages++;
      this.emit('sink:unavailable', { error });
    }
    const delayMs = computeDelay(attempt, this.#retry);
    this.#retried++;
    this.emit('sink:retry', { attempt, delayMs, error });
    await sleep(this.#clock, delayMs, this.#stop.signal);
  }

  #classify(error: unknown): SinkFailure {
    try {
      const kind = this.#sink.classify(error);
      return kind === 'unavailable' || kind === 'rejected' ? kind : 'unknown';
    } catch {
      return 'unknown'; // a classifier that throws knows nothing of this error
    }
  }

  /** Keeps the refused entries in the dead-letter store, retrying while the store fails. */
  async #deadLetter(refused: Refusal[]): Promise<void> {
    const letters = refused.map(({ entry, error, attempts }) => ({
      position: entry.position,
      entryId: this.#sinkId(entry),
      key: entry.key,
      payload: entry.undecodable?.stored ?? entry.payload,
      version: entry.version,
      error: messageOf(error),
      attempts,
    }));
    // Retried for as long as the store fails; only closing gives up (and then the entries
    // stay in the journal).
    await retry(() => this.#store.add(letters), this.#retry, {
      signal: this.#stop.signal,
      clock: this.#clock,
      onRetry: (error, attempt, delayMs) =>
        this.emit('deadLetters:retry', { attempt, delayMs, error }),
    });
    for (const { entry, error } of refused) {
      this.#deadLettered++;
      this.#failed.set(entry.position, new DeadLetteredError(entry.position, entry.key, error));
      this.emit('entry:deadLettered', {
        position: entry.position,
        key: entry.key,
        error: messageOf(error),
      });
    }
  }

  /** The entry's id at the sink: its origin's (a re-delivery), its own, or journal:version. */
  #sinkId(entry: JournalEntry): string {
    return entry.origin ?? entry.id ?? `${this.journal.id}:${entry.version}`;
  }

  readonly #toSinkEntry = (entry: JournalEntry): SinkEntry<V> => ({
    id: this.#sinkId(entry),
    key: entry.key,
    value: entry.payload as V,
    version: entry.version,
  });

  /** Cuts a batch, in order, into sink writes of at most `batch.maxBytes` each. */
  #byBytes(batch: JournalEntry[]): JournalEntry[][] {
    let total = 0;
    for (const e of batch) total += e.bytes;
    if (total <= this.#batchMaxBytes) return [batch];
    const parts: JournalEntry[][] = [];
    let part: JournalEntry[] = [];
    let bytes = 0;
    for (const e of batch) {
      if (part.length > 0 && bytes + e.bytes > this.#batchMaxBytes) {
        parts.push(part);
        part = [];
        bytes = 0;
      }
      part.push(e);
      bytes += e.bytes;
    }
    parts.push(part);
    return parts;
  }

  #finish(entry: JournalEntry): void {
    const position = entry.position;
    this.#memoryBytes -= entry.bytes;
    this.#watermark.finish(position);
    const appendedAt = this.#appendedAt.get(position);
    if (appendedAt !== undefined) {
      this.#appendedAt.delete(position);
      this.#endToEnd.record(this.#clock.now() - appendedAt);
    }
  }

  /** After the mark moved: wake waiters, free room, commit the checkpoint. */
  #advance(): void {
    const mark = this.#watermark.mark;
    if (this.#markWaiters.length > 0) {
      this.#markWaiters = this.#markWaiters.filter((w) => {
        if (w.position > mark) return true;
        w.finish(this.#failed.get(w.position));
        return false;
      });
    }
    for (const [position] of this.#failed) if (position <= mark) this.#failed.delete(position);
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
    this.#commit();
  }

  /** Commits the mark; one commit at a time, the latest mark wins. */
  #commit(): void {
    if (this.#released) return; // a flush that outlived close(): the next holder commits
    if (this.#committing !== undefined || this.#watermark.mark <= this.#committed) return;
    const mark = this.#watermark.mark;
    this.#committing = (async () => {
      try {
        await this.journal.commit(this.#consumer, mark);
        this.#committed = mark;
        if (this.#memory) await this.journal.truncate(mark + 1);
        else await this.#trim(mark);
      } finally {
        this.#committing = undefined;
      }
      this.#commit();
    })();
    this.#committing.catch((error: unknown) => {
      // Tried again with the next mark; until then the entries stay in the journal.
      this.emit('checkpoint:failed', { error });
    });
  }

  /**
   * Deletes handled entries older than the retention window, once at least
   * TRIM_MIN of them have piled up, at most TRIM_MAX at a time (a bounded pause).
   */
  async #trim(mark: number): Promise<void> {
    const before = mark + 1 - this.#retain;
    if (mark < this.#nextTrimAt || before - this.#retainedFrom < TRIM_MIN) return;
    const target = Math.min(before, this.#retainedFrom + TRIM_MAX);
    const { firstRetained } = await this.journal.truncate(target);
    this.#retainedFrom = firstRetained;
    // Held back (another consumer's checkpoint): try again TRIM_MIN entries later, not on
    // every batch.
    if (firstRetained < target) this.#nextTrimAt = mark + TRIM_MIN;
  }

  // ---- waiting ----------------------------------------------------------------------------

  /** Waits until there is room for one more entry, then takes it (in `#appending`). */
  async #room(): Promise<void> {
    for (;;) {
      const entriesFull = this.#head + this.#appending - this.#watermark.mark >= this.#maxBacklog;
      const bytesFull = this.#memoryBytes >= this.#maxBacklogBytes;
      if (!entriesFull && !bytesFull) break;
      if (this.#overflow === 'reject') {
        throw entriesFull
          ? new QueueFullError('write-behind backlog', this.#maxBacklog)
          : new QueueFullError('write-behind backlog bytes', this.#maxBacklogBytes);
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#closing !== undefined) {
        throw new ClosedError('write-behind is closed: the write was not accepted');
      }
    }
    // Taken in the same synchronous step as the check, so concurrent writers cannot all pass.
    this.#appending++;
  }

  /** Resolves when `position` is finished (in the sink; `anyOutcome`: or dead-lettered). */
  #whenFinished(position: number, anyOutcome = false): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#stop.signal.aborted && this.#watermark.mark < position) {
      // Closed: nothing more will finish, and nobody is left to wake a waiter.
      return anyOutcome ? Promise.resolve() : Promise.reject(closedBeforeSink());
    }
    if (this.#watermark.mark >= position) {
      const failure = anyOutcome ? undefined : this.#failed.get(position);
      return failure === undefined ? Promise.resolve() : Promise.reject(failure);
    }
    return new Promise((resolve, reject) =>
      this.#markWaiters.push({
        position,
        finish: (deadLettered) =>
          deadLettered === undefined || anyOutcome ? resolve() : reject(deadLettered),
        close: (error) => (anyOutcome ? resolve() : reject(error)),
        fail: reject,
      }),
    );
  }

  async #close(deadlineMs: number): Promise<WriteBehindCloseResult> {
    let timer: Timer | undefined;
    let flushError: unknown;
    // Writes let in before close() may still be appending: wait for them, then flush again,
    // so everything that was acknowledged is drained (or counted in `remaining`).
    const drain = async (): Promise<void> => {
      await this.flush();
      // Our own writes only: another process appending all along must not keep close()
      // from returning.
      while (
        !this.#stop.signal.aborted &&
        (this.#appending > 0 || this.#acknowledged > this.#watermark.mark)
      ) {
        if (this.#appending > 0) {
          await new Promise<void>((resolve) => this.#appendWaiters.push(resolve));
        }
        await this.#flushTo(this.#acknowledged);
      }
    };
    const drained = await Promise.race([
      drain().then(
        () => true,
        (error: unknown) => {
          flushError = error; // reported below, once everything is released
          return false;
        },
      ),
      new Promise<boolean>((resolve) => {
        if (deadlineMs !== Infinity) timer = this.#clock.setTimer(() => resolve(false), deadlineMs);
      }),
    ]);
    timer?.cancel();
    this.#stop.abort(new ClosedError('write-behind is closing'));
    for (const wake of this.#roomWaiters.splice(0)) wake();
    // Nothing more will finish: wake whoever waits on the mark (the reader among them).
    for (const w of this.#markWaiters.splice(0)) w.close(closedBeforeSink());
    await Promise.all(this.#batchers.map((b) => b.close({ deadlineMs: 0 })));
    await this.#pool.close({ deadlineMs: 0 });
    await this.#reader.catch(() => {});
    await this.#committing?.catch(() => {});
    this.#commit();
    await this.#committing?.catch(() => {});
    const remaining = this.#head - this.#watermark.mark;
    this.#released = true;
    await this.#hold.release();
    if (this.#memory) await this.journal.close();
    // Everything is released; now say why the pipeline could not finish, if it could not.
    const failure = this.#failure ?? (flushError instanceof SluiceError ? flushError : undefined);
    if (failure !== undefined) throw failure;
    return { drained, remaining };
  }
}

const MIB = 1024 * 1024;

/** Retries of one journal read before the pipeline stops (with backoff between them). */
const READ_ATTEMPTS = 8;

/** Someone waiting for the watermark to reach `position`. */
interface MarkWaiter {
  readonly position: number;
  /** The position finished: in the sink, or dead-lettered with this error. */
  finish(deadLettered: unknown): void;
  /** The pipeline closed before it finished. */
  close(error: ClosedError): void;
  /** The pipeline stopped on a failure. */
  fail(error: SluiceError): void;
}

function closedBeforeSink(): ClosedError {
  return new ClosedError(
    'write-behind closed before this entry reached the sink; it stays in the journal',
  );
}

function undecodable(entry: JournalEntry): Error {
  return new Error(
    `the journal could not decode entry ${entry.position}: ${entry.undecodable?.error ?? ''}`,
  );
}

/** An entry the sink refused on its own, and why. */
interface Refusal {
  readonly entry: JournalEntry;
  readonly error: unknown;
  readonly kind: SinkFailure;
  readonly attempts: number;
}
