/**
 * mysqlSink: writes batches into a MySQL or MariaDB table, one multi-row statement a batch.
 *
 * A batch becomes one `INSERT ... VALUES (...), (...) ON DUPLICATE KEY UPDATE ...` (see
 * batch-statement.ts for the SQL and why it reads as it does): one round trip however many
 * rows it carries, split into several statements in one transaction only when it would pass
 * the server's `max_allowed_packet` (and committed explicitly where the session does not
 * autocommit). `upsert` coalesces the batch by conflict key (the last write wins) and
 * updates the row found; `insert` leaves a row whose id is already there as it is, so a batch
 * delivered twice leaves one row per entry. A batch is atomic: a failing row fails the whole
 * batch and writes nothing. A row that collides with another row through a unique key other
 * than the mode's own is refused as a duplicate, as PostgreSQL does, rather than updating
 * that other row.
 *
 * Names are validated and quoted; values are literals the sink writes itself, which no
 * `sql_mode` can turn into SQL. The table is checked when the sink is created (see
 * table-check.ts): a missing database, table, column or unique index, a 32-bit version
 * column, or a table of a non-transactional engine is refused with a ConfigError; a server
 * that cannot be reached, a database the server does not know, or a session that is not
 * strict with a SinkError. `versionColumn` (a BIGINT) guards an upsert: a column is set
 * only `IF(version IS NULL OR version < VALUES(version), ...)`, so an older entry never
 * overwrites a newer row.
 *
 * mysql2 is an optional peer dependency, loaded only when the sink opens its own pool (a
 * MissingDependencyError naming it when it is not installed).
 *
 * ```ts
 * const sink = await mysqlSink({ uri: 'mysql://app@127.0.0.1:3306/app',
 *   table: 'balances', columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
import type { Socket } from 'node:net';
import type * as Mysql2 from 'mysql2';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader } from 'mysql2/promise';
import {
  ClosedError,
  ConfigError,
  SinkError,
  type Sink,
  type SinkContext,
  type SinkEntry,
  type SinkWriteResult,
  type TableSinkOptions,
} from '../../index.js';
import {
  coalesce,
  identifier,
  integerOption,
  objectOption,
  requireOptional,
  resolveTable,
  serviceOption,
  skippedResult,
  stringOption,
  type ResolvedTable,
} from '../../backend.js';
import { batchStatement } from './batch-statement.js';
import { classifyMysqlError } from './classify.js';
import { checkTable } from './table-check.js';

/** Options of {@link mysqlSink}: the table options and the connection. */
export interface MysqlSinkOptions<V> extends TableSinkOptions<V> {
  /**
   * A mysql2 pool (from `mysql2/promise`) to write through; its owner closes it. Give this,
   * `uri` or `connection`.
   */
  pool?: Pool;
  /** The sink opens (and closes) its own pool: `mysql://user:password@host:3306/database`. */
  uri?: string;
  /**
   * The sink opens (and closes) its own pool with these mysql2 options (`host`, `user`,
   * `password`, `database`, `ssl`, `timezone`...); the pool's size and connect timeout are
   * `maxConnections` and `connectTimeoutMs`.
   */
  connection?: PoolOptions;
  /** Connections of the sink's own pool: one per worker writing in parallel. @default 4 */
  maxConnections?: number;
  /** Own pool: give up connecting after this long (transient). @default 10000 */
  connectTimeoutMs?: number;
  /**
   * A statement that gets no answer this long fails (transient) and its connection is
   * dropped, so a half-open connection cannot hang a worker. The sink sets it on each of its
   * statements, so it applies to a pool you pass in too. @default 30000
   */
  queryTimeoutMs?: number;
  /** The database that holds `table`. @default the connection's database */
  database?: string;
  /**
   * The largest statement the sink sends, in bytes; a batch past it is written as several
   * statements in one transaction. @default the server's `max_allowed_packet`
   */
  maxStatementBytes?: number;
}

/** What {@link mysqlSink} resolves with: a sink, and the pool it writes through. */
export type MysqlSink<V> = Sink<V> & {
  /** The pool the sink writes through: its own, or the one it was given. */
  readonly pool: Pool;
};

