/**
 * SqliteJournal: the embedded, durable journal (one SQLite file, WAL mode).
 *
 * Durability: with `synchronous: 'full'` (the default) an append resolves only after its
 * transaction is fsynced, so it survives a process kill and a power loss. With `'normal'`
 * it still survives a process kill, but the last transactions before a power loss or OS
 * crash may be rolled back (SQLite syncs the WAL only at checkpoints); appends are then
 * cheaper.
 *
 * Group commit: appends and checkpoint commits made in one turn of the event loop are
 * written in one transaction, on the next turn (`setImmediate`), up to `maxGroupRecords`
 * records per transaction. Each caller's promise settles when that transaction has
 * committed. If a record of the group is refused (a constraint, a value too big), the
 * calls are written again one transaction each, so only the call that carried it fails;
 * if the storage itself fails (a full disk, I/O), every call of the group rejects with a
 * JournalWriteError and nothing of them is written.
 *
 * Reads are index seeks: the whole log by primary key from `after`, exact keys through the
 * (key, position) index, prefixes and types by primary-key scan from `after` with a filter.
 * None of them look at entries before `after`.
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
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import BetterSqlite3, { type Database, type Statement, type Transaction } from 'better-sqlite3';
import {
  AppendWaiters,
  ClosedError,
  ConfigError,
  InputError,
  JournalFormatError,
  JournalReadError,
  JournalWriteError,
  SluiceError,
  checkConsumer,
  checkPosition,
  checkRead,
  choiceOption,
  encodeRecords,
  integerOption,
  jsonCodec,
  objectOption,
  payloadBytes,
  rejecting,
  systemClock,
  type Clock,
  type AppendOptions,
  type Codec,
  type ConsumerHold,
  type DeadLetterStore,
  type EncodedRecord,
  type Encoded,
  type Payload,
  type Journal,
  type JournalEntry,
  type JournalRecord,
  type JournalStats,
  type ReadOptions,
  type Region,
  type Timer,
  type TruncateOptions,
  type TruncateResult,
} from '../../index.js';
import { keyQuery, regionQuery, type ReadQuery } from './read-query.js';
import { takeConsumer } from './consumer-lock.js';
import { migrate } from './schema.js';
import { SqliteDeadLetters } from './sqlite-dead-letters.js';

export interface SqliteJournalOptions {
  /** `'full'`: survives power loss; `'normal'`: survives a process kill only. @default 'full' */
  synchronous?: 'full' | 'normal';
  /** @default jsonCodec */
  codec?: Codec;
  /** Create the file (and its folder) if it does not exist. @default true */
  create?: boolean;
  /** Most records written in one transaction. @default 10000 */
  maxGroupRecords?: number;
  /** How often `waitForAppend` checks for appends by other processes. @default 250 */
  pollIntervalMs?: number;
  /**
   * The (key, position) index that makes exact-key reads a seek. `false` drops it: appends
   * get cheaper (one B-tree less to update, at random places; ~10% less CPU per append in
   * the pipeline here), and exact-key reads
   * then scan forward from `after` like prefix reads. For a journal that is only read in
   * order, such as a WriteBehind's. Unset: the file keeps what it has (new files get it).
   */
  keyIndex?: boolean;
  /**
   * The WAL is folded back into the file each time it reaches this many pages (4 KiB each
   * by default), bounding its size when no reader holds an old snapshot: a smaller value
   * suits a small volume, at some cost per append. @default 4000 (~16 MiB)
   */
  walCheckpointPages?: number;
  /** @default systemClock */
  clock?: Clock;
}

interface PendingAppend {
  readonly records: EncodedRecord[];
  readonly resolve: (positions: number[]) => void;
  readonly reject: (error: unknown) => void;
}

interface PendingCommit {
  position: number;
  readonly waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

type Row = [number, string, string | null, string | null, Encoded, number, number, string | null];

export class SqliteJournal implements Journal {
  readonly path: string;
  /** Random, chosen when the file was created. */
  readonly id: string;
  readonly #db: Database;
  readonly #codec: Codec;
  readonly #maxGroupRecords: number;
  readonly #pollIntervalMs: number;
  readonly #clock: Clock;
  readonly #waiters = new AppendWaiters();

  readonly #insert: Statement;
  readonly #byId: Statement;
  readonly #readHead: Statement;
  readonly #writeHead: Statement;
  readonly #readVersion: Statement;
  readonly #writeVersion: Statement;
  readonly #upsertCheckpoint: Statement;
  readonly #writeTransaction: Transaction<
    (group: PendingAppend[], commits: Map<string, PendingCommit>) => Written
  >;
  /** Read statements by SQL text (a handful of region shapes in practice). */
  readonly #reads = new Map<string, Statement>();

