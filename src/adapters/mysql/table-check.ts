/**
 * What the MySQL sink checks when it is created, from `information_schema`, so that a table
 * it cannot write as promised is refused at once with a ConfigError naming what is missing:
 * the database and table exist; the table has the columns; its engine is transactional (a
 * MyISAM table keeps the first rows of a statement that fails, so a batch would no longer be
 * all or nothing); the mode's key (`conflict`, or `idColumn`) has a unique index or primary
 * key on exactly those columns, whole (a prefix index would take two ids that share a prefix
 * for one); `versionColumn` holds 64 bits. The session must be strict (`STRICT_TRANS_TABLES`
 * or `STRICT_ALL_TABLES` in `sql_mode`), or the server would store a bad value truncated or
 * zeroed instead of refusing it; a session that is not is a SinkError.
 */
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { ConfigError, SinkError } from '../../index.js';
import type { ResolvedTable } from '../../backend.js';

export interface CheckedTable {
  /** The database the table is in: `database`, or the connection's own. */
  readonly database: string;
  /** The server's `max_allowed_packet`, in bytes. */
  readonly maxAllowedPacket: number;
  /**
   * Whether a statement commits on its own. Where it does not (`autocommit=0` on the server
   * or the pool), every write commits explicitly, or it would be rolled back with its
   * connection.
   */
  readonly autocommit: boolean;
}

export async function checkTable<V>(
  pool: Pool,
  table: ResolvedTable<V>,
  database: string | undefined,
): Promise<CheckedTable> {
  const [[session]] = await pool.query<RowDataPacket[]>(
    'SELECT @@max_allowed_packet AS maxAllowedPacket, @@SESSION.sql_mode AS sqlMode, @@SESSION.autocommit AS autocommit, DATABASE() AS current',
  );
  const { maxAllowedPacket, sqlMode, autocommit, current } = session as {
    maxAllowedPacket: number | string;
    sqlMode: string;
    autocommit: number | string;
    current: string | null;
  };
  if (!/STRICT_(TRANS|ALL)_TABLES/.test(sqlMode)) {
    throw new SinkError(
      `mysqlSink: the session's sql_mode (${sqlMode === '' ? 'empty' : sqlMode}) is not strict: the server would store a bad value truncated or zeroed instead of refusing it; add STRICT_TRANS_TABLES (the server default since MySQL 5.7 and MariaDB 10.2.4)`,
    );
  }
  const db = database ?? current;
  if (db === null) {
    throw new ConfigError('database', 'a database (the connection has none selected)', database);
  }
  const where = `${db}.${table.table}`;

  const [found] = await pool.execute<RowDataPacket[]>(
    `SELECT t.TABLE_NAME AS name, t.ENGINE AS engine, e.TRANSACTIONS AS transactions
       FROM information_schema.SCHEMATA s
       LEFT JOIN information_schema.TABLES t
         ON t.TABLE_SCHEMA = s.SCHEMA_NAME AND t.TABLE_NAME = ?
       LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE
      WHERE s.SCHEMA_NAME = ?`,
    [table.table, db],
  );
  const info = found[0] as
    { name: string | null; engine: string | null; transactions: string | null } | undefined;
  if (info === undefined) throw new ConfigError('database', 'an existing database', db);
  if (info.name === null) throw new ConfigError('table', 'an existing table', where);

  const [columns] = await pool.execute<RowDataPacket[]>(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, COLUMN_TYPE AS columnType,
            NUMERIC_PRECISION AS digits, NUMERIC_SCALE AS scale
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
    [db, table.table],
  );
  // Column names are case-insensitive in MySQL.
  const byName = new Map(
    (
      columns as {
        name: string;
        type: string;
        columnType: string;
        digits: number | null;
        scale: number | null;
      }[]
    ).map((c) => [c.name.toLowerCase(), c]),
  );
  for (const c of table.written) {
    if (!byName.has(c.toLowerCase())) {
      throw new ConfigError('columns', `columns of ${where} (it has no ${c})`, c);
    }
  }
  if (table.versionColumn !== undefined) {
    const v = byName.get(table.versionColumn.toLowerCase()) as {
      type: string;
      columnType: string;
      digits: number | null;
      scale: number | null;
    };
    const wide =
      v.type === 'bigint' || (v.type === 'decimal' && (v.digits ?? 0) - (v.scale ?? 0) >= 16);
    if (!wide) {
      throw new ConfigError(
        'versionColumn',
        `a BIGINT column (versions need 64 bits; ${table.versionColumn} is ${v.columnType})`,
        table.versionColumn,
      );
    }
  }

  const [indexed] = await pool.execute<RowDataPacket[]>(
    `SELECT INDEX_NAME AS name, COLUMN_NAME AS col, SUB_PART AS part
       FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0`,
    [db, table.table],
  );
  const indexes = new Map<string, { cols: string[]; whole: boolean }>();
  for (const r of indexed as { name: string; col: string; part: number | null }[]) {
    const index = indexes.get(r.name) ?? { cols: [], whole: true };
    index.cols.push(r.col.toLowerCase());
    if (r.part !== null) index.whole = false;
    indexes.set(r.name, index);
  }
  const wanted = table.unique
    .map((c) => c.toLowerCase())
    .sort()
    .join(',');
  if (![...indexes.values()].some((i) => i.whole && i.cols.sort().join(',') === wanted)) {
    throw new ConfigError(
      table.mode === 'insert' ? 'idColumn' : 'conflict',
      `columns with a unique index or primary key (on the whole columns) on ${where}`,
      table.unique,
    );
  }

  if (info.transactions !== 'YES') {
    throw new ConfigError(
      'table',
      `a table of a transactional engine such as InnoDB (${where} is ${info.engine ?? 'not a base table'}: a failed batch would leave part of its rows)`,
      where,
    );
  }
  return {
    database: db,
    maxAllowedPacket: Number(maxAllowedPacket),
    autocommit: Number(autocommit) === 1,
  };
}
