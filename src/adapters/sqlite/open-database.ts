/**
 * Opening a journal file: its folder created, the file checked and migrated (schema.ts),
 * WAL and the durability settings applied, and whatever is built on the handle made; typed
 * errors only (JournalFormatError for a file that is not a journal, JournalWriteError for
 * storage that cannot be prepared, InputError for a missing file with `create: false`).
 *
 * Another process may be creating, migrating or switching the same file to WAL: SQLite
 * refuses some of those steps at once (SQLITE_BUSY, no busy wait), so the whole preparation
 * is tried again for a while.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { openSqlite, sqliteError, type SqliteDatabase } from './driver.js';
import {
  ConfigError,
  InputError,
  JournalFormatError,
  JournalWriteError,
  MissingDependencyError,
} from '../../index.js';
import { migrate } from './schema.js';
import type { ResolvedSqliteJournalOptions } from './sqlite-journal-options.js';

/** How long opening keeps trying while another process holds the file busy. */
const OPEN_BUSY_MS = 10_000;

type FileOptions = Pick<
  ResolvedSqliteJournalOptions,
  'create' | 'synchronous' | 'keyIndex' | 'walCheckpointPages' | 'driver'
>;

/**
 * Opens the journal at `path` and returns what `build` makes of the handle; the handle is
 * closed if `build` throws (its error becomes a JournalFormatError: the file's tables are
 * not what a journal has).
 */
export async function openDatabase<T>(
  path: string,
  options: FileOptions,
  build: (db: SqliteDatabase) => T,
): Promise<T> {
  const memory = path === ':memory:';
  if (!options.create && !memory && !existsSync(path)) {
    throw new InputError(`no journal at ${path}`);
  }
  if (options.create && !memory) {
    // `./data/journal.db` on a fresh machine: the folder is part of what is created.
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (cause) {
      throw new JournalWriteError(`cannot create the folder of ${path}: ${String(cause)}`, {
        cause,
      });
    }
  }
  const deadline = Date.now() + OPEN_BUSY_MS;
  for (;;) {
    try {
      const db = prepare(path, options);
      try {
        return build(db);
      } catch (cause) {
        db.close();
        throw new JournalFormatError(`${path}: ${String(cause)}`, { cause });
      }
    } catch (error) {
      const code = sqliteError((error as { cause?: unknown }).cause);
      const busy = code?.startsWith('SQLITE_BUSY') === true;
      if (!busy || Date.now() > deadline) throw error;
      await delay(5 + Math.random() * 20);
    }
  }
}

/** Opens the file and brings it to what a journal needs. */
function prepare(path: string, options: FileOptions): SqliteDatabase {
  let db: SqliteDatabase;
  try {
    db = openSqlite(path, { fileMustExist: !options.create, driver: options.driver });
  } catch (cause) {
    if (cause instanceof MissingDependencyError || cause instanceof ConfigError) throw cause;
    sqliteError(cause);
    throw new JournalFormatError(`cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    // Before anything else: another process may be creating or migrating the file.
    db.pragma('busy_timeout = 5000');
    migrate(db, path);
    db.pragma('journal_mode = WAL');
    if (options.keyIndex === false) db.exec('DROP INDEX IF EXISTS sluice_entries_by_key');
    if (options.keyIndex === true) {
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
    sqliteError(error);
    if (error instanceof JournalFormatError || error instanceof JournalWriteError) throw error;
    throw new JournalWriteError(`cannot prepare ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