  /** The head as of our last transaction or poll; other processes may have moved it. */
  #head: number;
  #pending: PendingAppend[] = [];
  #pendingCommits = new Map<string, PendingCommit>();
  #scheduled = false;
  #transactions = 0;
  #poll: Timer | undefined;
  #closed = false;
  #deadLetterStore: DeadLetterStore | undefined;

  private constructor(
    path: string,
    db: Database,
    options: Required<Omit<SqliteJournalOptions, 'keyIndex'>>,
  ) {
    this.path = path;
    this.#db = db;
    this.#codec = options.codec;
    this.#maxGroupRecords = options.maxGroupRecords;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#clock = options.clock;
    this.#insert = db.prepare(
      `INSERT OR IGNORE INTO sluice_entries (position, key, type, id, payload, appended_at, version, origin)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#byId = db.prepare('SELECT position FROM sluice_entries WHERE id = ?').pluck();
    this.#readHead = db.prepare("SELECT value FROM sluice_meta WHERE name = 'head'").pluck();
    this.#writeHead = db.prepare("UPDATE sluice_meta SET value = ? WHERE name = 'head'");
    this.#readVersion = db.prepare("SELECT value FROM sluice_meta WHERE name = 'version'").pluck();
    this.#writeVersion = db.prepare("UPDATE sluice_meta SET value = ? WHERE name = 'version'");
    this.id = db
      .prepare("SELECT value FROM sluice_info WHERE name = 'journal_id'")
      .pluck()
      .get() as string;
    this.#upsertCheckpoint = db.prepare(
      `INSERT INTO sluice_checkpoints (consumer, position, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    );
    this.#writeTransaction = db.transaction((group, commits) => this.#writeGroup(group, commits));
    this.#head = this.#readHead.get() as number;
  }

  /**
   * Opens (or creates) the journal at `path`. Refuses, with {@link JournalFormatError}, a
   * file that is not a sluice journal or was written by a newer schema.
   */
  static async open(path: string, options: SqliteJournalOptions = {}): Promise<SqliteJournal> {
    if (typeof path !== 'string' || path.length === 0) {
      throw new InputError('SqliteJournal.open() needs a file path');
    }
    const o = objectOption('options', options);
    const keyIndex = o.keyIndex;
    if (keyIndex !== undefined && typeof keyIndex !== 'boolean') {
      throw new ConfigError('keyIndex', 'a boolean', keyIndex);
    }
    const resolved: Required<Omit<SqliteJournalOptions, 'keyIndex'>> = {
      synchronous: choiceOption('synchronous', o.synchronous, 'full', ['full', 'normal']),
      codec: (o.codec as Codec | undefined) ?? jsonCodec,
      create: o.create !== false,
      maxGroupRecords: integerOption('maxGroupRecords', o.maxGroupRecords, 10_000, 1),
      pollIntervalMs: integerOption('pollIntervalMs', o.pollIntervalMs, 250, 1),
      walCheckpointPages: integerOption('walCheckpointPages', o.walCheckpointPages, 4000, 1),
      clock: (o.clock as Clock | undefined) ?? systemClock,
    };
    if (!resolved.create && path !== ':memory:' && !existsSync(path)) {
      throw new InputError(`no journal at ${path}`);
    }
    if (resolved.create && path !== ':memory:') {
      // `./data/journal.db` on a fresh machine: the folder is part of what is created.
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (cause) {
        throw new JournalWriteError(`cannot create the folder of ${path}: ${String(cause)}`, {
          cause,
        });
      }
    }
    // Another process may be creating, migrating or switching the same file to WAL: SQLite
    // refuses some of those steps at once (SQLITE_BUSY, no busy wait), so the whole
    // preparation is tried again for a while.
    const deadline = Date.now() + OPEN_BUSY_MS;
    for (;;) {
      try {
        const db = prepare(path, resolved, keyIndex);
        try {
          return new SqliteJournal(path, db, resolved);
        } catch (cause) {
          db.close();
          throw new JournalFormatError(`${path}: ${String(cause)}`, { cause });
        }
      } catch (error) {
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY');
        if (!busy || Date.now() > deadline) throw error;
        await delay(5 + Math.random() * 20);
      }
    }
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
    return this.#transactions;
  }

