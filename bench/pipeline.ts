/**
 * bench/pipeline: entries of ~200 bytes over 10,000 keys into PostgreSQL, side by side:
 *
 * - floor: COPY FROM STDIN of the same rows over 4 connections in parallel (the rows split 4
 *   ways), written in chunks of 1,000 lines, one write per chunk: the store's own bulk-ingest
 *   rate, with little JavaScript in the way. Every ratio is against this row;
 * - COPY from a naive stream: the same COPY, one line per write; each write is a CopyData
 *   message and a socket write of its own, which costs microseconds of Node CPU per row, so
 *   this row is bound by JavaScript rather than by the store;
 * - sluice durable: SQLite journal (synchronous=FULL) → 4 workers → postgresSink, insert and
 *   upsert modes; the entries this process appends reach the workers from memory (the tail);
 * - sluice durable, insert, `--max-semi-space-size=64`: the insert row with a young
 *   generation that may grow to 64 MB, so entries in flight die young instead of being copied
 *   and promoted;
 * - sluice durable, reading the journal back: the insert row with the tail switched off (the
 *   journal's `onAppended` hidden), so every entry is read back from SQLite and decoded, as
 *   after a restart;
 * - sluice durable, writeMany of 100: the insert row with 10 producers each awaiting
 *   `writeMany` of 100 entries (the same 1,000 entries in flight; latency is per call);
 * - sluice in memory: the same pipeline on an in-memory journal;
 * - naive: one INSERT per write over 16 connections;
 * - BullMQ (Redis as this machine runs it, no persistence, which flatters BullMQ): enqueue
 *   each entry, a worker (concurrency 16, in this process) does the same per-row INSERT.
 *   BullMQ's optional native msgpackr-extract is replaced by an empty stand-in (bench/stubs,
 *   package.json overrides): npm cannot lock its per-platform packages here, and msgpackr
 *   then uses its JavaScript decoder.
 *
 * Every sluice row runs in a fresh child process of its own, as a service runs one pipeline:
 * run one after another in one process, the later rows paid for the heap and compiled code
 * the earlier ones left (memory mode, run last: 10.6 µs of Node CPU per entry, against 7.3
 * in a process of its own).
 * Writers: 1,000 producers each awaiting its write. Latency is per write (sampled). The
 * naive and BullMQ runs use fewer entries (they are slow; rates are rates).
 * Besides time, each row's cost per entry (bench/lib/cost.ts): this process's CPU (all its
 * threads), the PostgreSQL cluster's CPU (its processes' utime + stime from /proc, '-' when
 * they are not visible from here) and the main thread's GC time, all over the timed run.
 * Needs PostgreSQL and Redis on 127.0.0.1 (bash scripts/ci-services.sh).
 * Run: npm run bench -- pipeline    (--smoke for a quick check)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { WriteBehind, type Journal } from '../src/index.js';
import { SqliteJournal } from '../src/adapters/sqlite/index.js';
import { postgresSink } from '../src/adapters/postgres/index.js';
import { findServer, startCost, type ServerProcesses } from './lib/cost.js';
import { produce } from './lib/producers.js';
import { printTable, save, smoke, toRow, type Result } from './lib/report.js';

const ENTRIES = smoke ? 5_000 : 1_000_000;
const SLOW_ENTRIES = smoke ? 1_000 : 30_000;
const KEYS = 10_000;
const PRODUCERS = 1_000;
const COPY_CONNECTIONS = 4;
const COPY_CHUNK_LINES = 1_000;
const FLOOR = `floor: COPY, ${COPY_CHUNK_LINES.toLocaleString('en-US')}-line chunks, ${COPY_CONNECTIONS} connections`;
const connectionString =
  process.env['SLUICE_BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

type Row = { account: string; seq: number; amount: number; note: string };
const row = (i: number): Row => ({
  account: `acct-${i % KEYS}`,
  seq: i,
  amount: (i * 7919) % 100_000,
  note: 'x'.repeat(150),
});

const admin = new pg.Pool({ connectionString, max: 16 });
const schema = `sluice_bench_pipeline_${process.pid}`;
await admin.query(`CREATE SCHEMA ${schema}`);

// Whose CPU the pg and Redis figures count: the processes behind these connections.
const backendPid = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
  .pid;
const postgres = findServer('postgres', backendPid, 'postgres');
const pgServers: ServerProcesses[] = 'root' in postgres ? [postgres] : [];
let tables = 0;
async function table(mode: 'insert' | 'upsert'): Promise<string> {
  const name = `t${++tables}`;
  // Each variant starts with the server's dirty pages written out, not the last one's.
  await admin.query('CHECKPOINT');
  await admin.query(
    mode === 'upsert'
      ? `CREATE TABLE ${schema}.${name} (account text PRIMARY KEY, seq bigint NOT NULL, amount integer NOT NULL, note text)`
      : `CREATE TABLE ${schema}.${name} (sluice_id text UNIQUE, account text NOT NULL, seq bigint NOT NULL, amount integer NOT NULL, note text)`,
  );
  return name;
}
const count = async (name: string): Promise<number> =>
  Number(
    (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${name}`)).rows[0]?.n,
  );

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-pipeline-'));
const results: Result[] = [];

/** `row(i)` as a line of COPY's text format. */
const copyLine = (i: number): string => {
  const r = row(i);
  return `e${i}\t${r.account}\t${r.seq}\t${r.amount}\t${r.note}\n`;
};

