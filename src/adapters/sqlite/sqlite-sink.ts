/**
 * sqliteSink: writes batches into a table of a SQLite database, one transaction a batch.
 *
 * The table is yours; the sink checks at creation that it exists, has the columns, and has
 * the unique index its mode relies on (`conflict` for upsert, `idColumn` for insert), and
 * refuses with a ConfigError naming what is missing. Values are bound, never spliced into
 * SQL: numbers, strings, bigints and null as they are, booleans as 1/0, dates as ISO text,
 * bytes as blobs, other objects as JSON text. `versionColumn` guards an upsert (`... DO
 * UPDATE SET ... WHERE t.version IS NULL OR t.version < excluded.version`): an older entry
 * never overwrites a newer row.
 *
 * ```ts
 * // CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)
 * const sink = sqliteSink({ database: './app.db', table: 'balances',
 *   columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
import {
  driverOption,
  openSqlite,
  sqliteError,
  wrapSqlite,
  type SqliteDatabase,
  type SqliteDriverOption,
  type SqliteHandle,
} from './driver.js';
import {
  ClosedError,
  ConfigError,
  MissingDependencyError,
  SinkError,
  type Sink,
  type SinkContext,
  type SinkEntry,
  type SinkFailure,
  type SinkWriteResult,
  type TableSinkOptions,
} from '../../index.js';
import {
  choiceOption,
  coalesce,
  objectOption,
  quote,
  resolveTable,
  skippedResult,
  type ResolvedTable,
} from '../../backend.js';

/** Options of {@link sqliteSink}: the table options and the database to write to. */
export interface SqliteSinkOptions<V> extends TableSinkOptions<V> {
  /**
   * A file path (opened in WAL mode), or a database you opened: a better-sqlite3 `Database`
   * or a `node:sqlite` `DatabaseSync`.
   */
  database: SqliteHandle | string;
  /** For a database the sink opens itself. @default 'full' */
  synchronous?: 'full' | 'normal';
  /** For a database the sink opens itself: see SqliteJournalOptions.driver. @default 'auto' */
  driver?: SqliteDriverOption;
}

/**
 * SQLite result codes (primary, so `SQLITE_CONSTRAINT_CHECK` counts as `SQLITE_CONSTRAINT`)
 * that an entry causes: a constraint, a value too big or of the wrong type. Every other
 * SQLite error means the database cannot take writes now (busy, locked, I/O, a full disk,
 * read-only, or `SQLITE_ERROR`: a table or column renamed away) and the batch is retried.
 */
const REJECTED = new Set(['SQLITE_CONSTRAINT', 'SQLITE_TOOBIG', 'SQLITE_MISMATCH', 'SQLITE_RANGE']);

/** The resolved options: the table, and a database that is open and prepared. */
interface ResolvedSqliteSink<V> {
  readonly table: ResolvedTable<V>;
  readonly db: SqliteDatabase;
  /** Whether the sink opened the database (and so closes it). */
  readonly owned: boolean;
}

function resolveSqliteSink<V>(options: SqliteSinkOptions<V>): ResolvedSqliteSink<V> {
  const where = 'sqliteSink() options';
  // resolveTable refuses the names neither it nor this adapter knows.
  const table = resolveTable(options, where, ['database', 'synchronous', 'driver']);
  const o = objectOption(where, options);
  const synchronous = choiceOption('synchronous', o.synchronous, 'full', ['full', 'normal']);
  const driver = driverOption(o.driver);
  const database = o.database;
  const given = wrapSqlite(database);
  if (given !== undefined) {
    for (const name of ['synchronous', 'driver'] as const) {
      if (o[name] !== undefined) {
        throw new ConfigError(
          name,
          'unset when `database` is an open database (its owner chose it)',
          o[name],
        );
      }
    }
    return { table, db: given, owned: false };
  }
  if (typeof database !== 'string' || database.length === 0) {
    throw new ConfigError(
      'database',
      'a file path, a better-sqlite3 Database or a node:sqlite DatabaseSync',
      database,
    );
  }
  let db: SqliteDatabase;
  try {
    db = openSqlite(database, { driver });
  } catch (cause) {
    if (cause instanceof MissingDependencyError || cause instanceof ConfigError) throw cause;
    throw new SinkError(`sqliteSink: cannot open ${database}: ${String(cause)}`, { cause });
  }
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
  } catch (cause) {
    db.close();
    throw new SinkError(`sqliteSink: cannot prepare ${database}: ${String(cause)}`, { cause });
  }
  return { table, db, owned: true };
}

