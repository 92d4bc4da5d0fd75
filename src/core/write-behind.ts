/**
 * WriteBehind: the durable pipeline from `write()` to the store, composed of sluice's parts.
 *
 * ```
 * write ─▶ source.append ─────────── JournalSource: Journal.append (durable, group commit)
 *                                    MemorySource:  a bounded Channel (journal: 'memory')
 *       ─▶ reader: source.take ───── a Cursor from the checkpoint / the Channel
 *       ─▶ lane by key (hashKey % workers): one Batcher per lane, one sink write at a time
 *       ─▶ Delivery: Sink.writeBatch (outages waited out; poison split out to dead letters)
 *       ─▶ Watermark ─▶ source.commit (the checkpoint, trimmed behind)
 * ```
 *
 * Promises:
 * - `write` resolves once the entry is in the journal; from then on it reaches the sink or
 *   the dead letters, across restarts: on open, whatever the journal holds past the
 *   checkpoint is processed first. The checkpoint only moves to the watermark (every entry
 *   at or below it is in the sink or the dead letters), so lanes finishing out of order
 *   lose nothing.
 * - Per-key order: a key's entries go to one lane (the key's hash picks it; the lanes are
 *   fixed), in journal order, and its Batcher flushes them in order, one flush at a time.
 * - Bounded memory, in entries and in bytes: at most `maxBacklog` entries are appended and
 *   not yet finished, and the entries held in memory and not yet finished hold at most
 *   `maxBacklogBytes` of payload (one entry past it at most); beyond either, `write` waits
 *   (or rejects with QueueFullError under `overflow: 'reject'`), and reads are sized to fit,
 *   so a backlog of any size on disk is worked off within the bound. A value larger than
 *   `maxEntryBytes` is refused at `write`.
 * - A sink outage is waited out and poison is dead-lettered (see Delivery).
 * - One pipeline per journal consumer: `open` takes the consumer (`journal.acquire`) and
 *   refuses with JournalLockedError while another pipeline holds it; `close` lets it go.
 * - Sink ids: a write's `id`, or `<journal id>:<version>` (unique beyond one journal); a
 *   replayed dead letter keeps the id and version it first had, so replay is idempotent and,
 *   with a version-guarded sink, cannot put an older value over a newer one.
 *
 * States: `running` → `failed` (stopped on its own: the journal could not be read; every
 * call reports the failure) → `closing` → `closed`; or `running` → `closing` → `closed`.
 *
 * `journal: 'memory'` runs the same lanes and sink code on a MemorySource: faster, bounded,
 * and it LOSES whatever is not yet in the sink if the process dies.
 */
import {
  ClosedError,
  InputError,
  JournalReadError,
  QueueFullError,
  SluiceError,
} from '../errors.js';
import { messageOf, show } from '../errors.js';
import { replayDeadLetters, type DeadLetterStore } from '../journal/dead-letters.js';
import type { Journal, JournalEntry, JournalStats } from '../journal/journal.js';
import type { Payload } from '../journal/codec.js';
import { Batcher } from './batcher.js';
import { withinDeadline } from './deadline.js';
import { Emitter } from './events.js';
import { Histogram } from './histogram.js';
import { knownOptions, numberOption } from './options.js';
import { hashKey } from './pool/routing.js';
import { Watermark } from './watermark.js';
import { Delivery } from './write-behind/delivery.js';
import { MarkWaiters } from './write-behind/mark-waiters.js';
import { JournalSource } from './write-behind/journal-source.js';
import { MemorySource } from './write-behind/memory-source.js';
import { resolveWriteBehindOptions, type ResolvedOptions } from './write-behind/options.js';
import type { WriteBehindOptions } from './write-behind/options.js';
import type { EntrySource } from './write-behind/source.js';
import type {
  DeadLetters,
  LaneStats,
  WriteBehindCloseResult,
  WriteBehindEvents,
  WriteBehindMetrics,
  WriteOptions,
} from './write-behind/types.js';

export type { WriteBehindOptions } from './write-behind/options.js';
export type * from './write-behind/types.js';

