/**
 * SqliteJournal: the embedded, durable journal (one SQLite file, WAL mode).
 *
 * Durability: with `synchronous: 'full'` (the default) an append resolves only after its
 * transaction is fsynced, so it survives a process kill and a power loss. With `'normal'`
 * it still survives a process kill, but the last transactions before a power loss or OS
 * crash may be rolled back (SQLite syncs the WAL only at checkpoints); appends are then
 * cheaper. A truncation is never fsynced on its own: losing one loses nothing, and the next
 * append's fsync covers it.
 *
 * Group commit (group-commit.ts): appends and checkpoint commits made in one turn of the
 * event loop are written in one transaction, on the next turn (`setImmediate`; while many
 * callers append, no sooner than `groupCommitMs` after the last), up to
 * `maxGroupRecords` records per transaction. Each caller's promise settles when that
 * transaction has committed. If a record of the group is refused (a constraint, a value too
 * big), the calls are written again one transaction each, so only the call that carried it
 * fails; if the storage itself fails (a full disk, I/O), every call of the group rejects
 * with a JournalWriteError and nothing of them is written.
 *
 * Reads (read-entries.ts, read-query.ts) are index seeks: the whole log by primary key from
 * `after`, exact keys through the (key, position) index, prefixes and types by primary-key
 * scan from `after` with a filter. None of them look at entries before `after`. How an
 * entry is stored is entry-row.ts's alone; opening and migrating the file is
 * open-database.ts's and schema.ts's.
 *
 * Several processes may open one file (the command line inspects a journal while the app
 * runs): positions are assigned inside the write transaction, and `waitForAppend` also
 * notices appends made by another process, every `pollIntervalMs`.
 *
 * ```ts
 * const journal = await SqliteJournal.open('./data/journal.db');
 * const [position] = await journal.append([{ key: 'acct-1', payload: { balance: 10 } }]);
 * ```
 */
import {
  ClosedError,
  InputError,
  type AppendOptions,
  type Clock,
  type Codec,
  type ConsumerHold,
  type DeadLetterStore,
  type Journal,
  type JournalEntry,
  type JournalRecord,
  type JournalStats,
  type ReadOptions,
  type Timer,
  type TruncateOptions,
  type TruncateResult,
} from '../../index.js';
import {
  AppendWaiters,
  callSafely,
  checkConsumer,
  checkNames,
  checkPosition,
  checkRead,
  encodeRecords,
  rejecting,
  type EncodedRecord,
} from '../../backend.js';
import { takeConsumer } from './consumer-lock.js';
import type { SqliteDatabase } from './driver.js';
import { EntryStatements, writtenEntry, type EntryRow } from './entry-row.js';
import { GroupCommit } from './group-commit.js';
import { readError, reading, writeError } from './journal-errors.js';
import { JournalMeta } from './journal-meta.js';
import { openDatabase } from './open-database.js';
import { readEntries } from './read-entries.js';
import { SqliteDeadLetters } from './sqlite-dead-letters.js';
import {
  resolveSqliteJournalOptions,
  type ResolvedSqliteJournalOptions,
  type SqliteJournalOptions,
} from './sqlite-journal-options.js';

/**
 * The embedded, durable journal: one SQLite file in WAL mode, through `node:sqlite` or
 * `better-sqlite3` (the `driver` option).
 * With `synchronous: 'full'` (the default) an append resolves only once fsynced, so it
 * survives a process kill and a power loss. Appends made in one turn of the event loop
 * share one transaction (group commit). Several processes may open one file.
 *
 * ```ts
 * const journal = await SqliteJournal.open('./data/journal.db');
 * const [position] = await journal.append([{ key: 'acct-1', payload: { balance: 10 } }]);
 * ```
 */
