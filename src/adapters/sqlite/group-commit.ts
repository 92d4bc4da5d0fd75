/**
 * GroupCommit: the SQLite journal's writer. Appends and checkpoint commits made in one turn
 * of the event loop are written in one transaction on the next turn (`setImmediate`), up to
 * `maxGroupRecords` records per transaction; each caller's promise settles when that
 * transaction has committed. While appends come from several callers at once (the last
 * write carried more than one append call), a write starts no sooner than `groupCommitMs`
 * after the previous one started: what comes meanwhile waits for it, so a stream of writes
 * shares one fsync rather than paying one each. A lone caller awaiting each append, or an
 * append after a quiet spell, is written on the next turn as before.
 *
 * Failure: if a record of the group is refused (a constraint, a value too big), the calls
 * are written again one transaction each, so only the call that carried it fails; if the
 * storage itself fails (a full disk, I/O), every call of the group rejects with a
 * JournalWriteError and nothing of them is written.
 *
 * Positions are assigned inside the write transaction from the stored head, so several
 * processes may append to one file; versions grow past the stored version and at least
 * with the wall clock (now × 1000), and a record whose id is stored keeps its position.
 */
import type { Clock, Timer } from '../../index.js';
import { sqliteError, type SqliteDatabase } from './driver.js';
import type { EncodedRecord } from '../../backend.js';
import { entryRow, insertSize, type EntryRow, type EntryStatements } from './entry-row.js';
import { writeError } from './journal-errors.js';
import type { JournalMeta } from './journal-meta.js';

interface PendingAppend {
  readonly records: EncodedRecord[];
  readonly resolve: (positions: number[]) => void;
  readonly reject: (error: unknown) => void;
}

interface PendingCommit {
  position: number;
  readonly waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

/** What one write transaction did: the positions of each call, the head after it, its rows. */
interface Written {
  readonly positions: number[][];
  readonly head: number;
  /** The rows it inserted, in position order (a known id inserts none). */
  readonly rows: EntryRow[];
}

export interface GroupCommitHooks {
  /**
   * After each transaction that committed, before its callers are settled: the head it left
   * and the rows it inserted.
   */
  committed(head: number, rows: readonly EntryRow[]): void;
  /** After the callers of a group were settled and something of it was written. */
  settled(): void;
}

export class GroupCommit {
  readonly #path: string;
  readonly #entries: EntryStatements;
  readonly #meta: JournalMeta;
  readonly #maxGroupRecords: number;
  readonly #hooks: GroupCommitHooks;
  /** One IMMEDIATE write transaction. */
  readonly #transaction: (group: PendingAppend[], commits: Map<string, PendingCommit>) => Written;
  #pending: PendingAppend[] = [];
  #pendingCommits = new Map<string, PendingCommit>();
  #scheduled = false;
  /** The timer of a write that waits out `groupCommitMs`. */
  #timer: Timer | undefined;
  /** When the last write started (clock ms), and how many append calls it carried. */
  #lastWrite = -Infinity;
  #lastCalls = 0;
  #transactions = 0;
  readonly #clock: Clock;
  readonly #groupCommitMs: number;

  constructor(
    path: string,
    db: SqliteDatabase,
    statements: { entries: EntryStatements; meta: JournalMeta },
    options: { maxGroupRecords: number; groupCommitMs: number; clock: Clock },
    hooks: GroupCommitHooks,
  ) {
    this.#path = path;
    this.#entries = statements.entries;
    this.#meta = statements.meta;
    this.#maxGroupRecords = options.maxGroupRecords;
    this.#groupCommitMs = options.groupCommitMs;
    this.#clock = options.clock;
    this.#hooks = hooks;
    this.#transaction = db.transaction(
      (group: PendingAppend[], commits: Map<string, PendingCommit>) =>
        this.#writeGroup(group, commits),
      'immediate',
    );
  }

  /** Write transactions committed so far. */
  get transactions(): number {
    return this.#transactions;
  }

  append(records: EncodedRecord[]): Promise<number[]> {
    return new Promise<number[]>((resolve, reject) => {
      this.#pending.push({ records, resolve, reject });
      this.#schedule();
    });
  }

  /** Sets `consumer`'s checkpoint; commits of one turn for one consumer keep the last. */
  commit(consumer: string, position: number): Promise<void> {
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
  }

