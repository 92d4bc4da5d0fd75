/**
 * WriteBehind: the durable pipeline from `write()` to the store, composed of sluice's parts
 * (docs/architecture.md draws the flow): Admission → EntrySource.append (a journal, or a
 * bounded Channel in memory mode) → Reader → Lanes (a Batcher per lane, by key hash) →
 * Delivery → Watermark → Checkpoint.
 *
 * Promises:
 * - `write` resolves once the entry is in the journal; from then on it reaches the sink or
 *   the dead letters, across restarts: on open, what the journal holds past the checkpoint
 *   is processed first, and the checkpoint only moves to the watermark.
 * - Per-key order: a key's entries go to one lane (the key's hash picks it; the lanes are
 *   fixed), in journal order, and its Batcher flushes them in order, one flush at a time.
 * - Bounded memory: at most `maxBacklog` entries unfinished and `maxBacklogBytes` of payload
 *   held; beyond either `write` waits (Admission) or, under `overflow: 'reject'`, rejects
 *   with QueueFullError; reads are sized to fit (Reader), so a backlog of any size on disk
 *   is worked off within the bound. A value over `maxEntryBytes` is refused at `write`.
 * - A sink outage is waited out and poison is dead-lettered (Delivery).
 * - One pipeline per journal consumer (JournalSource holds it); sink ids are a write's `id`,
 *   or `<journal id>:<version>`, and a replayed dead letter keeps the id and version it had.
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
  SluiceError,
  messageOf,
  show,
} from '../errors.js';
import { deadLetterView } from '../journal/dead-letters.js';
import { isPartitioned } from '../journal/partitioned-journal.js';
import {
  ClusterWriteBehind,
  type ClusterWriteBehindOptions,
} from '../cluster/cluster-write-behind.js';
import type { Journal, JournalEntry, JournalRecord, JournalStats } from '../journal/journal.js';
import type { Encodable, Payload } from '../journal/codec.js';
import { resolveCloseOptions } from './close-options.js';
import { rejecting } from '../journal/validate.js';
import { withinDeadline } from './deadline.js';
import { Emitter } from './events.js';
import { Lifecycle } from './lifecycle.js';
import { Watermark } from './watermark.js';
import { Admission, type Fullness } from './write-behind/admission.js';
import { Delivery, type Delivered } from './write-behind/delivery.js';
import { Checkpoint } from './write-behind/checkpoint.js';
import { Lanes } from './write-behind/lanes.js';
import { PipelineStats } from './write-behind/pipeline-stats.js';
import { Reader } from './write-behind/reader.js';
import { MarkWaiters } from './write-behind/mark-waiters.js';
import {
  resolveWriteBehindOptions,
  resolveWriteOptions,
  type ResolvedOptions,
} from './write-behind/options.js';
import type { WriteBehindOptions } from './write-behind/options.js';
import {
  openSource,
  rethrowRefused,
  type EntrySource,
  type Prepared,
} from './write-behind/source.js';
import type {
  DeadLetters,
  WriteBehindCloseResult,
  WriteBehindEvents,
  WriteBehindMetrics,
  WriteEntry,
  WriteOptions,
} from './write-behind/types.js';

export { DEFAULT_CONSUMER, type WriteBehindOptions } from './write-behind/options.js';
export type * from './write-behind/types.js';

/**
 * The durable write-behind pipeline: `write()` resolves once the entry is in the journal;
 * from then on it reaches the sink, in batches and in per-key order, or the dead letters,
 * across restarts. Memory use is bounded by `maxBacklog` and `maxBacklogBytes`; a sink
 * outage is waited out. Open with {@link WriteBehind.open}; emits {@link WriteBehindEvents}.
 *
 * ```ts
 * await using wb = await WriteBehind.open({ journal, sink });
 * await wb.write('account:42', { balance: 10 });
 * ```
 */