  /** Dead letters in this journal's file (table `sluice_dead_letters`). */
  deadLetters(): DeadLetterStore {
    this.#deadLetterStore ??= new SqliteDeadLetters(this, { codec: this.#codec });
    return this.#deadLetterStore;
  }

  /** The underlying database, for adapters that keep their tables beside the journal. */
  get database(): Database {
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
    return new Promise<number[]>((resolve, reject) => {
      this.#pending.push({ records: encoded, resolve, reject });
      this.#schedule();
    });
  }

  read(after: number, options: ReadOptions = {}): Promise<JournalEntry[]> {
    return reading(this.path, () => {
      this.#open();
      const { limit, region, maxBytes } = checkRead(after, options);
      return Promise.resolve(this.#read(after, limit, region, maxBytes));
    });
  }

  commit(consumer: string, position: number): Promise<void> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      checkPosition('position', position);
      if (position > this.#head) this.#head = this.#readHead.get() as number;
      if (position > this.#head) {
        throw new InputError(`cannot commit ${consumer} at ${position}: the head is ${this.#head}`);
      }
      return new Promise<void>((resolve, reject) => {
        const pending = this.#pendingCommits.get(consumer);
        if (pending === undefined) {
          this.#pendingCommits.set(consumer, { position, waiters: [{ resolve, reject }] });
        } else {
          pending.position = position;
          pending.waiters.push({ resolve, reject });
        }
        this.#schedule();
      });
    });
  }

  committed(consumer: string): Promise<number> {
    return reading(this.path, () => {
      this.#open();
      checkConsumer(consumer);
      const row = this.#db
        .prepare('SELECT position FROM sluice_checkpoints WHERE consumer = ?')
        .pluck()
        .get(consumer) as number | undefined;
      return Promise.resolve(row ?? 0);
    });
  }

  waitForAppend(after: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    return rejecting(() => {
      this.#open();
      checkPosition('after', after);
      if (after >= this.#head) this.#head = this.#readHead.get() as number;
      const waiting = this.#waiters.wait(after, this.#head, options.signal);
      this.#startPolling();
      return waiting;
    });
  }

  truncate(before: number, options: TruncateOptions = {}): Promise<TruncateResult> {
    return rejecting(() => {
      this.#open();
      checkPosition('before', before);
      const result = this.#db.transaction((): TruncateResult => {
        const head = this.#readHead.get() as number;
        let limit = Math.min(before, head + 1);
        if (options.force !== true) {
          const lowest = this.#db
            .prepare('SELECT min(position) FROM sluice_checkpoints')
            .pluck()
            .get() as number | null;
          if (lowest !== null) limit = Math.min(limit, lowest + 1);
        }
        const removed = this.#db
          .prepare('DELETE FROM sluice_entries WHERE position < ?')
          .run(limit).changes;
        return { removed, firstRetained: this.#first(head) };
      });
      try {
        return Promise.resolve(result.immediate());
      } catch (error) {
        throw writeError(this.path, error);
      }
    });
  }

