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
import type { from as CopyFrom } from 'pg-copy-streams';
import {
  ClosedError,
  ConfigError,
  LeaseLostError,
  SinkError,
  type Sink,
  type SinkContext,
  type SinkEntry,
  type SinkWriteResult,
  type TableSinkOptions,
} from '../../index.js';
import {
  coalesce,
  coalesceEntries,
  booleanOption,
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
import { binaryArray } from './binary-arrays.js';
import { classifyPostgresError } from './classify.js';
import {
  copyableColumns,
  copyRows,
  copyStatement,
  copyText,
  loadCopyFrom,
  STATEMENT_AFTER_CONFLICT,
} from './copy-rows.js';
import { refused } from './client.js';
import { PostgresJournal } from './postgres-journal.js';

/** Options of {@link postgresSink}: the table options and the connection. */
export interface PostgresSinkOptions<V> extends Omit<TableSinkOptions<V>, 'idColumn'> {
  /**
   * Insert: the column (with a unique index) that stores the entry id. With `exactlyOnce`
   * it may be `null`: no id column, the journal's marks keep a re-delivery from writing
   * twice. @default 'sluice_id'
   */
  idColumn?: string | null;
  /**
   * Exactly once, for a pipeline over this shared journal when the table is in the
   * journal's own database: each batch's rows and a mark of each entry's sink id in the
   * journal's `applied` table are one statement, which also checks the partition's lease at
   * the node's epoch. An entry already marked is not written again, and a node that lost
   * the lease writes nothing once the takeover has committed. Checked at creation: the
   * journal must be readable through this sink's connection. Not with `coalesce: true` on
   * the pipeline (an entry coalesced away would never be marked).
   */
  exactlyOnce?: PostgresJournal;
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
  /**
   * Insert mode: stream each batch with COPY first, PostgreSQL's cheapest way in, and write
   * a batch that meets an id already in the table (a redelivery) with the statement instead.
   * Needs the pg-copy-streams package; not with `exactlyOnce`.
   * @default true when pg-copy-streams is installed (insert mode)
   */
  copy?: boolean;
}

/** What {@link postgresSink} resolves with: a sink, and the pool it writes through. */
export type PostgresSink<V> = Sink<V> & {
  /** The pool written through; the sink's `close()` ends it only if the sink opened it. */
  readonly pool: pg.Pool;
  /** Whether it writes exactly once (`exactlyOnce` was given). */
  readonly exactlyOnce: boolean;
};

const ADAPTER_OPTIONS: readonly (keyof PostgresSinkOptions<unknown>)[] = [
  'exactlyOnce',
  'copy',
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
  readonly exactlyOnce: PostgresJournal | undefined;
  readonly schema: string;
  readonly pool: pg.Pool;
  /** Whether the sink opened the pool (and so ends it). */
  readonly owned: boolean;
  /** `copy` as given, or `undefined` for the default. */
  readonly copy: boolean | undefined;
  /** How long a write may wait for an answer, in ms. */
  readonly timeoutMs: number;
}

function resolvePostgresSink<V>(options: PostgresSinkOptions<V>): ResolvedPostgresSink<V> {
  const where = 'postgresSink() options';
  // resolveTable refuses the names neither it nor this adapter knows.
  const noId = (options as { idColumn?: unknown }).idColumn === null;
  if (noId && (options.exactlyOnce === undefined || options.mode !== 'insert')) {
    throw new ConfigError(
      'idColumn',
      'a column name (null only in insert mode with `exactlyOnce`)',
      null,
    );
  }
  const resolved = resolveTable(
    { ...options, idColumn: noId ? undefined : options.idColumn } as TableSinkOptions<V>,
    where,
    ADAPTER_OPTIONS,
  );
  // No id column: nothing to conflict on; the journal's marks deduplicate instead.
  const table: ResolvedTable<V> = noId
    ? {
        ...resolved,
        idColumn: undefined,
        written: resolved.written.filter((c) => c !== resolved.idColumn),
        unique: [],
        onConflict: '',
        skipped: undefined,
      }
    : resolved;
  const o = objectOption(where, options);
  const schema = identifier('schema', o.schema ?? 'public');
  const exactlyOnce =
    o.exactlyOnce === undefined
      ? undefined
      : o.exactlyOnce instanceof PostgresJournal
        ? o.exactlyOnce
        : (() => {
            throw new ConfigError('exactlyOnce', 'a PostgresJournal', o.exactlyOnce);
          })();
  const copy = o.copy === undefined ? undefined : booleanOption('copy', o.copy, true);
  if (copy === true && (table.mode !== 'insert' || exactlyOnce !== undefined)) {
    throw new ConfigError('copy', 'set only in insert mode without `exactlyOnce`', copy);
  }
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
    // The owner's query timeout bounds a COPY too (none set, or 0: node-postgres's none).
    const given = (pool as unknown as { options?: { query_timeout?: unknown } }).options
      ?.query_timeout;
    const timeoutMs = typeof given === 'number' && given > 0 ? given : 30_000;
    return { table, schema, pool, owned: false, exactlyOnce, copy, timeoutMs };
  }
  const { Pool } = requireOptional<typeof pg>('pg', 'postgresSink()');
  const timeoutMs = integerOption('queryTimeoutMs', o.queryTimeoutMs, 30_000, 1);
  const pool = new Pool({
    connectionString: stringOption('connectionString', o.connectionString),
    max: integerOption('maxConnections', o.maxConnections, 4, 1),
    query_timeout: timeoutMs,
    connectionTimeoutMillis: integerOption('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1),
    // Idle connections do not keep the process alive: once the pipeline is closed, a
    // service can exit without closing the sink first.
    allowExitOnIdle: true,
  });
  return { table, schema, pool, owned: true, exactlyOnce, copy, timeoutMs };
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
  const { table, schema, pool, owned, exactlyOnce, copy, timeoutMs } = resolvePostgresSink(options);
  // COPY where it applies and pg-copy-streams is there (or asked for: then it must be).
  const copyFrom =
    copy === false || table.mode !== 'insert' || exactlyOnce !== undefined
      ? undefined
      : copy === true
        ? requireOptional<{ from: typeof CopyFrom }>('pg-copy-streams', 'postgresSink `copy`').from
        : loadCopyFrom();
  // An idle client whose connection breaks emits 'error' on the pool; without a listener
  // that would crash the process. The next write simply gets a fresh connection.
  if (owned) pool.on('error', () => {});
  let types: Map<string, string>;
  let oids: Map<string, number>;
  try {
    ({ types, oids } = await columnTypes(pool, schema, table.table));
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
    if (table.unique.length > 0) await checkUnique(pool, schema, table.table, table.unique);
    if (exactlyOnce !== undefined) await checkSameDatabase(pool, exactlyOnce);
  } catch (error) {
    if (owned) await pool.end();
    if (error instanceof ConfigError) throw error;
    throw new SinkError(
      `postgresSink: cannot read table ${schema}.${table.table}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  const { written } = table;
  const into = `INSERT INTO ${quote(schema)}.${quote(table.table)} (${written.map(quote).join(', ')})`;
  const arrays = written.map((c, i) => `$${i + 1}::${types.get(c) as string}[]`);
  // Each column's values as a binary array where its type and the client allow
  // (binary-arrays.ts).
  const binary = sendsBinary(pool) ? written.map((c) => binaryArray(oids.get(c) as number)) : [];
  const parameters = (rows: readonly Record<string, unknown>[]): unknown[] =>
    written.map((c, i) => {
      const values = rows.map((row) => row[c]);
      return binary[i]?.(values) ?? values.map(toParameter);
    });
  const text = `${into} SELECT * FROM unnest(${arrays.join(', ')}) ${table.onConflict}`;
  const copySql =
    copyFrom !== undefined && copyableColumns(types, written)
      ? copyStatement(schema, table.table, written)
      : undefined;
  /** Batches left to write by the statement after one met a known id. */
  let statementBatches = 0;
  /** Off for good once the server says COPY cannot fill the table. */
  let copying = true;
  let closed = false;
  const fenced =
    exactlyOnce === undefined
      ? undefined
      : fencedStatement(exactlyOnce, into, arrays, table.onConflict);

  return {
    pool,
    exactlyOnce: exactlyOnce !== undefined,
    async writeBatch(
      entries: readonly SinkEntry<V>[],
      context?: SinkContext,
    ): Promise<SinkWriteResult> {
      if (closed) throw new ClosedError('sink is closed');
      if (entries.length === 0) return {};
      if (fenced !== undefined) {
        const journal = exactlyOnce as PostgresJournal;
        return writeFenced(pool, table, fenced, journal, entries, parameters, context);
      }
      const rows = coalesce(table, entries);
      if (copySql !== undefined && copying && statementBatches === 0) {
        const text = copyText(rows, written);
        if (text !== undefined) {
          try {
            await copyRows(pool, copyFrom as typeof CopyFrom, copySql, text, timeoutMs);
            return skippedResult(table, rows.length, rows.length);
          } catch (error) {
            // The connection failed: retried as any write would be. Refused by the server:
            // the statement writes the batch (skipping known ids) or says why it cannot.
            if (!refused(error)) throw error;
            const code = (error as { code?: string }).code;
            if (code === UNIQUE_VIOLATION) statementBatches = STATEMENT_AFTER_CONFLICT;
            // Not a table COPY can fill (a view) or not allowed here: the statement from now on.
            if (code === WRONG_OBJECT_TYPE || code === FEATURE_NOT_SUPPORTED) copying = false;
          }
        }
      } else if (statementBatches > 0) {
        statementBatches--;
      }
      const result = await pool.query({ text, values: parameters(rows) });
      // Still meeting known ids: the redelivery goes on, and so does the statement.
      if (copySql !== undefined && (result.rowCount ?? 0) < rows.length) {
        statementBatches = STATEMENT_AFTER_CONFLICT;
      }
      return skippedResult(table, rows.length, result.rowCount ?? 0);
    },
    // Under `exactlyOnce`, a lost lease waits (the partition's pipeline is being stopped).
    classify: (error) =>
      error instanceof LeaseLostError || error instanceof UnfencedWriteError
        ? 'unavailable'
        : classifyPostgresError(error),
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) await pool.end();
    },
  };
}

/** SQLSTATE of a unique index refusing a row. */
const UNIQUE_VIOLATION = '23505';
/** SQLSTATEs of a COPY that can never work on this table (a view; COPY not allowed). */
const WRONG_OBJECT_TYPE = '42809';
const FEATURE_NOT_SUPPORTED = '0A000';

/**
 * Whether the pool's client sends a Buffer parameter in binary: node-postgres's JavaScript
 * client does (its COPY support marks it); `pg.native`'s hands parameters to libpq as C
 * strings, cut at the first zero byte, so it gets text arrays.
 */
export function sendsBinary(pool: pg.Pool): boolean {
  const client = (pool as { Client?: { prototype?: Record<string, unknown> } }).Client;
  return typeof client?.prototype?.['_handleCopyInResponse'] === 'function';
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

/**
 * Column name → its SQL type as `format_type` spells it (e.g. `numeric(10,2)`), and its
 * type's OID. Character types lose their length (`character varying`, and `bpchar`, since
 * `character` alone means `character(1)`): an explicit cast to `varchar(5)` cuts a longer
 * value short without a word, while storing the uncut value into the column is refused,
 * as COPY and a plain INSERT refuse it.
 */
async function columnTypes(
  pool: pg.Pool,
  schema: string,
  table: string,
): Promise<{ types: Map<string, string>; oids: Map<string, number> }> {
  const { rows } = await pool.query<{ name: string; type: string; oid: number }>(
    `SELECT a.attname AS name, a.atttypid::int AS oid,
            CASE a.atttypid WHEN 1042 THEN 'pg_catalog.bpchar' WHEN 1043 THEN 'character varying'
              ELSE format_type(a.atttypid, a.atttypmod) END AS type
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  if (rows.length === 0) throw new ConfigError('table', 'an existing table', `${schema}.${table}`);
  return {
    types: new Map(rows.map((r) => [r.name, r.type])),
    oids: new Map(rows.map((r) => [r.name, r.oid])),
  };
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

/** A write under `exactlyOnce` made outside a pipeline over that journal. */
class UnfencedWriteError extends SinkError {}

/**
 * The exactly-once statement: check the partition's lease at the write's epoch, mark the
 * batch's sink ids in the journal's `applied` table, and insert only the rows whose mark is
 * new. The check takes no lock, so it never holds up a renewal or a takeover: a write that
 * started before another node took the partition over may still land, and the marks (one
 * per sink id, unique) keep it from landing twice. The batch's own parameters come first
 * ($1..$n), then consumer, partition, node, epoch, every sink id of the batch, and each
 * row's sink id.
 */
function fencedStatement(
  journal: PostgresJournal,
  into: string,
  arrays: readonly string[],
  onConflict: string,
): string {
  const j = quote(journal.schema);
  const n = arrays.length;
  const p = (i: number): string => `$${n + i}`;
  const cols = arrays.map((_, i) => `c${i + 1}`);
  return (
    `WITH fence AS (SELECT 1 FROM ${j}.leases WHERE consumer = ${p(1)}::text AND part = ${p(2)}::int ` +
    `AND owner = ${p(3)}::text AND epoch = ${p(4)}::bigint), ` +
    `fresh AS (INSERT INTO ${j}.applied (sink_id, consumer, part) SELECT u.s, ${p(1)}::text, ${p(2)}::int ` +
    `FROM unnest(${p(5)}::text[]) AS u(s) WHERE EXISTS (SELECT 1 FROM fence) ON CONFLICT DO NOTHING RETURNING sink_id), ` +
    `cand AS (SELECT * FROM unnest(${arrays.join(', ')}, ${p(6)}::text[]) AS r(${cols.join(', ')}, sink_id) ` +
    `WHERE r.sink_id IN (SELECT sink_id FROM fresh)), ` +
    `ins AS (${into} SELECT ${cols.join(', ')} FROM cand ${onConflict} RETURNING 1) ` +
    `SELECT (SELECT count(*) FROM fence)::int AS fenced, (SELECT count(*) FROM fresh)::int AS fresh, ` +
    `(SELECT count(*) FROM cand)::int AS candidates, (SELECT count(*) FROM ins)::int AS written`
  );
}

async function writeFenced<V>(
  pool: pg.Pool,
  table: ResolvedTable<V>,
  text: string,
  journal: PostgresJournal,
  entries: readonly SinkEntry<V>[],
  parameters: (rows: readonly Record<string, unknown>[]) => unknown[],
  context: SinkContext | undefined,
): Promise<SinkWriteResult> {
  const fence = context?.fence;
  if (fence === undefined || fence.journalId !== journal.id) {
    throw new UnfencedWriteError(
      `postgresSink with exactlyOnce writes only for a pipeline over its journal (${journal.schema}); ` +
        'open the pipeline with that journal, or drop exactlyOnce',
    );
  }
  // One row per entry id (insert) or conflict key (upsert), with the sink id it carries.
  const seen = new Set<string>();
  const kept = coalesceEntries(table, entries).filter(({ entry }) => {
    if (seen.has(entry.id)) return false;
    seen.add(entry.id);
    return true;
  });
  const ids = [...new Set(entries.map((e) => e.id))];
  const values = parameters(kept.map(({ row }) => row));
  values.push(
    fence.consumer,
    fence.partition,
    fence.node,
    fence.epoch,
    ids,
    kept.map(({ entry }) => entry.id),
  );
  const result = await pool.query<{
    fenced: number;
    fresh: number;
    candidates: number;
    written: number;
  }>({
    text,
    values,
  });
  const r = result.rows[0] as {
    fenced: number;
    fresh: number;
    candidates: number;
    written: number;
  };
  if (r.fenced === 0) throw new LeaseLostError(fence.consumer, fence.partition, fence.epoch);
  const again = ids.length - r.fresh;
  const skipped = skippedResult(table, r.candidates, r.written);
  return again > 0 ? { ...skipped, duplicates: (skipped.duplicates ?? 0) + again } : skipped;
}

/** The journal's tables must be the ones this sink's connection sees. */
async function checkSameDatabase(pool: pg.Pool, journal: PostgresJournal): Promise<void> {
  const found = await pool
    .query<{ value: string }>(`SELECT value FROM ${quote(journal.schema)}.meta WHERE name = 'id'`)
    .then(
      (r) => r.rows[0]?.value,
      () => undefined,
    );
  if (found !== journal.id) {
    throw new ConfigError(
      'exactlyOnce',
      `a PostgresJournal in the sink's own database (its schema ${journal.schema} is not reachable through the sink's connection)`,
      journal.schema,
    );
  }
}
