/**
 * The SQL of a batch: one multi-row `INSERT ... VALUES (...), (...) ON DUPLICATE KEY UPDATE`,
 * split into as few statements as `max_allowed_packet` allows (the sink runs several in one
 * transaction). Values are literals (see sql-literal.ts), so there is no placeholder limit
 * (65,535 for prepared statements) and no server-side statement per batch size to cache.
 *
 * `ON DUPLICATE KEY UPDATE` differs from PostgreSQL's `ON CONFLICT (target)` in two ways the
 * statement makes up for:
 *
 * - it fires on a duplicate in *any* unique key, so a row that collides with another row
 *   through a second unique key (an email, a natural key) would update that other row. The
 *   first assignment is a guard on the mode's own key (`conflict`, or `idColumn`): when the
 *   row found does not hold the entry's key, it overflows a BIGINT UNSIGNED on purpose, the
 *   statement fails, and the sink reports a duplicate-key error that blames the entry —
 *   what PostgreSQL does;
 * - assignments run left to right and each sees the ones before it. A versioned upsert's
 *   assignments each test `version IS NULL OR version < VALUES(version)`, so the version
 *   column is assigned last, once every other column has tested the old version.
 *
 * ```sql
 * INSERT INTO `db`.`balances` (`account`, `balance`, `version`) VALUES ('a', 1, 17), ...
 * ON DUPLICATE KEY UPDATE
 *   `account` = IF(`account` = VALUES(`account`), `account`, <overflow>),
 *   `balance` = IF(`version` IS NULL OR `version` < VALUES(`version`), VALUES(`balance`), `balance`),
 *   `version` = IF(`version` IS NULL OR `version` < VALUES(`version`), VALUES(`version`), `version`)
 * ```
 *
 * Insert mode is the guard alone on `idColumn`: a re-delivered entry finds its row and
 * changes nothing. (`INSERT IGNORE` would skip it too, but turns every error — a NULL, a
 * value too long — into a warning and a mangled row.) `VALUES(col)` is deprecated in MySQL
 * 8.0.20 for a row alias, which MariaDB does not have; both still run it.
 *
 * What a statement skipped — superseded (versioned upsert) or duplicates (insert) — is the
 * rows it found and left unchanged: `records + duplicates - affectedRows` from the server's
 * "Records: N  Duplicates: D" summary, whether or not the connection has the `FOUND_ROWS`
 * flag (it changes both counts alike). A one-row statement has no summary: its affected rows
 * say 0 for a row left unchanged, unless the pool has `FOUND_ROWS` (mysql2's default; the
 * sink's own pool turns it off), where 1 cannot be told from an insert and counts as written.
 */
import { ConfigError } from '../../index.js';
import type { ResolvedTable } from '../../backend.js';
import { rowError } from './classify.js';
import { sqlLiteral, type EscapeDate } from './sql-literal.js';

/** A quoted identifier (backticks doubled, for a database name the server reported). */
export const quoteId = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

/** Bytes of a packet that are not the statement, with room to spare. */
const PACKET_OVERHEAD = 1024;
/** The guard's overflow: 2^64 - 1 plus at least 1. */
const OVERFLOW = '18446744073709551615 + (';

export interface BatchStatement {
  /** The statements, one per chunk of rows (several run in one transaction). */
  chunks(rows: readonly Record<string, unknown>[]): { sql: string; rows: number }[];
  /** The rows a statement found and left unchanged (superseded or duplicates). */
  skipped(rows: number, result: { affectedRows: number; info?: string }): number;
  /** The error to report for a statement's failure (the guard's, as a duplicate key). */
  error(error: unknown): unknown;
}