export class WriteBehind<V> extends Emitter<WriteBehindEvents> implements AsyncDisposable {
  /** The pipeline's dead letters: list, replay into the journal, purge. */
  readonly deadLetters: DeadLetters;
  readonly #o: ResolvedOptions<V>;
  readonly #source: EntrySource;
  readonly #delivery: Delivery<V>;
  readonly #lanes: Lanes;
  readonly #admission: Admission;
  readonly #watermark: Watermark;
  readonly #waiters = new MarkWaiters();
  /** Aborted when close() stops the pipeline: readers and waits end. */
  readonly #stop = new AbortController();
  /** Aborted on close or failure: no sink write starts after it, one in flight gives up. */
  readonly #halt = new AbortController();
  readonly #life = new Lifecycle<'running' | 'failed' | 'closing' | 'closed'>(
    'write-behind',
    'running',
    {
      running: ['failed', 'closing'],
      failed: ['closing'],
      closing: ['closed'],
      closed: [],
    },
  );
  /** Set once the pipeline stopped on its own; every later call reports it. */
  #failure: SluiceError | undefined;
  /** Highest position stored (by this process, or found at open or by the reader). */
  #head: number;
  /** Highest position a write of this process was acknowledged at. */
  #acknowledged = 0;
  readonly #checkpoint: Checkpoint;
  /** The reader's loop: never rejects; a failure it cannot get past stops the pipeline. */
  readonly #reading: Promise<void>;
  #closing: Promise<WriteBehindCloseResult> | undefined;
  readonly #reader: Reader;
  readonly #stats = new PipelineStats();
  /** What every append passes the source: built once, not per write. */
  readonly #appendOptions: { readonly maxRecordBytes: number };

  private constructor(o: ResolvedOptions<V>, source: EntrySource, committed: number, head: number) {
    super();
    this.#o = o;
    this.#appendOptions = { maxRecordBytes: o.maxEntryBytes };
    this.#source = source;
    this.#checkpoint = new Checkpoint(source, committed, (error) =>
      // Tried again with the next mark; until then the entries stay in the journal.
      this.emit('checkpoint:failed', { error }),
    );
    this.#head = head;
    this.#watermark = new Watermark(committed);
    const store = o.deadLetters ?? source.deadLetters();
    this.deadLetters = deadLetterView(store, source);
    this.#delivery = new Delivery<V>({
      ...o,
      store,
      signal: this.#halt.signal,
      sinkId: (e) => e.origin ?? e.id ?? `${source.id}:${e.version}`,
      emit: (event, payload) => this.emit(event, payload),
    });
    this.#admission = new Admission({
      ...o,
      full: this.#full,
      check: () => this.#assertOpen(true),
    });
    this.#lanes = new Lanes({
      ...o,
      count: o.workers,
      maxPending: o.maxBacklog,
      deliver: (laneId, entries) => this.#deliver(laneId, entries),
      // A flush gives up only when closing (its entries stay in the journal); any other
      // failure here would stall the pipeline silently, so it stops it loudly.
      onLost: (error) => {
        if (!this.#stop.signal.aborted) this.#fail(error);
      },
    });
    this.#reader = new Reader(source, this.#lanes, this.#watermark, o, {
      running: () => this.#life.is('running'),
      // Rejects only when closing or failed, which the reader's loop then sees.
      finishedOne: () => this.#whenFinished(this.#watermark.mark + 1, true).catch(() => {}),
      taken: (entry) => {
        if (entry.position > this.#head) this.#head = entry.position;
      },
    });
    this.#reading = this.#reader
      .run(this.#stop.signal)
      .catch((error: unknown) => this.#fail(error));
  }

  /**
   * Opens the pipeline and starts processing what the journal holds past the checkpoint.
   * Over a journal shared by many nodes (`PostgresJournal`), it is this node's pipeline: a
   * {@link ClusterWriteBehind} that works the node's share of the partitions.
   * The value type is the sink's (`postgresSink<Balance>(...)` makes a
   * `WriteBehind<Balance>`), bound by {@link Encodable}: what the journal stores as it is.
   */
  static open<V extends Encodable<V>>(
    options: ClusterWriteBehindOptions<V>,
  ): Promise<ClusterWriteBehind<V>>;
  static open<V extends Encodable<V>>(options: WriteBehindOptions<V>): Promise<WriteBehind<V>>;
  static async open<V extends Encodable<V>>(
    options: WriteBehindOptions<V> | ClusterWriteBehindOptions<V>,
  ): Promise<WriteBehind<V> | ClusterWriteBehind<V>> {
    // A journal shared by many nodes: this node works its share of the partitions.
    if (isPartitioned(options.journal)) {
      return ClusterWriteBehind.open(options as ClusterWriteBehindOptions<V>);
    }
    const o = resolveWriteBehindOptions(options as WriteBehindOptions<V>);
    let wb: WriteBehind<V> | undefined;
    const source = await openSource(o, {
      onReadFailed: (attempt, delayMs, error) =>
        wb?.emit('journal:readFailed', { attempt, delayMs, error }),
      // The tail and what the reader holds stay within the backlog's byte bound together.
      tailRoom: () => o.maxBacklogBytes - (wb === undefined ? 0 : wb.#reader.heldBytes),
    });
    try {
      wb = new WriteBehind(o, source, source.committed, await source.head());
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
  write(key: string, value: V, options: WriteOptions = {}): Promise<number> {
    // Not an async function: one promise fewer per write. Bad input rejects all the same.
    let record: JournalRecord;
    try {
      this.#assertOpen(true);
      checkKey(key, 'key');
      const id = resolveWriteOptions(options);
      // open() bound V by Encodable; the codec checks the value itself (EncodeError).
      const payload = value as Payload;
      record = id === undefined ? { key, payload } : { key, payload, id };
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#append([record], firstPosition);
  }

  /**
   * Writes many entries with one room check and one append: resolves, with their positions
   * in order, once all of them are durable (one journal transaction), or rejects with
   * nothing of them written. A call larger than `maxBacklog` is refused (InputError).
   */
  async writeMany(entries: readonly WriteEntry<V>[]): Promise<number[]> {
    this.#assertOpen(true);
    if (!Array.isArray(entries)) {
      throw new InputError(`writeMany() takes an array of entries, got ${show(entries)}`);
    }
    if (entries.length > this.#o.maxBacklog) {
      throw new InputError(
        `writeMany() of ${entries.length} entries exceeds maxBacklog (${this.#o.maxBacklog}): split it`,
      );
    }
    const records = entries.map((e: WriteEntry<V>, i) => {
      if (typeof e !== 'object' || e === null) {
        throw new InputError(`entries[${i}] must be { key, value, id? }, got ${show(e)}`);
      }
      checkKey(e.key, `entries[${i}].key`);
      for (const name of Object.keys(e)) {
        if (name !== 'key' && name !== 'value' && name !== 'id') {
          throw new InputError(`entries[${i}] has \`${name}\`; an entry takes key, value and id`);
        }
      }
      const { key, value, id } = e;
      const payload = value as Payload;
      return id === undefined ? { key, payload } : { key, payload, id };
    });
    if (records.length === 0) return [];
    return this.#append(records, allPositions);
  }

  /**
   * Takes room for `records`, appends them in one call, counts what is new, and resolves
   * with what `result` makes of their positions. Not an async function, nor is the rest of
   * the way: every write passes here, and an await leaves more garbage than a `then`.
   */
  #append<R>(records: JournalRecord[], result: (positions: number[]) => R): Promise<R> {
    let prepared: Prepared;
    let waiting: Promise<void> | undefined;
    try {
      // Checked and measured first: bad input fails at once, and room is found for its bytes.
      prepared = this.#source.prepare(records, this.#appendOptions);
      // Room is taken without a promise when there is some (the common case).
      waiting = this.#admission.enter(records.length, prepared.bytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (waiting === undefined) return this.#appendLetIn(records, prepared, result);
    return waiting.then(() => this.#appendLetIn(records, prepared, result));
  }

  /** The append of records admission let in; their room is given back once it settles. */
  #appendLetIn<R>(
    records: JournalRecord[],
    prepared: Prepared,
    result: (positions: number[]) => R,
  ): Promise<R> {
    const n = records.length;
    const known = this.#head; // new entries land past it; a deduplicated id does not
    let appending: Promise<number[]>;
    try {
      // A journal outside this package may break its seam's type (throw, or not return a
      // promise): the room taken is given back all the same.
      appending = Promise.resolve(this.#source.append(records, this.#appendOptions, prepared));
    } catch (error) {
      appending = Promise.reject(error);
    }
    // The source counts the bytes it holds as soon as it has them (memory mode).
    this.#admission.handedOver(prepared.bytes);
    return appending.then(
      (positions) => {
        try {
          const now = this.#o.clock.now();
          for (const p of positions) {
            if (p > this.#acknowledged) this.#acknowledged = p;
            if (p > known) this.#stats.appended(p, now, p <= this.#watermark.mark);
            if (p > this.#head) this.#head = p;
          }
          return result(positions);
        } finally {
          this.#admission.leave(n);
        }
      },
      (error: unknown) => {
        this.#admission.leave(n);
        return rethrowRefused(error); // only the source's refusal: what follows is ours
      },
    );
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
    const target = await this.#flushTarget();
    await this.#flushTo(target);
    // Stopped first (close() gave up, or the pipeline failed): not everything is finished.
    this.#assertFinished(target);
  }

  /** Resolves once nothing written is unfinished (at once if so already); keeps accepting. */
  async drain(): Promise<void> {
    this.#assertOpen();
    while (this.#watermark.mark < this.#head && this.#life.is('running')) {
      await this.#whenFinished(this.#head, true);
    }
    this.#assertFinished(this.#head);
  }

  /** The journal's head, not only our own appends: replays and other writers count too. */
  async #flushTarget(): Promise<number> {
    return Math.max(this.#head, await this.#source.head());
  }

  /** Throws why the mark did not reach `target`: the failure, or close() stopping first. */
  #assertFinished(target: number): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#watermark.mark < target) {
      throw new ClosedError('write-behind closed before everything written was finished');
    }
  }

  /**
   * Stops accepting writes, drains within `deadlineMs`, then stops. What is not in the sink
   * stays in the journal for the next open; the result says how much.
   */
  close(options?: { deadlineMs?: number }): Promise<WriteBehindCloseResult> {
    if (this.#closing !== undefined) return this.#closing;
    return rejecting(() => {
      const { deadlineMs } = resolveCloseOptions('WriteBehind.close() options', options);
      this.#closing = this.#close(deadlineMs);
      // Writes still waiting for room were never accepted: refused now, as a later one is.
      this.#admission.wake();
      return this.#closing;
    });
  }

  /** `close()` with no deadline, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Counts, backlog and latency percentiles now; cheap, reads no storage. */
  metrics(): WriteBehindMetrics {
    return this.#stats.snapshot({
      delivery: this.#delivery,
      lanes: this.#lanes,
      now: this.#o.clock.now(),
      backlog: this.#head - this.#watermark.mark,
      backlogBytes: this.#reader.heldBytes + this.#source.heldBytes,
      lag: this.#head - this.#checkpoint.committed,
    });
  }

  /** The pipeline cannot go on: every waiter and every later call gets `error`. */
  #fail(error: unknown): void {
    if (!this.#life.is('running')) return; // closing is not a failure; the first one counts
    const failure =
      error instanceof SluiceError
        ? error
        : new JournalReadError(`the journal reader failed: ${messageOf(error)}`, {
            cause: error,
          });
    this.#failure = failure;
    this.#life.to('failed');
    // Later batches of a key whose batch was lost must not land before it: stop delivering.
    this.#halt.abort(failure);
    this.emit('pipeline:failed', { error: failure });
    this.#waiters.failAll(failure);
    this.#admission.wake();
  }

  // ---- finishing --------------------------------------------------------------------------

  /** One batch of one lane: deliver it, then finish its entries and move the mark. */
  async #deliver(laneId: number, entries: JournalEntry[]): Promise<Delivered> {
    const started = this.#o.clock.now();
    const delivered = await this.#delivery.deliver(entries);
    for (const [position, error] of delivered.deadLettered) {
      this.#waiters.deadLettered(position, error);
    }
    for (const e of entries) this.#finish(e);
    const latencyMs = this.#o.clock.now() - started;
    this.#stats.flushed(delivered.size, latencyMs);
    this.emit('batch:flushed', { workerId: laneId, size: delivered.size, latencyMs });
    this.#advance();
    return delivered;
  }

  #finish(entry: JournalEntry): void {
    this.#reader.finished(entry);
    this.#watermark.finish(entry.position);
    this.#stats.finished(entry.position, this.#o.clock.now());
  }

  /** After the mark moved: wake waiters, free room, commit the checkpoint. */
  #advance(): void {
    this.#stats.finishedThrough(this.#watermark.mark);
    this.#waiters.reached(this.#watermark.mark);
    this.#admission.wake();
    this.#checkpoint.moveTo(this.#watermark.mark);
  }

  // ---- waiting ----------------------------------------------------------------------------

  /**
   * Which backlog bound a write would pass now, with `appending` entries let in and `bytes`
   * on their way into memory (memory mode; its own among them). A value alone may exceed
   * the byte bound when nothing is held, or it could never be written.
   */
  readonly #full = (appending: number, bytes: number, alone: boolean): Fullness => {
    const o = this.#o;
    if (this.#head + appending - this.#watermark.mark >= o.maxBacklog) return 'entries';
    const held = this.#reader.heldBytes + this.#source.heldBytes;
    if (held >= o.maxBacklogBytes) return 'bytes';
    if (held + bytes > o.maxBacklogBytes && !(alone && held === 0)) return 'bytes';
    return undefined;
  };

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
      this.#life.is('running')
    ) {
      const before = this.#watermark.mark;
      await Promise.race([done, this.#lanes.flush()]);
      // Nothing buffered moved the mark (the reader has not read the rest yet, or waits out
      // a failed read): wait for the mark instead of spinning.
      if (this.#watermark.mark === before) {
        await Promise.race([done, this.#whenFinished(before + 1, true)]);
      }
    }
    await done;
  }

  /** Throws the failure, or ClosedError once closing (`writes`: as soon as close() is called). */
  #assertOpen(writes = false): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (writes ? this.#closing !== undefined : this.#stop.signal.aborted) {
      throw new ClosedError(
        `write-behind is closed${writes ? ': the write was not accepted' : ''}`,
      );
    }
  }

  async #close(deadlineMs: number): Promise<WriteBehindCloseResult> {
    let flushError: unknown;
    // Writes let in before close() may still be appending: wait for them, then flush again,
    // so everything that was acknowledged is drained (or counted in `remaining`). Our own
    // writes only: another process appending all along must not keep close() from returning.
    const drain = async (): Promise<void> => {
      // Not flush(): past the deadline, what is unfinished is counted, not an error.
      this.#assertOpen();
      await this.#flushTo(await this.#flushTarget());
      while (
        !this.#stop.signal.aborted &&
        (this.#admission.appending > 0 || this.#acknowledged > this.#watermark.mark)
      ) {
        await this.#admission.settled();
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
    this.#life.to('closing');
    this.#stop.abort(new ClosedError('write-behind is closing'));
    this.#halt.abort(this.#stop.signal.reason);
    this.#admission.wake();
    // Nothing more will finish: wake whoever waits on the mark (the reader among them).
    this.#waiters.closeAll();
    await this.#lanes.close();
    await this.#reading;
    await this.#checkpoint.stop(this.#watermark.mark);
    const remaining = this.#head - this.#watermark.mark;
    this.#life.to('closed');
    await this.#source.release();
    // Everything is released; now say why the pipeline could not finish, if it could not.
    if (this.#failure !== undefined) throw this.#failure;
    if (flushError !== undefined) {
      throw flushError instanceof SluiceError
        ? flushError
        : new JournalReadError(`close could not drain the journal: ${messageOf(flushError)}`, {
            cause: flushError,
          });
    }
    return { drained, remaining };
  }
}

/** Refuses a key that is not a non-empty string; `what` names it in the message. */
function checkKey(key: unknown, what: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InputError(`${what} must be a non-empty string, got ${show(key)}`);
  }
}

const firstPosition = (positions: number[]): number => positions[0] as number;
const allPositions = (positions: number[]): number[] => positions;
