/**
 * bench/sink: what each sink ingests, side by side in one run: 200,000 rows of ~200 bytes
 * over 10,000 keys, in batches of 1,000.
 *
 * - naive: one INSERT ... ON CONFLICT per row over 1 connection (the floor to beat);
 * - postgresSink upsert and insert over 1 connection, and over 4 connections writing
 *   4 batches at a time (as 4 workers would); insert by COPY (the default with
 *   pg-copy-streams) and by the `unnest` statement (`copy: false`);
 * - mysqlSink the same, into MySQL or MariaDB (InnoDB, the server's defaults);
 * - sqliteSink upsert and insert (file, WAL, synchronous=FULL).
 *
 * Needs PostgreSQL on 127.0.0.1:5432 and MySQL or MariaDB on 127.0.0.1:3306
 * (bash scripts/ci-services.sh). Run: npm run bench -- sink
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../src/adapters/sqlite/driver.js';
import pg from 'pg';
import { createPool } from 'mysql2/promise';
import type { Sink, SinkEntry } from '../src/index.js';
import { postgresSink } from '../src/adapters/postgres/index.js';
import { mysqlSink } from '../src/adapters/mysql/index.js';
import { sqliteSink } from '../src/adapters/sqlite/index.js';
import { findServer, startCost, type ServerProcesses } from './lib/cost.js';
import { printTable, save, smoke, toRow, type Result } from './lib/report.js';

const ROWS = smoke ? 5_000 : 200_000;
const NAIVE_ROWS = smoke ? 1_000 : 20_000;
const BATCH = 1_000;
const KEYS = 10_000;
const connectionString =
  process.env['SLUICE_BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const mysqlUri = process.env['SLUICE_BENCH_MYSQL'] ?? 'mysql://root@127.0.0.1:3306/test';

interface Row {
  account: string;
  seq: number;
  amount: number;
  note: string;
}
const entries: SinkEntry<Row>[] = Array.from({ length: ROWS }, (_, i) => ({
  id: `e${i}`,
  key: `acct-${i % KEYS}`,
  version: i + 1,
  value: {
    account: `acct-${i % KEYS}`,
    seq: i,
    amount: (i * 7919) % 100_000,
    note: 'x'.repeat(150),
  },
}));
const batches: SinkEntry<Row>[][] = [];
for (let i = 0; i < ROWS; i += BATCH) batches.push(entries.slice(i, i + BATCH));

async function run(
  variant: string,
  sink: Sink<Row>,
  parallel: number,
  servers?: ServerProcesses[],
): Promise<Result> {
  const latenciesMs: number[] = [];
  let next = 0;
  const meter = servers === undefined ? undefined : startCost(servers);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < batches.length) {
        const batch = batches[next++] as SinkEntry<Row>[];
        const t0 = performance.now();
        await sink.writeBatch(batch);
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cost = meter === undefined ? undefined : (await meter.stop(ROWS)).cost;
  return { variant, items: ROWS, seconds, latenciesMs, ...(cost === undefined ? {} : { cost }) };
}

const pool = new pg.Pool({ connectionString, max: 4 });
const schema = `sluice_bench_${process.pid}`;
await pool.query(`CREATE SCHEMA ${schema}`);
const pgTable = async (name: string, mode: 'upsert' | 'insert'): Promise<string> => {
  await pool.query(
    mode === 'upsert'
      ? `CREATE TABLE ${schema}.${name} (account text PRIMARY KEY, seq bigint NOT NULL, amount integer NOT NULL, note text)`
      : `CREATE TABLE ${schema}.${name} (sluice_id text UNIQUE, account text NOT NULL, seq bigint NOT NULL, amount integer NOT NULL, note text)`,
  );
  return name;
};
const columns = ['account', 'seq', 'amount', 'note'];
// Whose CPU the pg column counts: the server behind these connections.
const backendPid = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
  .pid;
const postgres = findServer('postgres', backendPid, 'postgres');
const pgServers: ServerProcesses[] = 'root' in postgres ? [postgres] : [];
const results: Result[] = [];

// naive: a statement per row
{
  const table = await pgTable('naive', 'upsert');
  const latenciesMs: number[] = [];
  const start = performance.now();
  for (const e of entries.slice(0, NAIVE_ROWS)) {
    const t0 = performance.now();
    await pool.query(
      `INSERT INTO ${schema}.${table} (account, seq, amount, note) VALUES ($1, $2, $3, $4)
       ON CONFLICT (account) DO UPDATE SET seq = EXCLUDED.seq, amount = EXCLUDED.amount, note = EXCLUDED.note`,
      [e.value.account, e.value.seq, e.value.amount, e.value.note],
    );
    latenciesMs.push(performance.now() - t0);
  }
  results.push({
    variant: 'naive: INSERT per row, 1 connection',
    items: NAIVE_ROWS,
    seconds: (performance.now() - start) / 1000,
    latenciesMs,
  });
}
for (const [mode, copy] of [
  ['upsert', false],
  ['insert', true],
  ['insert', false],
] as const) {
  for (const parallel of [1, 4]) {
    const table = await pgTable(`${mode}_${copy}_${parallel}`, mode);
    const sink = await postgresSink<Row>({
      pool,
      schema,
      table,
      columns,
      mode,
      conflict: ['account'],
      ...(mode === 'insert' ? { copy } : {}),
    });
    await pool.query('CHECKPOINT');
    const how = mode === 'insert' ? (copy ? ' by COPY' : ' by statement') : '';
    results.push(
      await run(
        `postgresSink ${mode}${how}, ${parallel} connection${parallel > 1 ? 's' : ''}`,
        sink,
        parallel,
        pgServers,
      ),
    );
  }
}
const mysqlPool = createPool({ uri: mysqlUri, connectionLimit: 4 });
const database = `sluice_bench_${process.pid}`;
await mysqlPool.query(`CREATE DATABASE ${database}`);
for (const mode of ['upsert', 'insert'] as const) {
  for (const parallel of [1, 4]) {
    const table = `${database}.${mode}_${parallel}`;
    await mysqlPool.query(
      mode === 'upsert'
        ? `CREATE TABLE ${table} (account VARCHAR(64) PRIMARY KEY, seq BIGINT NOT NULL, amount INT NOT NULL, note TEXT)`
        : `CREATE TABLE ${table} (sluice_id VARCHAR(191) UNIQUE, account VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, amount INT NOT NULL, note TEXT)`,
    );
    const sink = await mysqlSink<Row>({
      pool: mysqlPool,
      database,
      table: `${mode}_${parallel}`,
      columns,
      mode,
      conflict: ['account'],
    });
    results.push(
      await run(
        `mysqlSink ${mode}, ${parallel} connection${parallel > 1 ? 's' : ''}`,
        sink,
        parallel,
      ),
    );
  }
}
await mysqlPool.query(`DROP DATABASE ${database}`);
await mysqlPool.end();
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-sink-'));
for (const mode of ['upsert', 'insert'] as const) {
  const db = openSqlite(join(dir, `${mode}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    mode === 'upsert'
      ? 'CREATE TABLE t (account TEXT PRIMARY KEY, seq INTEGER NOT NULL, amount INTEGER NOT NULL, note TEXT)'
      : 'CREATE TABLE t (sluice_id TEXT UNIQUE, account TEXT NOT NULL, seq INTEGER NOT NULL, amount INTEGER NOT NULL, note TEXT)',
  );
  results.push(
    await run(
      `sqliteSink ${mode}`,
      sqliteSink<Row>({ database: db, table: 't', columns, mode, conflict: ['account'] }),
      1,
    ),
  );
  db.close();
}
rmSync(dir, { recursive: true, force: true });
await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();

const rows = results.map(toRow);
console.log(
  `bench/sink: ${ROWS.toLocaleString('en-US')} rows of ~200 bytes over ${KEYS.toLocaleString('en-US')} keys, batches of ${BATCH} (naive: ${NAIVE_ROWS.toLocaleString('en-US')} rows); latency is per batch (per row for naive)`,
);
printTable('sink ingest', rows, rows[0]!.variant, 'vs naive', {
  serverCpuLabel: 'pg CPU µs/item',
});
console.log(
  "CPU per row (PostgreSQL rows only): node is this process's user + system time; pg is the PostgreSQL cluster's (utime + stime from /proc).",
);
const one = rows.find((r) => r.variant === 'postgresSink insert by COPY, 1 connection')!;
const four = rows.find((r) => r.variant === 'postgresSink insert by COPY, 4 connections')!;
const statement = rows.find((r) => r.variant === 'postgresSink insert by statement, 1 connection')!;
console.log(
  `postgres insert: 4 connections ingest ${(four.itemsPerSec / one.itemsPerSec).toFixed(2)}x one; ${(one.itemsPerSec / rows[0]!.itemsPerSec).toFixed(0)}x naive`,
);
console.log(
  `postgres insert by COPY against the statement, 1 connection: ${(one.itemsPerSec / statement.itemsPerSec).toFixed(2)}x the rows/s; ` +
    `pg CPU per row ${one.cost?.serverCpuUs.toFixed(1) ?? '-'} against ${statement.cost?.serverCpuUs.toFixed(1) ?? '-'} µs, ` +
    `node ${one.cost?.nodeCpuUs.toFixed(1) ?? '-'} against ${statement.cost?.nodeCpuUs.toFixed(1) ?? '-'} µs`,
);
const myOne = rows.find((r) => r.variant === 'mysqlSink insert, 1 connection')!;
const myFour = rows.find((r) => r.variant === 'mysqlSink insert, 4 connections')!;
console.log(
  `mysql insert: 4 connections ingest ${(myFour.itemsPerSec / myOne.itemsPerSec).toFixed(2)}x one; ${(myOne.itemsPerSec / one.itemsPerSec).toFixed(2)}x postgres on 1 connection`,
);
save('sink', rows, { rows: ROWS, batch: BATCH, keys: KEYS });