export function batchStatement<V>(
  table: ResolvedTable<V>,
  database: string,
  maxStatementBytes: number,
  escapeDate: EscapeDate,
): BatchStatement {
  const { written } = table;
  const name = `${quoteId(database)}.${quoteId(table.table)}`;
  const prefix = `INSERT INTO ${name} (${written.map(quoteId).join(', ')}) VALUES `;
  const suffix = ` ON DUPLICATE KEY UPDATE ${assignments(table).join(', ')}`;
  const budget = maxStatementBytes - PACKET_OVERHEAD - prefix.length - suffix.length;
  const key = table.unique.join(', ');
  if (budget <= 0) {
    throw new ConfigError(
      'maxStatementBytes',
      `more than ${maxStatementBytes - budget} bytes (the statement's own text for ${database}.${table.table}, and the packet's overhead; with a row, more still)`,
      maxStatementBytes,
    );
  }

  return {
    chunks(rows) {
      const chunks: { sql: string; rows: number }[] = [];
      let tuples: string[] = [];
      let bytes = 0;
      for (const row of rows) {
        let tuple = '(';
        for (let i = 0; i < written.length; i++) {
          const c = written[i] as string;
          tuple += (i === 0 ? '' : ', ') + sqlLiteral(row[c], escapeDate, c);
        }
        tuple += ')';
        const size = Buffer.byteLength(tuple) + 2;
        if (size > budget) {
          throw rowError(
            `mysqlSink: a row is ${size.toLocaleString('en-US')} bytes as SQL, more than a statement may carry (${budget.toLocaleString('en-US')}: max_allowed_packet or maxStatementBytes, less the statement's text)`,
            'tooLarge',
          );
        }
        if (bytes + size > budget) {
          chunks.push({ sql: prefix + tuples.join(', ') + suffix, rows: tuples.length });
          tuples = [];
          bytes = 0;
        }
        tuples.push(tuple);
        bytes += size;
      }
      if (tuples.length > 0) {
        chunks.push({ sql: prefix + tuples.join(', ') + suffix, rows: tuples.length });
      }
      return chunks;
    },
    skipped(rows, { affectedRows, info }) {
      const summary = /Records:\s*(\d+)\s+Duplicates:\s*(\d+)/.exec(info ?? '');
      if (summary === null) return rows === 1 && affectedRows === 0 ? 1 : 0;
      return Math.max(0, Number(summary[1]) + Number(summary[2]) - affectedRows);
    },
    error(error) {
      const e = error as { errno?: unknown; sqlMessage?: unknown } | null;
      if (
        e?.errno === 1690 &&
        typeof e.sqlMessage === 'string' &&
        e.sqlMessage.includes(OVERFLOW)
      ) {
        return rowError(
          `mysqlSink: an entry collides with a row of ${database}.${table.table} through a unique key other than (${key}): that row has another ${key}, and MySQL would have updated it, so the batch is refused`,
          'duplicate',
          error,
        );
      }
      return error;
    },
  };
}

/** The `ON DUPLICATE KEY UPDATE` list: the guard first, the version column last. */
function assignments<V>(table: ResolvedTable<V>): string[] {
  const unique = table.unique.map(quoteId);
  const same = `(${unique.map((c) => `${c} = VALUES(${c})`).join(' AND ')})`;
  const first = unique[0] as string;
  // `same` is 0 or NULL here (a NULL key never matches), so the sum always overflows; it
  // depends on the row, so the server cannot fold it into a constant and fail every write.
  const guard = `${first} = IF(${same}, ${first}, ${OVERFLOW}${same} IS NULL) + 1)`;
  if (table.mode === 'insert') return [guard];
  const updates = table.written.filter((c) => !table.conflict.includes(c)).map(quoteId);
  if (table.versionColumn === undefined) {
    return [guard, ...updates.map((c) => `${c} = VALUES(${c})`)];
  }
  const v = quoteId(table.versionColumn);
  const newer = `${v} IS NULL OR ${v} < VALUES(${v})`;
  // `written` ends with the version column, so it is assigned after every column that tests it.
  return [guard, ...updates.map((c) => `${c} = IF(${newer}, VALUES(${c}), ${c})`)];
}