  /** Writes pending appends and commits now, a transaction per `maxGroupRecords` records. */
  flush(): void {
    this.#scheduled = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#pending.length > 0 || this.#pendingCommits.size > 0) {
      this.#lastWrite = this.#clock.now();
      this.#lastCalls = this.#pending.length;
    }
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
        written = this.#transaction(group, commits);
      } catch (error) {
        if (group.length + commits.size > 1 && causedByRecord(error)) {
          this.#writeAlone(group, commits);
        } else {
          for (const p of group) p.reject(writeError(this.#path, error));
          for (const c of commits.values())
            for (const w of c.waiters) w.reject(writeError(this.#path, error));
        }
        continue;
      }
      this.#committed(written);
      group.forEach((p, i) => p.resolve(written.positions[i] as number[]));
      for (const c of commits.values()) for (const w of c.waiters) w.resolve();
      this.#hooks.settled();
    }
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const wait =
      this.#lastCalls > 1 ? this.#lastWrite + this.#groupCommitMs - this.#clock.now() : 0;
    if (wait > 0) {
      this.#timer = this.#clock.setTimer(() => this.flush(), wait);
    } else {
      setImmediate(() => {
        if (this.#scheduled) this.flush();
      });
    }
  }

  /** After a write transaction committed (not before: a failed COMMIT rolls it all back). */
  #committed(written: Written): void {
    this.#transactions++;
    this.#hooks.committed(written.head, written.rows);
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
        const written = this.#transaction([p], none);
        this.#committed(written);
        p.resolve(written.positions[0] as number[]);
      } catch (error) {
        p.reject(writeError(this.#path, error));
      }
    }
    for (const [consumer, c] of commits) {
      try {
        this.#committed(this.#transaction([], new Map([[consumer, c]])));
        for (const w of c.waiters) w.resolve();
      } catch (error) {
        for (const w of c.waiters) w.reject(writeError(this.#path, error));
      }
    }
    this.#hooks.settled();
  }

  /**
   * One write transaction: assigns positions past the stored head and versions past the
   * stored version (at least now × 1000), skips known ids. Rows go in INSERT_SIZES at a time;
   * a statement that meets a known id (a redelivery, an id repeated in the group) is done
   * again one row at a time, which tells the known ones apart, and the next goes in whole.
   */
  #writeGroup(group: PendingAppend[], commits: Map<string, PendingCommit>): Written {
    let head = this.#meta.head();
    const now = Date.now();
    const start = this.#meta.version();
    let version = start;
    const records: EncodedRecord[] = [];
    for (const p of group) for (const r of p.records) records.push(r);
    const positions = new Array<number>(records.length);
    const rows: EntryRow[] = [];
    for (let i = 0, size; i < records.length; i += size) {
      size = insertSize(records.length - i);
      // Every row new, positions and versions in order.
      const chunk = new Array<EntryRow>(size);
      let v = version;
      for (let k = 0; k < size; k++) {
        const r = records[i + k] as EncodedRecord;
        chunk[k] = entryRow(r, head + 1 + k, now, r.version ?? (v = Math.max(v + 1, now * 1000)));
      }
      if (this.#entries.insertMany(chunk)) {
        for (let k = 0; k < size; k++) {
          positions[i + k] = ++head;
          rows.push(chunk[k] as EntryRow);
        }
        version = v;
        continue;
      }
      for (let k = i; k < i + size; k++) {
        const r = records[k] as EncodedRecord;
        const next = r.version ?? Math.max(version + 1, now * 1000);
        const row = entryRow(r, head + 1, now, next);
        if (this.#entries.insert(row)) {
          rows.push(row);
          positions[k] = ++head;
          if (r.version === undefined) version = next;
        } else {
          positions[k] = this.#entries.positionOfId(r.id as string);
        }
      }
    }
    this.#meta.setHead(head);
    if (version !== start) this.#meta.setVersion(version);
    for (const [consumer, c] of commits) this.#meta.commit(consumer, c.position, now);
    const out = new Array<number[]>(group.length);
    let at = 0;
    for (let g = 0; g < group.length; g++) {
      const length = (group[g] as PendingAppend).records.length;
      out[g] = positions.slice(at, (at += length));
    }
    return { positions: out, head, rows };
  }
}

/** SQLite errors that one record causes, so its call can fail alone. */
function causedByRecord(error: unknown): boolean {
  if (error instanceof RangeError || error instanceof TypeError) return true; // binding a value
  const code = sqliteError(error);
  return code !== undefined && /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/.test(code);
}