type State = 'running' | 'failed' | 'closing' | 'closed';
const NEXT: Record<State, readonly State[]> = {
  running: ['failed', 'closing'],
  failed: ['closing'],
  closing: ['closed'],
  closed: [],
};

export class WriteBehind<V extends Payload>
  extends Emitter<WriteBehindEvents>
  implements AsyncDisposable
{
  readonly deadLetters: DeadLetters;
  readonly #o: ResolvedOptions<V>;
  readonly #source: EntrySource;
  readonly #delivery: Delivery<V>;
  readonly #lanes: Lane[];
  readonly #watermark: Watermark;
  readonly #waiters: MarkWaiters;
  readonly #stop = new AbortController();
  #state: State = 'running';
  /** Set once the pipeline stopped on its own; every later call reports it. */
  #failure: SluiceError | undefined;

  /** Highest position stored (by this process, or found at open or by the reader). */
  #head: number;
  /** Highest position a write of this process was acknowledged at. */
  #acknowledged = 0;
  /** Appends started and not yet resolved (they will each add at most one entry). */
  #appending = 0;
  #committed: number;
  #committing: Promise<void> | undefined;
  #reader: Promise<void> | undefined;
  #closing: Promise<WriteBehindCloseResult> | undefined;
  /** Payload bytes of the entries taken from the source and not yet finished. */
  #heldBytes = 0;
  /**
   * The largest entry of the last read, to size the next read to the bytes left. It starts
   * at `maxEntryBytes`, so a first read of large entries cannot fetch more than fits.
   */
  #entryBytesEstimate: number;
  #roomWaiters: (() => void)[] = [];
  /** Woken when no append is in flight (close waits for writes it had let in). */
  #appendWaiters: (() => void)[] = [];
  /** Append time by position, for end-to-end latency (only entries written by this process). */
  readonly #appendedAt = new Map<number, number>();
  #written = 0;
  #batches = 0;
  readonly #batchSize = new Histogram();
  readonly #flushLatency = new Histogram();
  readonly #endToEnd = new Histogram();

  private constructor(o: ResolvedOptions<V>, source: EntrySource, committed: number, head: number) {
    super();
    this.#o = o;
    this.#source = source;
    this.#committed = committed;
    this.#head = head;
    this.#watermark = new Watermark(committed);
    this.#waiters = new MarkWaiters();
    this.#entryBytesEstimate = o.maxEntryBytes;
    const store: DeadLetterStore = o.deadLetters ?? source.deadLetters();
    this.deadLetters = {
      list: (opts) => store.list(opts),
      count: () => store.count(),
      replay: (ids) => replayDeadLetters(store, source, ids),
      purge: async (ids) => (await store.remove(ids)).length,
    };
    this.#delivery = new Delivery<V>({
      ...o,
      store,
      signal: this.#stop.signal,
      sinkId: (e) => e.origin ?? e.id ?? `${source.id}:${e.version}`,
      emit: (event, payload) => this.emit(event, payload),
    });
    this.#lanes = Array.from({ length: o.workers }, (_, id) => ({
      id,
      batcher: new Batcher<JournalEntry, void>({
        maxSize: o.maxSize,
        maxDelayMs: o.maxDelayMs,
        maxPending: Math.max(o.maxSize, o.maxBacklog),
        clock: o.clock,
        flush: (entries) => this.#flush(this.#lanes[id] as Lane, entries),
      }),
      busy: false,
      processed: 0,
      failed: 0,
      queued: 0,
    }));
  }

  /** Opens the pipeline and starts processing what the journal holds past the checkpoint. */
  static async open<V extends Payload>(options: WriteBehindOptions<V>): Promise<WriteBehind<V>> {
    const o = resolveWriteBehindOptions(options);
    let wb: WriteBehind<V> | undefined;
    const source =
      o.journal === 'memory'
        ? new MemorySource({ capacity: o.maxBacklog, clock: o.clock, consumer: o.consumer })
        : await JournalSource.open(o.journal, {
            ...o,
            onReadFailed: (attempt, delayMs, error) =>
              wb?.emit('journal:readFailed', { attempt, delayMs, error }),
          });
    try {
      const committed = source instanceof JournalSource ? source.position : 0;
      wb = new WriteBehind(o, source, committed, await source.head());
      wb.#reader = wb.#read();
      return wb;
    } catch (error) {
      await source.release();
      throw error;
    }
  }

  /** The durable journal; `undefined` in memory mode. */
  get journal(): Journal | undefined {
    return this.#source.journal;
  }

  /** The journal's (or in memory mode, the queue's) head, size and checkpoint. */
  stats(): Promise<JournalStats> {
    return this.#source.stats();
  }

  /** Resolves once the entry is durable in the journal (in memory mode: accepted). */
  async write(key: string, value: V, options: WriteOptions = {}): Promise<number> {
    this.#assertAccepting('the write was not accepted');
    if (typeof key !== 'string' || key.length === 0) {
      throw new InputError(`key must be a non-empty string, got ${show(key)}`);
    }
    const id = writeId(options);
    await this.#room(); // counts this write in #appending when it lets it through
    try {
      const [position] = await this.#source.append(
        [{ key, payload: value, ...(id === undefined ? {} : { id }) }],
        { maxRecordBytes: this.#o.maxEntryBytes },
      );
      const p = position as number;
      if (p > this.#acknowledged) this.#acknowledged = p;
      if (p > this.#head) {
        this.#head = p;
        this.#appendedAt.set(p, this.#o.clock.now());
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

  /** Sends every batch now; resolves once everything stored now is in the sink or dead letters. */
  async flush(): Promise<void> {
    this.#assertOpen();
    // The journal's head, not only our own appends: replays and other writers count too.
    await this.#flushTo(Math.max(this.#head, await this.#source.head()));
  }

  /** Resolves once nothing written is unfinished (at once if so already); keeps accepting. */
  async drain(): Promise<void> {
    this.#assertOpen();
    while (this.#watermark.mark < this.#head && this.#state === 'running') {
      await this.#whenFinished(this.#head, true);
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Stops accepting writes, drains within `deadlineMs`, then stops. What is not in the sink
   * stays in the journal for the next open; the result says how much.
   */
  close(options?: { deadlineMs?: number }): Promise<WriteBehindCloseResult> {
    const o = knownOptions('close options', options, ['deadlineMs']);
    const deadlineMs = numberOption('deadlineMs', o.deadlineMs, Infinity, 0);
    this.#closing ??= this.#close(deadlineMs);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  metrics(): WriteBehindMetrics {
    const d = this.#delivery;
    const since = d.unavailableSince;
    return {
      written: this.#written,
      persisted: d.persisted,
      superseded: d.superseded,
      duplicates: d.duplicates,
      retried: d.retried,
      deadLettered: d.deadLettered,
      batches: this.#batches,
      outages: d.outages,
      unavailableForMs: since === undefined ? 0 : this.#o.clock.now() - since,
      backlog: this.#head - this.#watermark.mark,
      backlogBytes: this.#heldBytes + this.#source.heldBytes,
      lag: this.#head - this.#committed,
      batchSize: this.#batchSize.snapshot(),
      flushLatencyMs: this.#flushLatency.snapshot(),
      endToEndLatencyMs: this.#endToEnd.snapshot(),
      workers: this.#lanes.map((l): LaneStats => ({
        id: l.id,
        state: !l.busy ? 'idle' : since === undefined ? 'writing' : 'waiting',
        processed: l.processed,
        failed: l.failed,
        queued: l.queued,
      })),
    };
  }

  // ---- reading and routing --------------------------------------------------------------

  /** The reader: never rejects; a failure it cannot get past stops the pipeline. */
  async #read(): Promise<void> {
    const signal = this.#stop.signal;
    try {
      while (!signal.aborted && this.#state === 'running') {
        const room = this.#o.maxBacklog - this.#watermark.pending;
        const bytesRoom = this.#o.maxBacklogBytes - this.#heldBytes;
        if (room <= 0 || bytesRoom <= 0) {
          // Rejects only when closing or failed, which the loop condition then sees.
          await this.#whenFinished(this.#watermark.mark + 1, true).catch(() => {});
          continue;
        }
        // As many entries as fit in the bytes left, judging by the sizes seen so far.
        const fit = Math.max(1, Math.floor(bytesRoom / this.#entryBytesEstimate));
        const entries = await this.#source.take(Math.min(room, 1000, fit), bytesRoom, signal);
        let largest = 1;
        for (const entry of entries) {
          this.#heldBytes += entry.bytes;
          if (entry.bytes > largest) largest = entry.bytes;
          this.#watermark.begin(entry.position);
          if (entry.position > this.#head) this.#head = entry.position;
          const lane = this.#lanes[hashKey(entry.key) % this.#lanes.length] as Lane;
          lane.queued++;
          lane.batcher.submit(entry).catch((error: unknown) => {
            // A flush gives up only when closing (its entries stay in the journal); any
            // other failure here would stall the pipeline silently, so it stops it loudly.
            if (!signal.aborted) this.#fail(error);
          });
        }
        if (entries.length > 0) this.#entryBytesEstimate = largest;
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /** The pipeline cannot go on: every waiter and every later call gets `error`. */
  #fail(error: unknown): void {
    if (this.#state !== 'running') return; // closing is not a failure; the first one counts
    const failure =
      error instanceof SluiceError
        ? error
        : new JournalReadError(`the journal reader failed: ${messageOf(error)}`, {
            cause: error,
          });
    this.#failure = failure;
    this.#setState('failed');
    this.emit('pipeline:failed', { error: failure });
    this.#waiters.failAll(failure);
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }

  // ---- finishing --------------------------------------------------------------------------

  /** One batch of one lane: deliver it, then finish its entries and move the mark. */
  async #flush(lane: Lane, entries: JournalEntry[]): Promise<void> {
    const started = this.#o.clock.now();
    lane.busy = true;
    try {
      const { size, deadLettered } = await this.#delivery.deliver(entries);
      for (const [position, error] of deadLettered) this.#waiters.deadLettered(position, error);
      for (const e of entries) this.#finish(e);
      lane.queued -= entries.length;
      lane.failed += deadLettered.size;
      lane.processed += size - deadLettered.size;
      this.#batches++;
      this.#batchSize.record(size);
      const latencyMs = this.#o.clock.now() - started;
      this.#flushLatency.record(latencyMs);
      this.emit('batch:flushed', { workerId: lane.id, size, latencyMs });
    } finally {
      lane.busy = false;
    }
    this.#advance();
  }

  #finish(entry: JournalEntry): void {
    const position = entry.position;
    this.#heldBytes -= entry.bytes;
    this.#watermark.finish(position);
    const appendedAt = this.#appendedAt.get(position);
    if (appendedAt !== undefined) {
      this.#appendedAt.delete(position);
      this.#endToEnd.record(this.#o.clock.now() - appendedAt);
    }
  }

  /** After the mark moved: wake waiters, free room, commit the checkpoint. */
  #advance(): void {
    this.#waiters.reached(this.#watermark.mark);
    for (const wake of this.#roomWaiters.splice(0)) wake();
    this.#commit();
  }

  /** Commits the mark; one commit at a time, the latest mark wins. */
  #commit(): void {
    if (this.#state === 'closed') return; // a flush that outlived close(): the next holder commits
    if (this.#committing !== undefined || this.#watermark.mark <= this.#committed) return;
    const mark = this.#watermark.mark;
    this.#committing = (async () => {
      try {
        await this.#source.commit(mark);
        this.#committed = mark;
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

  // ---- waiting ----------------------------------------------------------------------------

  /** Waits until there is room for one more entry, then takes it (in `#appending`). */
  async #room(): Promise<void> {
    for (;;) {
      const o = this.#o;
      const entriesFull = this.#head + this.#appending - this.#watermark.mark >= o.maxBacklog;
      const bytesFull = this.#heldBytes + this.#source.heldBytes >= o.maxBacklogBytes;
      if (!entriesFull && !bytesFull) break;
      if (o.overflow === 'reject') {
        throw entriesFull
          ? new QueueFullError('write-behind backlog', o.maxBacklog)
          : new QueueFullError('write-behind backlog bytes', o.maxBacklogBytes);
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      this.#assertAccepting('the write was not accepted');
    }
    // Taken in the same synchronous step as the check, so concurrent writers cannot all pass.
    this.#appending++;
  }

  /** Resolves when `position` is finished (in the sink; `anyOutcome`: or dead-lettered). */
  #whenFinished(position: number, anyOutcome = false): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const closed = this.#stop.signal.aborted;
    return this.#waiters.when(position, this.#watermark.mark, closed, anyOutcome);
  }

  /** Flushes the lanes until the mark reaches `target` (or the pipeline stops). */
  async #flushTo(target: number): Promise<void> {
    const done = this.#whenFinished(target, true);
    while (
      this.#watermark.mark < target &&
      !this.#stop.signal.aborted &&
      this.#state === 'running'
    ) {
      const before = this.#watermark.mark;
      await Promise.race([done, Promise.all(this.#lanes.map((l) => l.batcher.flushNow()))]);
      // Nothing buffered moved the mark (the reader has not read the rest yet, or waits out
      // a failed read): wait for the mark instead of spinning.
      if (this.#watermark.mark === before) {
        await Promise.race([done, this.#whenFinished(before + 1, true)]);
      }
    }
    await done;
  }

  #assertAccepting(what: string): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closing !== undefined) throw new ClosedError(`write-behind is closed: ${what}`);
  }

  #assertOpen(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#stop.signal.aborted) throw new ClosedError('write-behind is closed');
  }

  #setState(next: State): void {
    if (!NEXT[this.#state].includes(next)) {
      throw new Error(`write-behind cannot go from ${this.#state} to ${next}`);
    }
    this.#state = next;
  }

  async #close(deadlineMs: number): Promise<WriteBehindCloseResult> {
    let flushError: unknown;
    // Writes let in before close() may still be appending: wait for them, then flush again,
    // so everything that was acknowledged is drained (or counted in `remaining`). Our own
    // writes only: another process appending all along must not keep close() from returning.
    const drain = async (): Promise<void> => {
      await this.flush();
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
    const drained = await withinDeadline(
      drain().catch((error: unknown) => {
        flushError = error; // reported below, once everything is released
        throw error;
      }),
      deadlineMs,
      this.#o.clock,
    ).catch(() => false);
    this.#setState('closing');
    this.#stop.abort(new ClosedError('write-behind is closing'));
    for (const wake of this.#roomWaiters.splice(0)) wake();
    // Nothing more will finish: wake whoever waits on the mark (the reader among them).
    this.#waiters.closeAll();
    await Promise.all(this.#lanes.map((l) => l.batcher.close({ deadlineMs: 0 })));
    await this.#reader?.catch(() => {});
    await this.#committing?.catch(() => {});
    this.#commit();
    await this.#committing?.catch(() => {});
    const remaining = this.#head - this.#watermark.mark;
    this.#setState('closed');
    await this.#source.release();
    // Everything is released; now say why the pipeline could not finish, if it could not.
    const failure = this.#failure ?? (flushError instanceof SluiceError ? flushError : undefined);
    if (failure !== undefined) throw failure;
    return { drained, remaining };
  }
}

/** The `id` of a write's options (a per-call argument: bad ones are InputErrors). */
function writeId(options: WriteOptions): string | undefined {
  if (typeof options !== 'object' || options === null) {
    throw new InputError(`write options must be an object when given, got ${show(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (name !== 'id') throw new InputError(`write options take only \`id\`, got \`${name}\``);
  }
  return options.id;
}

/** One lane: its Batcher and what it has done. */
interface Lane {
  readonly id: number;
  readonly batcher: Batcher<JournalEntry, void>;
  busy: boolean;
  processed: number;
  failed: number;
  queued: number;
}
