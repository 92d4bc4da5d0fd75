/**
 * PartitionView: one leased partition of a shared journal, seen as a `Journal`, so the
 * single-process pipeline (WriteBehind: reader, lanes, delivery, watermark, checkpoint) works
 * it unchanged.
 *
 * A shared journal's positions have gaps and are not in delivery order (delivery follows
 * `(tx, position)`), while the pipeline's watermark needs 1, 2, 3... in the order entries are
 * taken. The view numbers the entries it reads from 1 up ("ordinals") and remembers, for
 * each one not yet committed, its cursor and real position:
 * - `read(after)` reads the partition past the cursor of ordinal `after`;
 * - `commit(ordinal)` moves the partition's checkpoint to that entry's cursor, fenced by
 *   the lease's epoch (LeaseLostError once another node took the partition over);
 * - `truncate(before)` deletes handled entries behind the checkpoint (retention);
 * - `realPosition(ordinal)` gives the journal position back (dead letters, events).
 *
 * Appends go to the shared journal (a replayed dead letter lands in its key's partition).
 * The view holds no consumer itself: the lease is the hold, taken and released by the
 * Coordinator.
 */
import { ClosedError, InputError, LeaseLostError } from '../errors.js';
import type { DeadLetterInput, DeadLetterStore } from '../journal/dead-letters.js';
import type {
  AppendOptions,
  ConsumerHold,
  Journal,
  JournalEntry,
  JournalRecord,
  JournalStats,
  ReadOptions,
  TruncateResult,
} from '../journal/journal.js';
import type {
  PartitionCursor,
  PartitionLease,
  PartitionedJournal,
} from '../journal/partitioned-journal.js';

/** Reads of an idle partition are tried again this often even without a notification. */
const IDLE_POLL_MS = 1_000;
/** After a notification that read nothing (an older transaction still open): retry soon. */
const HELD_BACK_MIN_MS = 5;

/** Entries deleted by one trim, at most. */
const TRIM_MAX = 10_000;

/** Commits remembered for retention, at most. */
const MAX_COMMITS_KEPT = 4_096;

/** A commit made: where retention may trim up to once `retain` entries are past it. */
interface Commit {
  readonly ordinal: number;
  readonly cursor: PartitionCursor;
}

interface Taken {
  readonly cursor: PartitionCursor;
  readonly position: number;
}

export class PartitionView implements Journal {
  readonly id: string;
  readonly partition: number;
  readonly lease: PartitionLease;
  readonly #journal: PartitionedJournal;
  readonly #consumer: string;
  readonly #node: string;
  /** Ordinal of the last entry read; ordinals of uncommitted entries map into #taken. */
  #ordinal = 0;
  /** #taken[i] is ordinal #base + i + 1. */
  #taken: Taken[] = [];
  #base = 0;
  /** The checkpoint's cursor (ordinal #base), and the cursor the next read starts after. */
  #committedCursor: PartitionCursor;
  #readCursor: PartitionCursor;
  /** Commits not yet trimmed behind, oldest first. */
  readonly #commits: Commit[] = [];
  /** Wakes a reader waiting in `waitForAppend`. */
  #wake: (() => void) | undefined;
  /** A notification came in and reads have not settled since: poll soon, backing off. */
  #hot = false;
  #heldBackMs = HELD_BACK_MIN_MS;
  #closed = false;
  /** Calls in flight that give up when the view is let go (each removes itself when done). */
  readonly #abandon = new Set<() => void>();
  readonly #onLost: (error: unknown) => void;

  constructor(
    journal: PartitionedJournal,
    lease: PartitionLease,
    consumer: string,
    node: string,
    onLost: (error: unknown) => void,
  ) {
    this.#journal = journal;
    this.id = journal.id;
    this.partition = lease.partition;
    this.lease = lease;
    this.#consumer = consumer;
    this.#node = node;
    this.#committedCursor = lease.checkpoint;
    this.#readCursor = lease.checkpoint;
    this.#onLost = onLost;
  }

  /** New entries may be in the partition: a waiting reader reads again. */
  notify(): void {
    this.#hot = true;
    this.#heldBackMs = HELD_BACK_MIN_MS;
    this.#wake?.();
  }