const ADAPTER_OPTIONS: readonly (keyof MysqlSinkOptions<unknown>)[] = [
  'pool',
  'uri',
  'connection',
  'maxConnections',
  'connectTimeoutMs',
  'queryTimeoutMs',
  'database',
  'maxStatementBytes',
];
/** Options that only shape the pool the sink opens itself. */
const OWN_POOL_OPTIONS = ['maxConnections', 'connectTimeoutMs'] as const;
/** mysql2 options of `connection` that the sink's own options set instead. */
const SET_BY_SINK: Readonly<Record<string, string>> = {
  connectionLimit: 'maxConnections',
  connectTimeout: 'connectTimeoutMs',
};

type PoolSource = { readonly pool: Pool } | { readonly options: PoolOptions };

interface ResolvedMysqlSink<V> {
  readonly table: ResolvedTable<V>;
  readonly database: string | undefined;
  readonly queryTimeoutMs: number;
  readonly maxStatementBytes: number | undefined;
  readonly source: PoolSource;
}

function resolveMysqlSink<V>(options: MysqlSinkOptions<V>): ResolvedMysqlSink<V> {
  const where = 'mysqlSink() options';
  // resolveTable refuses the names neither it nor this adapter knows.
  const table = resolveTable(options, where, ADAPTER_OPTIONS);
  const o = objectOption(where, options);
  const database = o.database === undefined ? undefined : identifier('database', o.database);
  const queryTimeoutMs = integerOption('queryTimeoutMs', o.queryTimeoutMs, 30_000, 1);
  const maxStatementBytes =
    o.maxStatementBytes === undefined
      ? undefined
      : integerOption('maxStatementBytes', o.maxStatementBytes, undefined, 4096);
  const given = (['pool', 'uri', 'connection'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new ConfigError(
      given[1] ?? 'pool',
      'a mysql2 Pool, or `uri` or `connection` instead (exactly one)',
      given.length === 0 ? undefined : `${given.join(' and ')} given`,
    );
  }
  const base = { table, database, queryTimeoutMs, maxStatementBytes };
  if (o.pool !== undefined) {
    const pool = serviceOption<Pool>('pool', o.pool, ['query', 'execute', 'getConnection', 'end']);
    if (typeof (pool as { promise?: unknown }).promise === 'function') {
      throw new ConfigError('pool', 'a pool from mysql2/promise (or `pool.promise()`)', o.pool);
    }
    for (const name of OWN_POOL_OPTIONS) {
      if (o[name] !== undefined) {
        throw new ConfigError(name, 'unset when `pool` is given (its owner sets it)', o[name]);
      }
    }
    return { ...base, source: { pool } };
  }
  const own = {
    connectionLimit: integerOption('maxConnections', o.maxConnections, 4, 1),
    connectTimeout: integerOption('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1),
  };
  if (o.uri !== undefined) {
    return {
      ...base,
      source: { options: { uri: stringOption('uri', o.uri), ...own } },
    };
  }
  const connection = objectOption('connection', o.connection) as PoolOptions;
  for (const [name, instead] of Object.entries(SET_BY_SINK)) {
    if ((connection as Record<string, unknown>)[name] !== undefined) {
      throw new ConfigError(
        `connection.${name}`,
        `unset (the sink's \`${instead}\` sets it)`,
        (connection as Record<string, unknown>)[name],
      );
    }
  }
  return { ...base, source: { options: { ...connection, ...own } } };
}

/** Opens the sink's own pool (mysql2 is loaded only then), or takes the one given. */
function openPool(source: PoolSource): { pool: Pool; owned: boolean } {
  if ('pool' in source) return { pool: source.pool, owned: false };
  const { createPool } = requireOptional<typeof Mysql2>('mysql2', 'mysqlSink()');
  const core = createPool({
    ...source.options,
    // Without FOUND_ROWS, a one-row write that changed nothing reports 0 rows, so the sink
    // can count it as superseded or a duplicate (see batch-statement.ts).
    flags: [...(source.options.flags ?? []), '-FOUND_ROWS'],
  });
  // Idle connections do not keep the process alive: once the pipeline is closed, a service
  // can exit without closing the sink first. A connection in use is referenced again.
  const socket = (connection: unknown): Socket | undefined =>
    (connection as { stream?: Socket }).stream;
  core.on('acquire', (connection) => socket(connection)?.ref());
  core.on('release', (connection) => socket(connection)?.unref());
  return { pool: core.promise(), owned: true };
}

/**
 * A sink that writes each batch into a MySQL or MariaDB table with one multi-row `INSERT ...
 * ON DUPLICATE KEY UPDATE` (several in one transaction past `max_allowed_packet`): all or
 * nothing. `upsert` coalesces the batch by conflict key, `insert` ignores ids already
 * written; `versionColumn` guards an upsert against older entries; a row that meets another
 * row through a second unique key is refused as a duplicate. The table, its columns, unique
 * index and engine, and the session's strictness are checked at creation: what is missing
 * rejects with ConfigError, a server that cannot be reached with SinkError, a pool of its
 * own without mysql2 installed with MissingDependencyError. Failures are classified by
 * {@link classifyMysqlError}.
 *
 * ```ts
 * const sink = await mysqlSink({ uri: 'mysql://app@127.0.0.1:3306/app',
 *   table: 'balances', columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
export async function mysqlSink<V = Record<string, unknown>>(
  options: MysqlSinkOptions<V>,
): Promise<MysqlSink<V>> {
  const { table, database, queryTimeoutMs, maxStatementBytes, source } = resolveMysqlSink(options);
  const { pool, owned } = openPool(source);
  let checked: Awaited<ReturnType<typeof checkTable>>;
  try {
    checked = await checkTable(pool, table, database);
  } catch (error) {
    // The check's failure is what the caller needs to see; a pool that could not connect
    // has nothing more to say when it ends.
    if (owned) await pool.end().catch(() => {});
    if (error instanceof ConfigError || error instanceof SinkError) throw error;
    throw new SinkError(
      `mysqlSink: cannot read table ${database === undefined ? '' : `${database}.`}${table.table}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const statement = batchStatement(
    table,
    checked.database,
    Math.min(maxStatementBytes ?? Infinity, checked.maxAllowedPacket),
    (date) => pool.escape(date),
  );
  let closed = false;

  return {
    pool,
    async writeBatch(
      entries: readonly SinkEntry<V>[],
      _context?: SinkContext,
    ): Promise<SinkWriteResult> {
      if (closed) throw new ClosedError('sink is closed');
      if (entries.length === 0) return {};
      const rows = coalesce(table, entries);
      const chunks = statement.chunks(rows);
      const transaction = chunks.length > 1 || !checked.autocommit;
      const connection = await pool.getConnection();
      // A server's error answer leaves the connection idle and fit for the next write; a
      // timeout or a broken socket may leave it mid-statement, so it is dropped instead.
      let reusable = true;
      let skipped = 0;
      const run = (sql: string): Promise<ResultSetHeader> =>
        runStatement(connection, sql, queryTimeoutMs);
      try {
        if (transaction) await run('START TRANSACTION');
        for (const chunk of chunks) {
          skipped += statement.skipped(chunk.rows, await run(chunk.sql));
        }
        if (transaction) await run('COMMIT');
      } catch (error) {
        reusable = answered(error);
        if (reusable && transaction) {
          await run('ROLLBACK').catch(() => {
            // The write's own error is what the caller gets; a connection that cannot even
            // roll back is dropped, which ends its transaction on the server.
            reusable = false;
          });
        }
        throw statement.error(error);
      } finally {
        if (reusable) connection.release();
        else connection.destroy();
      }
      return skippedResult(table, rows.length, rows.length - skipped);
    },
    classify: classifyMysqlError,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
}

/**
 * One statement on `connection`, failing (transient) when no answer comes within
 * `timeoutMs`; the caller then drops the connection. The timer is the sink's own rather than
 * mysql2's `timeout` option, whose timer outlives a connection lost mid-statement and holds
 * the process open until it fires.
 */
async function runStatement(
  connection: PoolConnection,
  sql: string,
  timeoutMs: number,
): Promise<ResultSetHeader> {
  const answer = connection.query<ResultSetHeader>(sql);
  // Once the race is lost to the timer, the connection is destroyed and nobody waits for
  // this answer any more; whatever it settles to has no one to tell.
  answer.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(
        `mysqlSink: no answer from the server in ${timeoutMs} ms (queryTimeoutMs); the connection is dropped`,
      );
      reject(Object.assign(error, { code: 'PROTOCOL_SEQUENCE_TIMEOUT', fatal: true }));
    }, timeoutMs);
  });
  try {
    return (await Promise.race([answer, silence]))[0];
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the server answered with an error (so the connection is still in step). */
function answered(error: unknown): boolean {
  const e = error as { errno?: unknown; sqlState?: unknown; fatal?: unknown } | null;
  return typeof e?.errno === 'number' && typeof e.sqlState === 'string' && e.fatal !== true;
}
