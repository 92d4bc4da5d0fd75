/**
 * postgresSink: writes batches into a PostgreSQL table with one statement per batch.
 *
 * A batch becomes one `INSERT ... SELECT * FROM unnest($1::type[], $2::type[], ...)`, so
 * there is one round trip and one statement however many rows it carries, and the statement
 * text stays the same (the server plans it once). `upsert` adds `ON CONFLICT (conflict) DO
 * UPDATE` after coalescing the batch by conflict key (PostgreSQL refuses to update one row
 * twice in a statement; the last write wins); `insert` adds `ON CONFLICT (idColumn) DO
 * NOTHING`, so a batch delivered twice leaves one row per entry. The statement is atomic:
 * a failing row fails the whole batch and writes nothing.
 *
 * Names are validated and quoted; values always travel as parameters. The column types
 * for the casts, and the unique index the mode needs, are read from the catalog when the
 * sink is created; a missing table, column or index is refused with a ConfigError, and a
 * server that cannot be reached (or a database that does not exist) with a SinkError.
 * `versionColumn` (a bigint) guards an upsert: `... DO UPDATE SET ... WHERE t.version IS
 * NULL OR t.version < excluded.version`, so an older entry never overwrites a newer row.
 *
 * ```ts
 * const sink = await postgresSink({ connectionString: 'postgres://127.0.0.1/app',
 *   table: 'balances', columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
import type pg from 'pg';
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
  quote,
  requireOptional,
  resolveTable,
  serviceOption,
  skippedResult,
  stringOption,
  type ResolvedTable,
} from '../../backend.js';
import { classifyPostgresError } from './classify.js';

/** Options of {@link postgresSink}: the table options and the connection. */
export interface PostgresSinkOptions<V> extends TableSinkOptions<V> {
  /** A pool to write through (its owner closes it). Give this or `connectionString`. */
  pool?: pg.Pool;
  /** The sink opens (and closes) its own pool. */
  connectionString?: string;
  /** Connections of the sink's own pool: one per worker writing in parallel. @default 4 */
  maxConnections?: number;
  /**
   * Own pool: a write that gets no answer this long fails (transient) and its connection is
   * dropped, so a half-open connection cannot hang a worker. @default 30000
   */
  queryTimeoutMs?: number;
  /** Own pool: give up connecting after this long (transient). @default 10000 */
  connectTimeoutMs?: number;
  /** The schema the table is in. @default 'public' */
  schema?: string;
}

/** What {@link postgresSink} resolves with: a sink, and the pool it writes through. */
export type PostgresSink<V> = Sink<V> & {
  /** The pool written through; the sink's `close()` ends it only if the sink opened it. */
  readonly pool: pg.Pool;
};

const ADAPTER_OPTIONS: readonly (keyof PostgresSinkOptions<unknown>)[] = [
  'pool',
  'connectionString',
  'maxConnections',
  'queryTimeoutMs',
  'connectTimeoutMs',
  'schema',
];
/** Options that only shape the pool the sink opens itself. */
const OWN_POOL_OPTIONS = ['maxConnections', 'queryTimeoutMs', 'connectTimeoutMs'] as const;

interface ResolvedPostgresSink<V> {
  readonly table: ResolvedTable<V>;
  readonly schema: string;
  readonly pool: pg.Pool;
  /** Whether the sink opened the pool (and so ends it). */
  readonly owned: boolean;
}

