/**
 * bench/scaling: how the durable pipeline (SQLite journal, keyIndex: false → WriteBehind →
 * postgresSink, insert mode, one table per run in a schema of its own, dropped at the end)
 * behaves as one thing at a time moves away from a base setup: values of 1 KB, 10,000
 * distinct keys, 4 workers (and 4 sink connections), 1,000 closed-loop producers each
 * awaiting its write. Batches of at most 1,000 entries or 10 ms, maxBacklog 200,000,
 * maxBacklogBytes at its default (64 MiB). Values are random base64 text (PostgreSQL's TOAST
 * compression gets nothing out of them). The axes:
 *
 * 1. value size: 100 B, 1 KB, 10 KB, 64 KB; fewer entries for the larger values
 *    (100k, 100k, 20k, 4k), so each run writes 10 to 256 MB and takes a few seconds;
 * 2. distinct keys: 1 (every entry on one lane), 100, 10k, 1M (1M keys with 100k entries:
 *    every entry has a key of its own);
 * 3. workers: 1, 2, 4, 8;
 * 4. open loop: the base run's items/s is the maximum rate; writes are then offered at 25%,
 *    50%, 100% and 150% (overload: the backlog fills and writers wait in line) of it for
 *    10 s each, on a fixed schedule (one every 1/rate s, issued in
 *    groups by a 1 ms timer), whatever the earlier writes are doing. A write's latency is
 *    measured from its scheduled time, so time spent waiting behind a slow system counts
 *    (no coordinated omission). items/s is the achieved rate.
 *
 * Two unreported warm-up runs come first; the base run is run once and shown in each axis's
 * table. Every row: items/s (entries written / time from the first write until the sink has
 * them all), write p50/p99 (until `write` resolves, i.e. the entry is in the journal; every
 * 16th write is sampled in the closed loop, every write in the open loop), and the cost per
 * entry (bench/lib/cost.ts): this process's CPU (all threads), the PostgreSQL cluster's CPU
 * ('-' when its processes are not visible from here) and the main thread's GC time.
 * A full run writes docs/scaling.svg: Node and PostgreSQL CPU per entry against the offered
 * load of the open loop. --smoke runs tiny sizes (1 s open-loop runs) and writes no plot.
 * Needs PostgreSQL on 127.0.0.1 (bash scripts/ci-services.sh; SLUICE_BENCH_POSTGRES to
 * point elsewhere).
 * Run: npm run bench -- scaling    (--smoke for a quick check; a full run takes ~2 minutes)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { WriteBehind } from '../src/index.js';
import { SqliteJournal } from '../src/adapters/sqlite/index.js';
import { postgresSink } from '../src/adapters/postgres/index.js';
import { findServer, startCost, type ServerProcesses } from './lib/cost.js';
import { lineChart } from './lib/plot.js';
import { produce } from './lib/producers.js';
import { printTable, save, smoke, toRow, type Result, type Row } from './lib/report.js';

const PRODUCERS = 1_000;
const BASE = { valueBytes: 1_024, keys: 10_000, workers: 4 };
/** Entries of a closed-loop run, by value size. */
const ENTRIES: Record<number, number> = smoke
  ? { 100: 2_000, 1_024: 2_000, 10_240: 1_000, 65_536: 300 }
  : { 100: 100_000, 1_024: 100_000, 10_240: 20_000, 65_536: 4_000 };
const OPEN_LOOP_SECONDS = smoke ? 1 : 10;
const OPEN_LOOP_LOADS = [25, 50, 100, 150];
const connectionString =
  process.env['SLUICE_BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Setup {
  valueBytes: number;
  keys: number;
  workers: number;
}
type Value = { account: string; seq: number; note: string };

const admin = new pg.Pool({ connectionString, max: 2 });
const schema = `sluice_bench_scaling_${process.pid}`;
await admin.query(`CREATE SCHEMA ${schema}`);
const backendPid = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
  .pid;
const postgres = findServer('postgres', backendPid, 'postgres');
const pgServers: ServerProcesses[] = 'root' in postgres ? [postgres] : [];
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-scaling-'));

/** One random text per size, shared by every entry (each row is compressed on its own). */
const notes = new Map<number, string>();
const note = (bytes: number): string => {
  let n = notes.get(bytes);
  if (n === undefined) {
    n = randomBytes(Math.ceil((bytes * 3) / 4))
      .toString('base64')
      .slice(0, bytes);
    notes.set(bytes, n);
  }
  return n;
};