export class SqliteJournal implements Journal {
  /** The file it was opened at. */
  readonly path: string;
  /** Random, chosen when the file was created. */
  readonly id: string;
  readonly #db: SqliteDatabase;
  readonly #codec: Codec;
  readonly #pollIntervalMs: number;
  readonly #synchronous: 'full' | 'normal';
  readonly #clock: Clock;
  readonly #waiters = new AppendWaiters();
  readonly #appended = new Set<(entries: readonly JournalEntry[]) => void>();
  readonly #entries: EntryStatements;
  readonly #meta: JournalMeta;
  readonly #writer: GroupCommit;
  readonly #truncate: (before: number, force: boolean) => TruncateResult;

  /** The head as of our last transaction or poll; other processes may have moved it. */
  #head: number;
  #poll: Timer | undefined;
  #closed = false;
  #deadLetterStore: DeadLetterStore | undefined;

  private constructor(path: string, db: SqliteDatabase, options: ResolvedSqliteJournalOptions) {
    this.path = path;
    this.#db = db;
    this.#codec = options.codec;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#synchronous = options.synchronous;
    this.#clock = options.clock;
    this.#entries = new EntryStatements(db);
    this.#meta = new JournalMeta(db);
    this.id = this.#meta.id;
    this.#head = this.#meta.head();
    this.#writer = new GroupCommit(
      path,
      db,
      { entries: this.#entries, meta: this.#meta },
      options,
      {
        committed: (head, rows) => {
          this.#head = head;
          if (this.#appended.size > 0 && rows.length > 0) this.#handOver(rows);
        },
        settled: () => this.#waiters.notify(this.#head),
      },
    );
    this.#truncate = db.transaction((before: number, force: boolean): TruncateResult => {
      const head = this.#meta.head();
      let limit = Math.min(before, head + 1);
      const lowest = force ? undefined : this.#meta.lowestCheckpoint();
      if (lowest !== undefined) limit = Math.min(limit, lowest + 1);
      const removed = this.#entries.removeBefore(limit);
      return { removed, firstRetained: this.#first(head) };
    }, 'immediate');
  }

  /**
   * Opens (or creates) the journal at `path`. Refuses, with
   * {@link sluice!JournalFormatError | JournalFormatError}, a file that is not a sluice journal
   * or was written by a newer schema.
   */
  static async open(path: string, options: SqliteJournalOptions = {}): Promise<SqliteJournal> {
    if (typeof path !== 'string' || path.length === 0) {
      throw new InputError('SqliteJournal.open() needs a file path');
    }
    const resolved = resolveSqliteJournalOptions(options);
    return openDatabase(path, resolved, (db) => new SqliteJournal(path, db, resolved));
  }