function resolvePostgresSink<V>(options: PostgresSinkOptions<V>): ResolvedPostgresSink<V> {
  const where = 'postgresSink() options';
  // resolveTable refuses the names neither it nor this adapter knows.
  const table = resolveTable(options, where, ADAPTER_OPTIONS);
  const o = objectOption(where, options);
  const schema = identifier('schema', o.schema ?? 'public');
  if ((o.pool === undefined) === (o.connectionString === undefined)) {
    throw new ConfigError('pool', 'a pg Pool, or `connectionString` instead (exactly one)', o.pool);
  }
  if (o.pool !== undefined) {
    const pool = serviceOption<pg.Pool>('pool', o.pool, ['query', 'connect', 'end']);
    for (const name of OWN_POOL_OPTIONS) {
      if (o[name] !== undefined) {
        throw new ConfigError(name, 'unset when `pool` is given (its owner sets it)', o[name]);
      }
    }
    return { table, schema, pool, owned: false };
  }
  const { Pool } = requireOptional<typeof pg>('pg', 'postgresSink()');
  const pool = new Pool({
    connectionString: stringOption('connectionString', o.connectionString),
    max: integerOption('maxConnections', o.maxConnections, 4, 1),
    query_timeout: integerOption('queryTimeoutMs', o.queryTimeoutMs, 30_000, 1),
    connectionTimeoutMillis: integerOption('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1),
    // Idle connections do not keep the process alive: once the pipeline is closed, a
    // service can exit without closing the sink first.
    allowExitOnIdle: true,
  });
  return { table, schema, pool, owned: true };
}

/**
 * A sink that writes each batch into a PostgreSQL table with one statement (`INSERT ...
 * SELECT * FROM unnest(...)`): one round trip, all or nothing. `upsert` coalesces the
 * batch by conflict key, `insert` ignores ids already written; `versionColumn` guards an
 * upsert against older entries. The table's column types and unique index are read from
 * the catalog at creation: a missing table, column or index rejects with ConfigError, a
 * server that cannot be reached with SinkError. Failures are classified by
 * {@link classifyPostgresError}.
 *
 * ```ts
 * const sink = await postgresSink({ connectionString: 'postgres://127.0.0.1/app',
 *   table: 'balances', columns: ['account', 'balance'], mode: 'upsert', conflict: ['account'] });
 * ```
 */
export async function postgresSink<V = Record<string, unknown>>(
  options: PostgresSinkOptions<V>,
): Promise<PostgresSink<V>> {
  const { table, schema, pool, owned } = resolvePostgresSink(options);
  // An idle client whose connection breaks emits 'error' on the pool; without a listener
  // that would crash the process. The next write simply gets a fresh connection.
  if (owned) pool.on('error', () => {});
  let types: Map<string, string>;
  try {
    types = await columnTypes(pool, schema, table.table);
    for (const c of table.written) {
      if (!types.has(c)) {
        throw new ConfigError('columns', `columns of ${schema}.${table.table} (it has no ${c})`, c);
      }
    }
    if (table.versionColumn !== undefined) {
      const type = types.get(table.versionColumn) as string;
      if (!/^(bigint|numeric)/.test(type)) {
        throw new ConfigError(
          'versionColumn',
          `a bigint column (versions need 64 bits; ${table.versionColumn} is ${type})`,
          table.versionColumn,
        );
      }
    }
    await checkUnique(pool, schema, table.table, table.unique);
  } catch (error) {
    if (owned) await pool.end();
    if (error instanceof ConfigError) throw error;
    throw new SinkError(
      `postgresSink: cannot read table ${schema}.${table.table}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  const { written } = table;
  const text =
    `INSERT INTO ${quote(schema)}.${quote(table.table)} (${written.map(quote).join(', ')}) ` +
    `SELECT * FROM unnest(${written.map((c, i) => `$${i + 1}::${types.get(c) as string}[]`).join(', ')}) ${table.onConflict}`;
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
      const columns = written.map((c) => rows.map((row) => toParameter(row[c])));
      const result = await pool.query({ text, values: columns });
      return skippedResult(table, rows.length, result.rowCount ?? 0);
    },
    classify: classifyPostgresError,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
}

/** Array elements as node-postgres sends them: objects as JSON text, undefined as null. */
function toParameter(value: unknown): unknown {
  if (value === undefined) return null;
  if (
    value === null ||
    typeof value !== 'object' ||
    value instanceof Date ||
    value instanceof Uint8Array
  ) {
    return value instanceof Uint8Array && !(value instanceof Buffer)
      ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      : value;
  }
  return JSON.stringify(value);
}

/** Column name → its SQL type as `format_type` spells it (e.g. `numeric(10,2)`). */
async function columnTypes(
  pool: pg.Pool,
  schema: string,
  table: string,
): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ name: string; type: string }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  if (rows.length === 0) throw new ConfigError('table', 'an existing table', `${schema}.${table}`);
  return new Map(rows.map((r) => [r.name, r.type]));
}

/** Refuses a mode whose ON CONFLICT target has no unique index or primary key behind it. */
async function checkUnique(
  pool: pg.Pool,
  schema: string,
  table: string,
  columns: readonly string[],
): Promise<void> {
  const { rows } = await pool.query<{ columns: string[] }>(
    `SELECT array_agg(a.attname::text ORDER BY a.attname COLLATE "C") AS columns
       FROM pg_index i
       JOIN pg_class c ON c.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
      WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indpred IS NULL
      GROUP BY i.indexrelid`,
    [schema, table],
  );
  const wanted = [...columns].sort().join(',');
  if (!rows.some((r) => r.columns.join(',') === wanted)) {
    throw new ConfigError(
      'conflict',
      `columns with a unique index or primary key on ${schema}.${table}`,
      columns,
    );
  }
}
