/**
 * The SQLite journal's schema and its migrations.
 *
 * A sluice journal file is marked with `PRAGMA application_id` and versioned with
 * `PRAGMA user_version`, so `open` can tell a sluice journal from any other SQLite file and
 * refuse a file written by a newer sluice instead of misreading it. Migrations run in order,
 * each in its own transaction; a new schema version is one more entry in `migrations`.
 *
 * Migrations are history: once released, one is never edited (files already carry what it
 * wrote). The `sluice_entries` table they build must be the one `ENTRY_COLUMNS`
 * (entry-row.ts) describes; test/adapters/sqlite/entry-row.test.ts checks it.
 */
import { sqliteError, type SqliteDatabase } from './driver.js';
import { JournalFormatError, JournalWriteError } from '../../index.js';

/** "SLCE": marks a SQLite file as a sluice journal. */
export const APPLICATION_ID = 0x534c4345;

const migrations: readonly string[] = [
  // v1: the log, its indexes, consumer checkpoints and the head counter.
  `
  CREATE TABLE sluice_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO sluice_meta (name, value) VALUES ('head', 0);

  CREATE TABLE sluice_entries (
    position    INTEGER PRIMARY KEY,
    key         TEXT NOT NULL,
    type        TEXT,
    id          TEXT,
    payload     BLOB,
    appended_at INTEGER NOT NULL
  );
  -- Exact-key reads seek here: (key, position) keeps each key's entries in order.
  CREATE INDEX sluice_entries_by_key ON sluice_entries (key, position);
  CREATE UNIQUE INDEX sluice_entries_by_id ON sluice_entries (id) WHERE id IS NOT NULL;

  CREATE TABLE sluice_checkpoints (
    consumer   TEXT PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // v2: dead letters, kept beside the log they came from.
  `
  CREATE TABLE sluice_dead_letters (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    position  INTEGER NOT NULL,
    entry_id  TEXT NOT NULL,
    key       TEXT NOT NULL,
    payload   BLOB,
    error     TEXT NOT NULL,
    attempts  INTEGER NOT NULL,
    failed_at INTEGER NOT NULL
  );
  `,
  // v3: versions, re-deliveries, the journal's own id, who holds which consumer.
  `
  ALTER TABLE sluice_entries ADD COLUMN version INTEGER;
  ALTER TABLE sluice_entries ADD COLUMN origin TEXT;
  ALTER TABLE sluice_dead_letters ADD COLUMN version INTEGER;
  INSERT INTO sluice_meta (name, value) VALUES ('version', 0);
  CREATE TABLE sluice_info (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO sluice_info (name, value) VALUES ('journal_id', lower(hex(randomblob(8))));
  -- Entries from before v3 keep the sink id they had then (their position), so a batch
  -- delivered before an upgrade and again after it is still the same rows.
  UPDATE sluice_entries SET origin = CAST(position AS TEXT) WHERE id IS NULL;
  -- Who took each consumer, for the error that refuses a second one (the lock itself is
  -- a file lock: it ends with its process, this row may outlive it).
  CREATE TABLE sluice_holders (
    consumer TEXT PRIMARY KEY,
    pid      INTEGER NOT NULL,
    host     TEXT NOT NULL,
    since    INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // v4: one letter per entry and position, found by index (a run that handles an entry
  // again after a restart finds the letter the last run wrote).
  `
  CREATE INDEX sluice_dead_letters_by_entry ON sluice_dead_letters (entry_id, position);
  `,
];

/**
 * The journal schema this version writes (the file's `user_version`): an older file is
 * migrated when opened, a newer one is refused with JournalFormatError.
 */
export const SCHEMA_VERSION = migrations.length;

/**
 * Checks that `db` is a sluice journal (or empty) and brings its schema up to date. Safe
 * when several processes open a new file at once: the check and the migrations run in one
 * write transaction, so the second process finds the work done.
 */
export function migrate(db: SqliteDatabase, path: string): void {
  // One read transaction: the three reads in check() must see one state of the file, not a
  // creator's commit landing between them.
  if (db.transaction(() => check(db, path))() === SCHEMA_VERSION) return;
  db.transaction(() => {
    const version = check(db, path);
    if (version === 0) db.pragma(`application_id = ${APPLICATION_ID}`);
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(migrations[v] as string);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }, 'immediate')();
}

/** The schema version of a sluice journal (0: an empty file); refuses anything else. */
function check(db: SqliteDatabase, path: string): number {
  let applicationId: number;
  let version: number;
  let tables: number;
  try {
    applicationId = db.pragma('application_id', { simple: true }) as number;
    version = db.pragma('user_version', { simple: true }) as number;
    tables = (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n;
  } catch (cause) {
    const code = sqliteError(cause);
    if (code !== undefined && /^SQLITE_(BUSY|IOERR|CANTOPEN|LOCKED)/.test(code)) {
      throw new JournalWriteError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    throw new JournalFormatError(`${path} is not a sluice journal: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (applicationId === 0 && version === 0) {
    if (tables > 0) {
      throw new JournalFormatError(
        `${path} is not a sluice journal: it is a SQLite database with other tables`,
      );
    }
    return 0;
  }
  if (applicationId !== APPLICATION_ID) {
    throw new JournalFormatError(
      `${path} is not a sluice journal: its SQLite application_id is ${applicationId}`,
    );
  }
  if (version > SCHEMA_VERSION) {
    throw new JournalFormatError(
      `${path} was written by a newer sluice (journal schema v${version}); this version reads up to v${SCHEMA_VERSION}`,
    );
  }
  return version;
}
