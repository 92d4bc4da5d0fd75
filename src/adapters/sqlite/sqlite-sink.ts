/**
 * sqliteSink: writes batches into a table of a SQLite database, one transaction a batch.
 *
 * The table is yours; the sink checks at creation that it exists, has the columns, and has
 * the unique index its mode relies on (`conflict` for upsert, `idColumn` for insert), and
 * refuses with a ConfigError naming what is missing. Values are bound, never spliced into
 * SQL: numbers, strings, bigints and null as they are, booleans as 1/0, dates as ISO text,
 * bytes as blobs, other objects as JSON text.
 *
 * ```ts
 * // CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL)
 * const sink = sqliteSink({ database: './app.db', table: 'balances',
 *   columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import {
  ClosedError,
  ConfigError,
  choiceOption,
  coalesce,
  quote,
  resolveTable,
  type Sink,
  type SinkContext,
  type SinkEntry,
  type TableSinkOptions,
} from '../../index.js';

export interface SqliteSinkOptions<V> extends TableSinkOptions<V> {
  /** An open better-sqlite3 database, or a file path (opened in WAL mode). */
  database: Database | string;
  /** For a database the sink opens itself. @default 'full' */
  synchronous?: 'full' | 'normal';
}

/** SQLite result codes worth retrying: the database is busy or the disk misbehaved. */
const TRANSIENT = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_PROTOCOL',
  'SQLITE_FULL',
];

export function sqliteSink<V = Record<string, unknown>>(
  options: SqliteSinkOptions<V>,
): Sink<V> & { readonly database: Database } {
  const table = resolveTable(options);
  const owned = typeof options.database === 'string';
  let db: Database;
  if (typeof options.database === 'string') {
    db = new BetterSqlite3(options.database);
    db.pragma('journal_mode = WAL');
    db.pragma(
      `synchronous = ${choiceOption('synchronous', options.synchronous, 'full', ['full', 'normal']).toUpperCase()}`,
    );
    db.pragma('busy_timeout = 5000');
  } else if (options.database instanceof BetterSqlite3) {
    db = options.database;
  } else {
    throw new ConfigError('database', 'a better-sqlite3 Database or a file path', options.database);
  }
  try {
    checkTable(db, table.table, table.written, table.unique);
  } catch (error) {
    if (owned) db.close();
    throw error;
  }

  const { written } = table;
  const insert: Statement = db.prepare(
    `INSERT INTO ${quote(table.table)} (${written.map(quote).join(', ')}) VALUES (${written.map(() => '?').join(', ')}) ${table.onConflict}`,
  );
  const write = db.transaction((rows: Record<string, unknown>[]) => {
    for (const row of rows) insert.run(written.map((c) => toSqlite(row[c])));
  });
  let closed = false;

  return {
    database: db,
    writeBatch(entries: readonly SinkEntry<V>[], _context?: SinkContext): Promise<void> {
      try {
        if (closed) throw new ClosedError('sink is closed');
        if (entries.length > 0) write.immediate(coalesce(table, entries));
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    isTransient(error: unknown): boolean {
      const code = (error as { code?: unknown } | null)?.code;
      return (
        typeof code === 'string' && TRANSIENT.some((t) => code === t || code.startsWith(`${t}_`))
      );
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
  db: Database,
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