  /** The journal position of the entry read as `ordinal` (while it is not committed). */
  realPosition(ordinal: number): number {
    return this.#taken[ordinal - this.#base - 1]?.position ?? ordinal;
  }

  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    return this.#journal.append(records, options);
  }

  async read(after: number, options: ReadOptions = {}): Promise<JournalEntry[]> {
    // Let go: nothing more is taken (the pipeline is stopping).
    if (this.#closed) return [];
    if (options.region !== undefined) {
      throw new InputError('a partition of a shared journal is read whole: no region');
    }
    if (after !== this.#ordinal) {
      // The reader went back (a retried read): start again after that entry.
      if (after < this.#base || after > this.#ordinal) {
        throw new InputError(`ordinal ${after} is outside ${this.#base}..${this.#ordinal}`);
      }
      this.#taken.length = after - this.#base;
      this.#ordinal = after;
      this.#readCursor =
        after === this.#base
          ? this.#committedCursor
          : (this.#taken[after - this.#base - 1] as Taken).cursor;
    }
    const read = this.#journal.readPartition(this.partition, this.#readCursor, {
      limit: options.limit ?? 1000,
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    });
    // A read stuck on a dead connection must not hold a lost partition's stop.
    const result = await this.#unlessLetGo(read);
    if (result === undefined) {
      read.catch(() => {}); // its late answer (or failure) no longer matters
      return [];
    }
    const { entries, cursors } = result;
    const out = new Array<JournalEntry>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as JournalEntry;
      const cursor = cursors[i] as PartitionCursor;
      this.#taken.push({ cursor, position: entry.position });
      out[i] = { ...entry, position: ++this.#ordinal };
      this.#readCursor = cursor;
    }
    return out;
  }

  async commit(_consumer: string, ordinal: number): Promise<void> {
    this.#assertOpen();
    if (ordinal <= this.#base) return;
    const taken = this.#taken[ordinal - this.#base - 1];
    if (taken === undefined) throw new InputError(`ordinal ${ordinal} was not read`);
    const commit = this.#journal.commitPartition(
      this.#consumer,
      this.#node,
      this.lease,
      taken.cursor,
    );
    try {
      // A commit stuck on a dead connection must not hold a lost partition's stop.
      const done = await this.#unlessLetGo(commit.then(() => true));
      if (done === undefined) throw new ClosedError(`partition ${this.partition} was let go`);
    } catch (error) {
      commit.catch(() => {}); // a late answer no longer matters
      // Only a refused epoch means the lease is gone; a lost connection is tried again.
      if (error instanceof LeaseLostError) this.#onLost(error);
      throw error;
    }
    const drop = ordinal - this.#base;
    this.#taken = this.#taken.slice(drop);
    this.#base = ordinal;
    this.#committedCursor = taken.cursor;
    this.#commits.push({ ordinal, cursor: taken.cursor });
    // Without trims (`retain: Infinity`) the oldest go: a later trim just starts later.
    if (this.#commits.length > MAX_COMMITS_KEPT) this.#commits.shift();
  }

  committed(): Promise<number> {
    return Promise.resolve(this.#base);
  }

  /**
   * Resolves when the partition may hold more: on a notification; soon after one, backing
   * off (its entries may be held back below an older transaction still open); and at most
   * IDLE_POLL_MS later (what no notification announces: such a transaction ended).
   */
  waitForAppend(after: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed) {
      // Let go: nothing more will come; wait for the pipeline to stop (no spinning).
      return new Promise<void>((_, reject) =>
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
    }
    if (after < this.#ordinal) return Promise.resolve();
    let delay = IDLE_POLL_MS;
    if (this.#hot) {
      delay = this.#heldBackMs;
      this.#heldBackMs *= 2;
      if (this.#heldBackMs >= IDLE_POLL_MS) this.#hot = false;
    }
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.#wake = undefined;
        resolve();
      };
      const aborted = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        reject(signal?.reason);
      };
      const timer = setTimeout(done, delay);
      timer.unref();
      this.#wake = done;
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  /**
   * Deletes handled entries before ordinal `before` (and behind every consumer's
   * checkpoint): up to the newest commit at or below it, at most TRIM_MAX at a time.
   */
  async truncate(before: number): Promise<TruncateResult> {
    this.#assertOpen();
    let upTo: PartitionCursor | undefined;
    while (this.#commits.length > 0 && (this.#commits[0] as Commit).ordinal < before) {
      upTo = (this.#commits.shift() as Commit).cursor;
    }
    if (upTo === undefined) return { removed: 0, firstRetained: before };
    const removed = await this.#journal.trimPartition(this.partition, upTo, TRIM_MAX);
    return { removed, firstRetained: before };
  }

  stats(): Promise<JournalStats> {
    return Promise.resolve({
      head: this.#ordinal,
      first: this.#base + 1,
      entries: this.#ordinal - this.#base,
      bytes: 0,
      consumers: [
        { consumer: this.#consumer, position: this.#base, lag: this.#ordinal - this.#base },
      ],
    });
  }

  /** The lease is the hold: the Coordinator took it and releases it. */
  acquire(consumer: string): Promise<ConsumerHold> {
    return Promise.resolve({ consumer, release: () => Promise.resolve() });
  }

  /** `store` (by default the shared journal's), given each letter's real journal position. */
  deadLetters(store: DeadLetterStore = this.#journal.deadLetters()): DeadLetterStore {
    return {
      add: (letters: readonly DeadLetterInput[]) =>
        store.add(letters.map((l) => ({ ...l, position: this.realPosition(l.position) }))),
      list: (options) => store.list(options),
      get: (ids) => store.get(ids),
      remove: (ids) => store.remove(ids),
      count: () => store.count(),
    };
  }

  /**
   * `call`'s result, or `undefined` at once if the view is let go first (a call stuck on a
   * dead connection must not hold a lost partition's stop). Nothing outlives the call.
   */
  #unlessLetGo<T>(call: Promise<T>): Promise<T | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const abandon = (): void => resolve(undefined);
      this.#abandon.add(abandon);
      call.then(
        (value) => {
          this.#abandon.delete(abandon);
          resolve(value);
        },
        (error: unknown) => {
          this.#abandon.delete(abandon);
          reject(error);
        },
      );
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const abandon of this.#abandon) abandon();
    this.#abandon.clear();
    this.#wake?.();
    return Promise.resolve();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`partition ${this.partition} was let go`);
  }
}