/** COPY of all entries, split over COPY_CONNECTIONS connections, `linesPerWrite` at a time. */
async function copy(variant: string, linesPerWrite: number): Promise<void> {
  const name = await table('insert');
  const meter = startCost(pgServers);
  const start = performance.now();
  const per = Math.ceil(ENTRIES / COPY_CONNECTIONS);
  await Promise.all(
    Array.from({ length: COPY_CONNECTIONS }, async (_, c) => {
      const from = c * per;
      const to = Math.min(ENTRIES, from + per);
      const chunks = function* (): Generator<string> {
        for (let at = from; at < to; at += linesPerWrite) {
          let text = '';
          for (let i = at; i < Math.min(to, at + linesPerWrite); i++) text += copyLine(i);
          yield text;
        }
      };
      const client = await admin.connect();
      try {
        await pipeline(
          Readable.from(chunks()),
          client.query(
            copyFrom(`COPY ${schema}.${name} (sluice_id, account, seq, amount, note) FROM STDIN`),
          ),
        );
      } finally {
        client.release();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const { cost } = await meter.stop(ENTRIES);
  const landed = await count(name);
  if (landed !== ENTRIES) throw new Error(`${variant}: ${landed} rows`);
  results.push({ variant, items: ENTRIES, seconds, latenciesMs: [], cost });
}

/** The sluice rows, each run in a child process of its own (`--child-row=<index>:<file>`). */
interface SluiceRow {
  variant: string;
  journal: 'sqlite' | 'read-back' | 'memory';
  mode: 'insert' | 'upsert';
  /** Entries per `writeMany` call; 1: `write`. */
  group: number;
  /** Node flags of the child. */
  flags: string[];
}
const SEMI_SPACE = '--max-semi-space-size=64';
const sluiceRows: SluiceRow[] = [
  {
    variant: 'sluice durable (SQLite journal), insert',
    journal: 'sqlite',
    mode: 'insert',
    group: 1,
    flags: [],
  },
  {
    variant: 'sluice durable (SQLite journal), upsert',
    journal: 'sqlite',
    mode: 'upsert',
    group: 1,
    flags: [],
  },
  {
    variant: `sluice durable, insert, node ${SEMI_SPACE}`,
    journal: 'sqlite',
    mode: 'insert',
    group: 1,
    flags: [SEMI_SPACE],
  },
  {
    variant: 'sluice durable, insert, reading the journal back',
    journal: 'read-back',
    mode: 'insert',
    group: 1,
    flags: [],
  },
  {
    variant: 'sluice durable, insert, writeMany of 100',
    journal: 'sqlite',
    mode: 'insert',
    group: 100,
    flags: [],
  },
  { variant: 'sluice in memory, insert', journal: 'memory', mode: 'insert', group: 1, flags: [] },
];

const CHILD_FLAG = '--child-row=';
const childArg = process.argv.find((a) => a.startsWith(CHILD_FLAG))?.slice(CHILD_FLAG.length);
if (childArg !== undefined) {
  const [index, resultFile] = [
    childArg.slice(0, childArg.indexOf(':')),
    childArg.slice(childArg.indexOf(':') + 1),
  ];
  const r = sluiceRows[Number(index)]!;
  const journal =
    r.journal === 'memory'
      ? 'memory'
      : await SqliteJournal.open(join(dir, 'child.db'), { keyIndex: false });
  await sluice(
    r.variant,
    journal === 'memory' || r.journal === 'sqlite' ? journal : withoutTail(journal),
    r.mode,
    r.group,
  );
  if (journal !== 'memory') await journal.close();
  rmSync(dir, { recursive: true, force: true });
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  writeFileSync(resultFile, JSON.stringify(results[0]));
  process.exit(0);
}

/** The journal with `onAppended` hidden: the pipeline cannot take its own appends from memory. */
function withoutTail(journal: Journal): Journal {
  return new Proxy(journal, {
    get(target, name) {
      if (name === 'onAppended') return undefined;
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

await copy(FLOOR, COPY_CHUNK_LINES);
await copy('COPY from a naive stream (one line per write)', 1);

/** The pipeline; `group` > 1: each producer writes `group` entries per `writeMany` call. */
async function sluice(
  variant: string,
  journal: Journal | 'memory',
  mode: 'insert' | 'upsert',
  group = 1,
): Promise<void> {
  const name = await table(mode);
  const sink = await postgresSink<Row>({
    connectionString,
    schema,
    table: name,
    columns: ['account', 'seq', 'amount', 'note'],
    mode,
    conflict: ['account'],
    maxConnections: 4,
  });
  const wb = await WriteBehind.open<Row>({
    journal,
    sink,
    workers: 4,
    batch: { maxSize: 1000, maxDelayMs: 10 },
    maxBacklog: 200_000,
  });
  const meter = startCost(pgServers);
  const start = performance.now();
  const entry = (i: number): { key: string; value: Row; id: string } => ({
    key: `acct-${i % KEYS}`,
    value: row(i),
    id: `e${i}`,
  });
  // The same 1,000 entries in flight either way: 1,000 writers, or 1,000 / group callers.
  const { latenciesMs } =
    group === 1
      ? await produce(
          ENTRIES,
          (i) => wb.write(`acct-${i % KEYS}`, row(i), { id: `e${i}` }),
          PRODUCERS,
        )
      : await produce(
          ENTRIES / group,
          (g) => wb.writeMany(Array.from({ length: group }, (_, j) => entry(g * group + j))),
          PRODUCERS / group,
        );
  await wb.flush();
  const seconds = (performance.now() - start) / 1000;
  const { cost } = await meter.stop(ENTRIES);
  await wb.close();
  await sink.close();
  const landed = await count(name);
  if (landed !== (mode === 'insert' ? ENTRIES : Math.min(ENTRIES, KEYS)))
    throw new Error(`${variant}: ${landed} rows`);
  results.push({ variant, items: ENTRIES, seconds, latenciesMs, cost });
}

for (const [index, r] of sluiceRows.entries()) {
  const file = join(dir, 'child-row.json');
  const args = [...r.flags, '--import', 'tsx', fileURLToPath(import.meta.url)];
  const child = spawnSync(
    process.execPath,
    [...args, `${CHILD_FLAG}${index}:${file}`, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  if (child.status !== 0)
    throw new Error(`${r.variant}: its process failed (exit ${child.status})`);
  results.push(JSON.parse(readFileSync(file, 'utf8')) as Result);
}

const insertSql = (name: string): string =>
  `INSERT INTO ${schema}.${name} (sluice_id, account, seq, amount, note) VALUES ($1, $2, $3, $4, $5)`;

// naive: one INSERT per write over 16 connections
{
  const name = await table('insert');
  const meter = startCost(pgServers);
  const r = await produce(
    SLOW_ENTRIES,
    (i) => {
      const v = row(i);
      return admin.query(insertSql(name), [`e${i}`, v.account, v.seq, v.amount, v.note]);
    },
    PRODUCERS,
  );
  const { cost } = await meter.stop(SLOW_ENTRIES);
  results.push({
    variant: 'naive: INSERT per write, 16 connections',
    items: SLOW_ENTRIES,
    ...r,
    cost,
  });
}

// BullMQ: enqueue, a worker inserts per job
let redisNote: string;
{
  const name = await table('insert');
  const connection = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null });
  const redisPid = Number(/process_id:(\d+)/.exec(await connection.info('server'))?.[1]);
  const redis = findServer('redis', redisPid, 'redis-server');
  const queueName = `sluice-bench-${process.pid}`;
  const queue = new Queue<Row & { id: string }>(queueName, { connection });
  let done = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((resolve) => (finished = resolve));
  const worker = new Worker<Row & { id: string }>(
    queueName,
    async (job) => {
      const v = job.data;
      await admin.query(insertSql(name), [v.id, v.account, v.seq, v.amount, v.note]);
      if (++done === SLOW_ENTRIES) finished();
    },
    { connection, concurrency: 16 },
  );
  const meter = startCost([...pgServers, ...('root' in redis ? [redis] : [])]);
  const start = performance.now();
  const r = await produce(
    SLOW_ENTRIES,
    (i) => queue.add('write', { ...row(i), id: `e${i}` }, { removeOnComplete: true }),
    PRODUCERS,
  );
  await allDone;
  const seconds = (performance.now() - start) / 1000;
  const { cost, servers } = await meter.stop(SLOW_ENTRIES);
  redisNote =
    'root' in redis
      ? `Redis itself used ${servers['redis']!.toFixed(1)} µs CPU per entry there (redis-server, pid ${redis.root}), in neither column`
      : `Redis's own CPU is in neither column (not measured: ${redis.reason})`;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
  results.push({
    variant: 'BullMQ enqueue + worker INSERT, concurrency 16',
    items: SLOW_ENTRIES,
    seconds,
    latenciesMs: r.latenciesMs,
    cost,
  });
}

rmSync(dir, { recursive: true, force: true });
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();

const rows = results.map(toRow);
console.log(
  `bench/pipeline: ~200-byte entries over ${KEYS.toLocaleString('en-US')} keys into PostgreSQL, ${PRODUCERS} producers awaiting each write; ` +
    `${ENTRIES.toLocaleString('en-US')} entries (${SLOW_ENTRIES.toLocaleString('en-US')} for naive and BullMQ); latency is per write, until it resolves`,
);
printTable('pipeline', rows, FLOOR, 'time vs floor', { serverCpuLabel: 'pg CPU µs/item' });
console.log(
  [
    "Per entry, over each row's timed run: node CPU is this process's user + system time (all its threads);",
    `pg CPU is the PostgreSQL cluster's (postmaster, backends, background and autovacuum workers; utime + stime from /proc)${
      'root' in postgres ? '' : `, not measured: ${postgres.reason}`
    };`,
    "GC is the main thread's collection time ('gc' performance entries).",
    `BullMQ's producers and its worker both run in this process, so its node CPU covers enqueueing, fetching jobs and the INSERTs; ${redisNote}.`,
  ].join('\n'),
);
const floor = rows.find((r) => r.variant === FLOOR)!;
for (const r of rows.filter((r) => r.variant.startsWith('sluice'))) {
  console.log(
    `${r.variant}: ${((100 * r.itemsPerSec) / floor.itemsPerSec).toFixed(0)}% of the floor (${FLOOR.slice('floor: '.length)})`,
  );
}
const durable = rows.find((r) => r.variant.startsWith('sluice durable (SQLite journal), insert'))!;
const naive = rows.find((r) => r.variant.startsWith('naive'))!;
const back = rows.find((r) => r.variant.startsWith('sluice durable, insert, reading'))!;
console.log(
  `tail from memory: ${(durable.itemsPerSec / back.itemsPerSec).toFixed(2)}x the entries/s of reading the journal back; ` +
    `node CPU per entry ${durable.cost?.nodeCpuUs.toFixed(1) ?? '-'} against ${back.cost?.nodeCpuUs.toFixed(1) ?? '-'} µs`,
);
const semi = rows.find((r) => r.variant === `sluice durable, insert, node ${SEMI_SPACE}`)!;
console.log(
  `${SEMI_SPACE}: ${(semi.itemsPerSec / durable.itemsPerSec).toFixed(2)}x the entries/s of node's defaults; ` +
    `node CPU per entry ${semi.cost?.nodeCpuUs.toFixed(1) ?? '-'} against ${durable.cost?.nodeCpuUs.toFixed(1) ?? '-'} µs, ` +
    `GC ${semi.cost?.gcUs.toFixed(1) ?? '-'} against ${durable.cost?.gcUs.toFixed(1) ?? '-'} µs`,
);
const bull = rows.find((r) => r.variant.startsWith('BullMQ'))!;
console.log(
  `sluice durable insert: ${(durable.itemsPerSec / bull.itemsPerSec).toFixed(1)}x BullMQ, ${(durable.itemsPerSec / naive.itemsPerSec).toFixed(1)}x naive`,
);
save('pipeline', rows, {
  entries: ENTRIES,
  slowEntries: SLOW_ENTRIES,
  keys: KEYS,
  producers: PRODUCERS,
  floor: { connections: COPY_CONNECTIONS, linesPerWrite: COPY_CHUNK_LINES },
});