/**
 * A sink that writes each batch into a table of a SQLite database, in one transaction. The
 * table is yours: the sink checks when created that it exists with the columns and the
 * unique index its mode relies on, and throws ConfigError naming what is missing (SinkError
 * when the database cannot be opened, MissingDependencyError when no SQLite driver loads).
 * Values are bound, never spliced into SQL (booleans as 1/0, dates as ISO text, bytes as
 * blobs, other objects as JSON text); `versionColumn` guards an upsert against older
 * entries.
 *
 * ```ts
 * // CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)
 * const sink = sqliteSink({ database: './app.db', table: 'balances',
 *   columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
export function sqliteSink<V = Record<string, unknown>>(
  options: SqliteSinkOptions<V>,
): Sink<V> & {
  /** The database written to; the sink's `close()` closes it only if the sink opened it. */
  readonly database: SqliteDatabase;
} {
  const { table, db, owned } = resolveSqliteSink(options);
  try {
    checkTable(db, table.table, table.written, table.unique);
  } catch (error) {
    if (owned) db.close();
    if (error instanceof ConfigError) throw error;
    throw new SinkError(`sqliteSink: cannot read table ${table.table}: ${String(error)}`, {
      cause: error,
    });
  }

  const { written } = table;
  const insert = db.prepare(
    `INSERT INTO ${quote(table.table)} (${written.map(quote).join(', ')}) VALUES (${written.map(() => '?').join(', ')}) ${table.onConflict}`,
  );
  const write = db.transaction((rows: Record<string, unknown>[]) => {
    let changed = 0;
    for (const row of rows) changed += insert.run(...written.map((c) => toSqlite(row[c]))).changes;
    return changed;
  }, 'immediate');
  let closed = false;

  return {
    database: db,
    writeBatch(entries: readonly SinkEntry<V>[], _context?: SinkContext): Promise<SinkWriteResult> {
      try {
        if (closed) throw new ClosedError('sink is closed');
        if (entries.length === 0) return Promise.resolve({});
        const rows = coalesce(table, entries);
        const changed = write(rows);
        return Promise.resolve(skippedResult(table, rows.length, changed));
      } catch (error) {
        sqliteError(error);
        return Promise.reject(error);
      }
    },
    classify(error: unknown): SinkFailure {
      const code = sqliteError(error);
      if (code === undefined) return 'unknown';
      const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0] ?? code;
      return REJECTED.has(primary) ? 'rejected' : 'unavailable';
    },
    close(): Promise<void> {
      if (!closed && owned) db.close();
      closed = true;
      return Promise.resolve();
    },
  };
}

function toSqlite(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'number':
    case 'string':
    case 'bigint':
      return value;
    case 'boolean':
      return value ? 1 : 0;
    default:
      if (value instanceof Date) return value.toISOString();
      if (value instanceof Uint8Array)
        return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      return JSON.stringify(value);
  }
}

/** Refuses, with a ConfigError naming it, a missing table, column or unique index. */
function checkTable(
  db: SqliteDatabase,
  table: string,
  columns: readonly string[],
  unique: readonly string[],
): void {
  const info = db.prepare(`PRAGMA table_info(${quote(table)})`).all() as {
    name: string;
    pk: number;
  }[];
  if (info.length === 0) throw new ConfigError('table', 'an existing table', table);
  const names = new Set(info.map((c) => c.name));
  for (const c of columns) {
    if (!names.has(c))
      throw new ConfigError('columns', `columns of table ${table} (it has no ${c})`, c);
  }
  const pk = info.filter((c) => c.pk > 0).map((c) => c.name);
  const indexes = db.prepare(`PRAGMA index_list(${quote(table)})`).all() as {
    name: string;
    unique: number;
    partial: number;
  }[];
  const uniqueSets = [
    pk,
    ...indexes
      .filter((i) => i.unique === 1 && i.partial === 0)
      .map((i) =>
        (db.prepare(`PRAGMA index_info(${quote(i.name)})`).all() as { name: string }[]).map(
          (c) => c.name,
        ),
      ),
  ];
  const wanted = [...unique].sort().join(',');
  if (!uniqueSets.some((set) => [...set].sort().join(',') === wanted)) {
    throw new ConfigError(
      'conflict',
      `columns with a unique index or primary key on table ${table}`,
      unique,
    );
  }
}