  stats(): Promise<JournalStats> {
    return reading(this.path, () => {
      this.#open();
      const head = (this.#head = this.#readHead.get() as number);
      const first = this.#first(head);
      const pageCount = this.#db.pragma('page_count', { simple: true }) as number;
      const pageSize = this.#db.pragma('page_size', { simple: true }) as number;
      const consumers = this.#db
        .prepare('SELECT consumer, position FROM sluice_checkpoints ORDER BY consumer')
        .all() as { consumer: string; position: number }[];
      return Promise.resolve({
        head,
        first,
        entries: head - first + 1,
        bytes: pageCount * pageSize,
        consumers: consumers.map((c) => ({ ...c, lag: head - c.position })),
      });
    });
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#flushPending();
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
    const min = this.#db.prepare('SELECT min(position) FROM sluice_entries').pluck().get() as
      number | null;
    return min ?? head + 1;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushPending();
    });
  }

  /** Writes pending appends and commits, a transaction per `maxGroupRecords` records. */
  #flushPending(): void {
    while (this.#pending.length > 0 || this.#pendingCommits.size > 0) {
      let records = 0;
      let take = 0;
      while (take < this.#pending.length) {
        records += (this.#pending[take] as PendingAppend).records.length;
        take++;
        if (records >= this.#maxGroupRecords) break;
      }
      const group = this.#pending.splice(0, take);
      const commits = this.#pendingCommits;
      this.#pendingCommits = new Map();
      let written: Written;
      try {
        written = this.#writeTransaction.immediate(group, commits);
      } catch (error) {
        if (group.length + commits.size > 1 && causedByRecord(error)) {
          this.#writeAlone(group, commits);
        } else {
          for (const p of group) p.reject(writeError(this.path, error));
          for (const c of commits.values())
            for (const w of c.waiters) w.reject(writeError(this.path, error));
        }
        continue;
      }
      this.#committed(written);
      group.forEach((p, i) => p.resolve(written.positions[i] as number[]));
      for (const c of commits.values()) for (const w of c.waiters) w.resolve();
      this.#waiters.notify(this.#head);
    }
  }

  /** After a write transaction committed (not before: a failed COMMIT rolls it all back). */
  #committed(written: Written): void {
    this.#head = written.head;
    this.#transactions++;
  }

  /**
   * After a group transaction failed because of one of its records (a constraint, a value
   * too big): each call in a transaction of its own, so that call fails alone and the
   * others are written. A failure of the storage itself (a full disk, I/O, busy) fails
   * every call of the group at once instead: trying them one by one could not help.
   */
  #writeAlone(group: PendingAppend[], commits: Map<string, PendingCommit>): void {
    const none = new Map<string, PendingCommit>();
    for (const p of group) {
      try {
        const written = this.#writeTransaction.immediate([p], none);
        this.#committed(written);
        p.resolve(written.positions[0] as number[]);
      } catch (error) {
        p.reject(writeError(this.path, error));
      }
    }
    for (const [consumer, c] of commits) {
      try {
        this.#committed(this.#writeTransaction.immediate([], new Map([[consumer, c]])));
        for (const w of c.waiters) w.resolve();
      } catch (error) {
        for (const w of c.waiters) w.reject(writeError(this.path, error));
      }
    }
    this.#waiters.notify(this.#head);
  }

  /**
   * One write transaction: assigns positions past the stored head and versions past the
   * stored version (at least now × 1000), skips known ids.
   */
  #writeGroup(group: PendingAppend[], commits: Map<string, PendingCommit>): Written {
    let head = this.#readHead.get() as number;
    const now = Date.now();
    const start = this.#readVersion.get() as number;
    let version = start;
    const out = new Array<number[]>(group.length);
    for (let g = 0; g < group.length; g++) {
      const records = (group[g] as PendingAppend).records;
      const positions = new Array<number>(records.length);
      for (let i = 0; i < records.length; i++) {
        const r = records[i] as EncodedRecord;
        const next = r.version ?? Math.max(version + 1, now * 1000);
        const inserted = this.#insert.run(
          head + 1,
          r.key,
          r.type ?? null,
          r.id ?? null,
          r.payload,
          now,
          next,
          r.origin ?? null,
        );
        if (inserted.changes === 1) {
          positions[i] = ++head;
          if (r.version === undefined) version = next;
        } else {
          positions[i] = this.#byId.get(r.id) as number;
        }
      }
      out[g] = positions;
    }
    this.#writeHead.run(head);
    if (version !== start) this.#writeVersion.run(version);
    for (const [consumer, c] of commits) this.#upsertCheckpoint.run(consumer, c.position, now);
    return { positions: out, head };
  }

  #read(
    after: number,
    limit: number,
    region: Region | undefined,
    maxBytes: number,
  ): JournalEntry[] {
    const { keys, keyPrefix, types } = region ?? {};
    let rows: Row[];
    if (keys !== undefined && keyPrefix === undefined && types === undefined) {
      // Exact keys: one index seek per key, merged by position.
      rows = [...new Set(keys)].flatMap((key) => this.#run(keyQuery(key), after, limit));
      rows.sort((a, b) => a[0] - b[0]);
      rows = rows.slice(0, limit);
      if (maxBytes !== Infinity) rows = upTo(rows, maxBytes);
    } else if (maxBytes === Infinity) {
      rows = this.#run(regionQuery(region), after, limit);
    } else {
      // Row by row, so a run of large payloads is never fetched past the bound (all() would
      // hold every row of the limit at once; stepping costs ~0.3 µs a row more).
      const query = regionQuery(region);
      const stepped = this.#statement(query).iterate(...query.args(after, limit));
      rows = upTo(stepped as IterableIterator<Row>, maxBytes);
    }
    return this.#decode(rows);
  }

  #run(query: ReadQuery, after: number, limit: number): Row[] {
    return this.#statement(query).all(...query.args(after, limit)) as Row[];
  }

  #statement(query: ReadQuery): Statement {
    let statement = this.#reads.get(query.sql);
    if (statement === undefined) {
      statement = this.#db.prepare(query.sql).raw();
      this.#reads.set(query.sql, statement);
    }
    return statement;
  }

  #decode(rows: Row[]): JournalEntry[] {
    return rows.map(([position, key, type, id, payload, appendedAt, version, origin]) => {
      const entry = {
        position,
        key,
        type: type ?? undefined,
        id: id ?? undefined,
        payload: null as Payload,
        appendedAt,
        bytes: payloadBytes(payload),
        version,
        origin: origin ?? undefined,
      };
      try {
        entry.payload = this.#codec.decode(payload);
        return entry;
      } catch (error) {
        // One damaged row must not stop every read past it: the entry says what is stored.
        return { ...entry, undecodable: { stored: payload, error: String(error) } };
      }
    });
  }

  /** While readers wait, look for appends made by other processes. */
  #startPolling(): void {
    if (this.#poll !== undefined || this.#waiters.size === 0) return;
    this.#poll = this.#clock.setTimer(() => {
      this.#poll = undefined;
      if (this.#closed) return;
      this.#head = this.#readHead.get() as number;
      this.#waiters.notify(this.#head);
      this.#startPolling();
    }, this.#pollIntervalMs);
  }
}