/** How one run drives the pipeline: the entries it wrote and its write latencies. */
type Drive = (
  write: (i: number) => Promise<unknown>,
) => Promise<{ items: number; latenciesMs: number[] }>;

let runs = 0;
/** One run on a fresh journal, sink table and pipeline; time ends when the sink has all. */
async function run(variant: string, s: Setup, drive: Drive): Promise<Result> {
  const name = `t${++runs}`;
  const runDir = join(dir, name);
  mkdirSync(runDir);
  // Each run starts with the server's dirty pages written out, not the last run's.
  await admin.query('CHECKPOINT');
  await admin.query(
    `CREATE TABLE ${schema}.${name} (sluice_id text UNIQUE, account text NOT NULL, seq bigint NOT NULL, note text NOT NULL)`,
  );
  const journal = await SqliteJournal.open(join(runDir, 'journal.db'), { keyIndex: false });
  const sink = await postgresSink<Value>({
    connectionString,
    schema,
    table: name,
    columns: ['account', 'seq', 'note'],
    mode: 'insert',
    maxConnections: s.workers,
  });
  const wb = await WriteBehind.open<Value>({
    journal,
    sink,
    workers: s.workers,
    batch: { maxSize: 1000, maxDelayMs: 10 },
    maxBacklog: 200_000,
  });
  const text = note(s.valueBytes);
  const meter = startCost(pgServers);
  const start = performance.now();
  const { items, latenciesMs } = await drive((i) =>
    wb.write(
      `k-${i % s.keys}`,
      { account: `k-${i % s.keys}`, seq: i, note: text },
      { id: `e${i}` },
    ),
  );
  await wb.flush();
  const seconds = (performance.now() - start) / 1000;
  const { cost } = await meter.stop(items);
  await wb.close();
  await sink.close();
  await journal.close();
  const landed = Number(
    (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${name}`)).rows[0]?.n,
  );
  if (landed !== items) throw new Error(`${variant}: ${landed} rows of ${items}`);
  await admin.query(`DROP TABLE ${schema}.${name}`);
  rmSync(runDir, { recursive: true, force: true });
  return { variant, items, seconds, latenciesMs, cost };
}

/** PRODUCERS producers, each awaiting its write; latency sampled on every 16th write. */
const closedLoop =
  (entries: number): Drive =>
  async (write) => ({
    items: entries,
    latenciesMs: (await produce(entries, write, PRODUCERS)).latenciesMs,
  });

/**
 * `ratePerSec` writes a second for `seconds`, write i scheduled at i / ratePerSec s, issued
 * by a 1 ms timer in groups of those due, without waiting for earlier ones; each write's
 * latency runs from its scheduled time.
 */
const openLoop =
  (ratePerSec: number, seconds: number): Drive =>
  async (write) => {
    const total = Math.max(1, Math.round(ratePerSec * seconds));
    const intervalMs = 1000 / ratePerSec;
    const latencies = new Float64Array(total);
    const writes: Promise<void>[] = [];
    const start = performance.now();
    let issued = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
        for (; issued < due; issued++) {
          const i = issued;
          const scheduled = start + i * intervalMs;
          writes.push(
            write(i).then(() => {
              latencies[i] = performance.now() - scheduled;
            }),
          );
        }
        if (issued < total) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    await Promise.all(writes);
    return { items: total, latenciesMs: Array.from(latencies) };
  };

const kb = (bytes: number): string =>
  bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toLocaleString('en-US')} KB`;
const count = (n: number): string =>
  n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1_000 ? `${n / 1_000}k` : String(n);

const closed = (variant: string, s: Setup): Promise<Result> =>
  run(variant, s, closedLoop(ENTRIES[s.valueBytes]!));
// Two unreported runs first, so that the base run (which sets the open loop's rates) does not
// pay for warming up the JIT, the journal code and the server's caches: in a smoke run, the
// first runs after start are up to twice as slow as the third.
for (let warm = 0; warm < 2; warm++) await run('warm-up', BASE, closedLoop(smoke ? 2_000 : 20_000));
const base = await closed('base', BASE);
const relabel = (r: Result, variant: string): Result => ({ ...r, variant });

interface Axis {
  name: string;
  title: string;
  rows: Row[];
  baseLabel: string;
}
const axes: Axis[] = [];

async function axis<T>(
  name: string,
  title: string,
  values: T[],
  baseValue: T,
  label: (v: T) => string,
  setup: (v: T) => Setup,
): Promise<void> {
  const results: Result[] = [];
  for (const v of values) {
    results.push(
      v === baseValue ? relabel(base, `${label(v)} (base)`) : await closed(label(v), setup(v)),
    );
  }
  axes.push({ name, title, rows: results.map(toRow), baseLabel: `${label(baseValue)} (base)` });
}

await axis(
  'value size',
  'value size (fewer entries for larger values)',
  [100, 1_024, 10_240, 65_536],
  BASE.valueBytes,
  (v) => `${kb(v)} values, ${count(ENTRIES[v]!)} entries`,
  (v) => ({ ...BASE, valueBytes: v }),
);
await axis(
  'keys',
  `distinct keys (${count(ENTRIES[BASE.valueBytes]!)} entries: with 1M keys, every entry has a key of its own)`,
  [1, 100, 10_000, 1_000_000],
  BASE.keys,
  (v) => `${count(v)} key${v === 1 ? '' : 's'}`,
  (v) => ({ ...BASE, keys: v }),
);
await axis(
  'workers',
  'workers (each with a sink connection of its own)',
  [1, 2, 4, 8],
  BASE.workers,
  (v) => `${v} worker${v === 1 ? '' : 's'}`,
  (v) => ({ ...BASE, workers: v }),
);

// Open loop at fractions of the base run's rate.
const maxRate = base.items / base.seconds;
const closedLabel = `closed loop, ${PRODUCERS.toLocaleString('en-US')} producers (max)`;
const open: { load: number; result: Result }[] = [];
for (const load of OPEN_LOOP_LOADS) {
  const rate = (maxRate * load) / 100;
  const variant = `open loop ${load}% (${Math.round(rate).toLocaleString('en-US')}/s offered)`;
  open.push({ load, result: await run(variant, BASE, openLoop(rate, OPEN_LOOP_SECONDS)) });
}
axes.push({
  name: 'open loop',
  title: `open loop, ${OPEN_LOOP_SECONDS} s a load; latency from each write's scheduled time; items/s is the achieved rate`,
  rows: [relabel(base, closedLabel), ...open.map((o) => o.result)].map(toRow),
  baseLabel: closedLabel,
});

rmSync(dir, { recursive: true, force: true });
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();

console.log(
  `bench/scaling: SQLite journal (keyIndex: false) → WriteBehind → postgresSink (insert) on PostgreSQL; ` +
    `base: ${kb(BASE.valueBytes)} values, ${count(BASE.keys)} keys, ${BASE.workers} workers, ` +
    `${PRODUCERS.toLocaleString('en-US')} closed-loop producers, ${count(ENTRIES[BASE.valueBytes]!)} entries; ` +
    'latency is per write, until it is in the journal',
);
for (const a of axes) {
  printTable(a.title, a.rows, a.baseLabel, 'time vs base', { serverCpuLabel: 'pg CPU µs/item' });
  save('scaling', a.rows, {
    axis: a.name,
    base: BASE,
    producers: PRODUCERS,
    entries: ENTRIES,
    ...(a.name === 'open loop' ? { openLoopSeconds: OPEN_LOOP_SECONDS, maxRate } : {}),
  });
}
console.log(
  [
    "\nPer entry, over each row's timed run: node CPU is this process's user + system time (all its threads);",
    `pg CPU is the PostgreSQL cluster's (utime + stime from /proc)${
      'root' in postgres ? '' : `, not measured: ${postgres.reason}`
    }; GC is the main thread's collection time.`,
  ].join('\n'),
);

if (!smoke) {
  const svg = lineChart({
    title: 'sluice durable pipeline: CPU per entry under open-loop load',
    xLabel: `offered load, % of the closed-loop maximum (${Math.round(maxRate).toLocaleString('en-US')} entries/s)`,
    yLabel: 'CPU µs per entry',
    xTicks: [0, 25, 50, 75, 100, 125, 150],
    formatX: (x) => `${x}%`,
    series: [
      {
        label: 'Node CPU µs/entry',
        points: open.map((o) => ({ x: o.load, y: o.result.cost?.nodeCpuUs ?? Number.NaN })),
      },
      {
        label: 'PostgreSQL CPU µs/entry',
        points: open.map((o) => ({ x: o.load, y: o.result.cost?.serverCpuUs ?? Number.NaN })),
      },
    ],
  });
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'scaling.svg');
  writeFileSync(file, svg);
  console.log(`wrote ${relative(process.cwd(), file)}`);
}