  /**
   * Takes `consumer` for this caller alone: refused with JournalLockedError while another
   * pipeline (in this process or another) holds it; a holder's hold ends with its process.
   */
  acquire(consumer: string): Promise<ConsumerHold> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      return Promise.resolve(takeConsumer(this.path, this.#db, consumer));
    });
  }

  /** Write transactions committed since open: appends per transaction shows group commit at work. */
  get writeTransactions(): number {
    return this.#writer.transactions;
  }

  /** Dead letters in this journal's file (table `sluice_dead_letters`). */
  deadLetters(): DeadLetterStore {
    this.#deadLetterStore ??= new SqliteDeadLetters(this, { codec: this.#codec });
    return this.#deadLetterStore;
  }

  /** The underlying database, for adapters that keep their tables beside the journal. */
  get database(): SqliteDatabase {
    this.#open();
    return this.#db;
  }

  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    let encoded: EncodedRecord[];
    try {
      this.#open();
      encoded = encodeRecords(records, this.#codec, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#writer.append(encoded);
  }

  read(after: number, options: ReadOptions = {}): Promise<JournalEntry[]> {
    return reading(this.path, () => {
      this.#open();
      const { limit, region, maxBytes } = checkRead(after, options);
      return Promise.resolve(
        readEntries(this.#entries, this.#codec, after, limit, region, maxBytes),
      );
    });
  }

  commit(consumer: string, position: number): Promise<void> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      checkPosition('position', position);
      if (position > this.#head) this.#head = this.#meta.head();
      if (position > this.#head) {
        throw new InputError(`cannot commit ${consumer} at ${position}: the head is ${this.#head}`);
      }
      return this.#writer.commit(consumer, position);
    });
  }

  committed(consumer: string): Promise<number> {
    return reading(this.path, () => {
      this.#open();
      checkConsumer(consumer);
      return Promise.resolve(this.#meta.committed(consumer));
    });
  }

  onAppended(listener: (entries: readonly JournalEntry[]) => void): () => void {
    this.#open();
    const wrapped = (entries: readonly JournalEntry[]): void => listener(entries);
    this.#appended.add(wrapped);
    return () => this.#appended.delete(wrapped);
  }

  /** The rows a transaction wrote, to the `onAppended` listeners, decoded as a read would. */
  #handOver(rows: readonly EntryRow[]): void {
    // Each listener its own entries, as each read decodes its own: one consumer changing a
    // value cannot change another's.
    for (const listener of this.#appended) {
      callSafely(
        listener,
        rows.map((row) => writtenEntry(row, this.#codec)),
      );
    }
  }

  waitForAppend(after: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    return rejecting(() => {
      this.#open();
      checkPosition('after', after);
      if (after >= this.#head) this.#head = this.#readHead();
      const waiting = this.#waiters.wait(after, this.#head, options.signal);
      this.#startPolling();
      return waiting;
    });
  }

  truncate(before: number, options: TruncateOptions = {}): Promise<TruncateResult> {
    return rejecting(() => {
      this.#open();
      checkPosition('before', before);
      checkNames('truncate options', options, ['force']);
      try {
        return Promise.resolve(
          this.#unsynced(() => this.#truncate(before, options.force === true)),
        );
      } catch (error) {
        throw writeError(this.path, error);
      }
    });
  }

  /**
   * `write` committed without its own fsync. For a truncation only: losing one to a power
   * cut loses nothing (the rows are past every checkpoint and go with the next one), and the
   * next append's fsync makes it durable with the rest of the WAL written before it.
   */
  #unsynced<T>(write: () => T): T {
    if (this.#synchronous === 'normal') return write();
    // exec, not pragma(): node:sqlite's pragma() prepares a statement on every call.
    this.#db.exec('PRAGMA synchronous = NORMAL');
    try {
      return write();
    } finally {
      this.#db.exec('PRAGMA synchronous = FULL');
    }
  }

  stats(): Promise<JournalStats> {
    return reading(this.path, () => {
      this.#open();
      const head = (this.#head = this.#meta.head());
      const first = this.#first(head);
      return Promise.resolve({
        head,
        first,
        entries: head - first + 1,
        bytes: this.#meta.bytes(),
        consumers: this.#meta.checkpoints().map((c) => ({ ...c, lag: head - c.position })),
      });
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#writer.flush();
    this.#closed = true;
    this.#poll?.cancel();
    this.#waiters.releaseAll();
    this.#db.close();
    return Promise.resolve();
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('journal is closed');
  }

  /** Lowest retained position (positions are removed only from the front). */
  #first(head: number): number {
    return this.#entries.first() ?? head + 1;
  }

  /** The stored head; a storage failure is a JournalReadError. */
  #readHead(): number {
    try {
      return this.#meta.head();
    } catch (error) {
      throw readError(this.path, error);
    }
  }

  /** While readers wait, look for appends made by other processes. */
  #startPolling(): void {
    if (this.#poll !== undefined || this.#waiters.size === 0) return;
    this.#poll = this.#clock.setTimer(() => {
      this.#poll = undefined;
      if (this.#closed) return;
      try {
        this.#head = this.#meta.head();
      } catch {
        // The file cannot be read now (busy past the timeout, an I/O error): the readers
        // are woken, and their next read or wait meets the failure as a JournalReadError,
        // which they retry or report. Waiting again starts the polling again.
        this.#waiters.releaseAll();
        return;
      }
      this.#waiters.notify(this.#head);
      this.#startPolling();
    }, this.#pollIntervalMs);
  }
}