/**
 * The first rows whose payloads fit in `maxBytes` (at least one), before decoding them; a
 * statement's iterator is left (and reset) at the first row that does not fit.
 */
function upTo(rows: Iterable<Row>, maxBytes: number): Row[] {
  const out: Row[] = [];
  let bytes = 0;
  for (const row of rows) {
    bytes += payloadBytes(row[4]);
    if (out.length > 0 && bytes > maxBytes) break;
    out.push(row);
  }
  return out;
}

/** What one write transaction did: the positions of each call, and the head after it. */
interface Written {
  readonly positions: number[][];
  readonly head: number;
}

/** SQLite errors that one record causes, so its call can fail alone. */
function causedByRecord(error: unknown): boolean {
  if (error instanceof RangeError || error instanceof TypeError) return true; // binding a value
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/.test(code);
}

/** How long `open` keeps trying while another process holds the file busy. */
const OPEN_BUSY_MS = 10_000;

/** Opens the file and brings it to what a journal needs; typed errors only. */
function prepare(
  path: string,
  options: Required<Omit<SqliteJournalOptions, 'keyIndex'>>,
  keyIndex: boolean | undefined,
): Database {
  let db: Database;
  try {
    db = new BetterSqlite3(path, { fileMustExist: !options.create });
  } catch (cause) {
    throw new JournalFormatError(`cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    // Before anything else: another process may be creating or migrating the file.
    db.pragma('busy_timeout = 5000');
    migrate(db, path);
    db.pragma('journal_mode = WAL');
    if (keyIndex === false) db.exec('DROP INDEX IF EXISTS sluice_entries_by_key');
    if (keyIndex === true) {
      db.exec('CREATE INDEX IF NOT EXISTS sluice_entries_by_key ON sluice_entries (key, position)');
    }
    db.pragma(`synchronous = ${options.synchronous.toUpperCase()}`);
    // Checkpoint the WAL into the main file every ~16 MiB instead of every 4 MiB: fewer,
    // larger checkpoints keep appends fast; the WAL stays bounded.
    db.pragma(`wal_autocheckpoint = ${options.walCheckpointPages}`);
    db.pragma('cache_size = -32768');
    return db;
  } catch (error) {
    db.close();
    if (error instanceof JournalFormatError || error instanceof JournalWriteError) throw error;
    throw new JournalWriteError(`cannot prepare ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Runs a read; a storage failure (a damaged page, an I/O error) becomes a JournalReadError
 * with SQLite's error as the cause. Bad arguments and a closed journal keep their errors.
 */
function reading<T>(path: string, fn: () => Promise<T>): Promise<T> {
  return rejecting(fn).catch((error: unknown) => {
    if (error instanceof SluiceError) throw error;
    throw new JournalReadError(`journal ${path} could not be read: ${String(error)}`, {
      cause: error,
    });
  });
}

/** A storage failure as the caller sees it: typed, with SQLite's error as the cause. */
function writeError(path: string, error: unknown): unknown {
  if (error instanceof JournalWriteError || error instanceof ClosedError) return error;
  return new JournalWriteError(
    `journal ${path} could not store this: ${(error as Error).message}`,
    {
      cause: error,
    },
  );
}
