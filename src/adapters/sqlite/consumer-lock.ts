/**
 * One holder per consumer of a SQLite journal, across processes and within one.
 *
 * The hold is an exclusive SQLite lock on a small file beside the journal
 * (`<journal>.<consumer>.lock`), taken by a connection that keeps a transaction open. SQLite
 * locks are POSIX file locks: the operating system drops them when their process ends, so a
 * `kill -9`'d holder's hold ends with it and the next `acquire` succeeds at once, with no
 * expiry to wait for. Within one process, SQLite refuses a second connection's lock too;
 * a second hold through the same journal object (and any on a `:memory:` journal) is
 * refused by a registry here before SQLite is asked.
 *
 * Who holds the consumer (pid, host, since) is recorded in the journal's `sluice_holders`
 * table, so a refusal can name them. The lock file is never deleted: a process could hold
 * it open while another deletes and recreates it, and two holders would then lock two
 * different files.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { openSqlite, sqliteError, type SqliteDatabase, type SqliteStatement } from './driver.js';
import {
  JournalLockedError,
  JournalWriteError,
  type ConsumerHold,
  type JournalHolder,
} from '../../index.js';

/** What each journal connection keeps: its holds by consumer, its statements (prepared once). */
interface Holders {
  readonly held: Map<string, JournalHolder>;
  readonly record: SqliteStatement<[string, number, string, number]>;
  readonly forget: SqliteStatement<[string, number, number]>;
  readonly recorded: SqliteStatement<[string], JournalHolder>;
}

const holdersOf = new WeakMap<SqliteDatabase, Holders>();

function holders(journal: SqliteDatabase): Holders {
  let h = holdersOf.get(journal);
  if (h === undefined) {
    h = {
      held: new Map(),
      record: journal.prepare(
        'INSERT OR REPLACE INTO sluice_holders (consumer, pid, host, since) VALUES (?, ?, ?, ?)',
      ),
      forget: journal.prepare(
        'DELETE FROM sluice_holders WHERE consumer = ? AND pid = ? AND since = ?',
      ),
      recorded: journal.prepare('SELECT pid, host, since FROM sluice_holders WHERE consumer = ?'),
    };
    holdersOf.set(journal, h);
  }
  return h;
}

/**
 * `<journal>.<consumer>.lock`; a consumer name that is not file-safe everywhere (lower case
 * letters, digits, `-`, `_`: `A` and `a` are one file on some file systems) is hashed.
 */
export function lockPath(journalPath: string, consumer: string): string {
  const name = /^[a-z0-9_-]{1,64}$/.test(consumer)
    ? consumer
    : `c-${createHash('sha256').update(consumer).digest('hex').slice(0, 16)}`;
  return `${journalPath}.${name}.lock`;
}

/** Takes `consumer` of the journal at `path` (whose database is `journal`), or refuses. */
export function takeConsumer(
  path: string,
  journal: SqliteDatabase,
  consumer: string,
): ConsumerHold {
  const memory = path === ':memory:' || path === '';
  const statements = holders(journal);
  const { held } = statements;
  const mine = held.get(consumer);
  if (mine !== undefined) throw new JournalLockedError(path, consumer, mine);
  let lock: SqliteDatabase | undefined;
  if (!memory) {
    const file = lockPath(path, consumer);
    try {
      lock = openSqlite(file, { timeoutMs: 0, driver: journal.driver });
      lock.exec('BEGIN EXCLUSIVE');
    } catch (cause) {
      lock?.close();
      if (sqliteError(cause)?.startsWith('SQLITE_BUSY') === true) {
        throw new JournalLockedError(path, consumer, recordedHolder(statements, consumer));
      }
      throw new JournalWriteError(`cannot lock ${file}: ${(cause as Error).message}`, { cause });
    }
  }
  const holder: JournalHolder = { pid: process.pid, host: hostname(), since: Date.now() };
  try {
    statements.record.run(consumer, holder.pid, holder.host, holder.since);
  } catch (cause) {
    lock?.close();
    throw new JournalWriteError(
      `cannot record the holder in ${path}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  held.set(consumer, holder);
  let released = false;
  return {
    consumer,
    release(): Promise<void> {
      if (released) return Promise.resolve();
      released = true;
      held.delete(consumer);
      try {
        if (journal.open) {
          statements.forget.run(consumer, holder.pid, holder.since);
        }
      } catch {
        // The row only names a holder for an error message; the lock below is what counts,
        // and a stale row is overwritten by the next holder.
      } finally {
        lock?.close(); // closing ends the open transaction, and with it the file lock
      }
      return Promise.resolve();
    },
  };
}

function recordedHolder(statements: Holders, consumer: string): JournalHolder | undefined {
  try {
    const row = statements.recorded.get(consumer);
    return row === undefined ? undefined : { pid: row.pid, host: row.host, since: row.since };
  } catch {
    return undefined; // the refusal stands; it only cannot name the holder
  }
}
