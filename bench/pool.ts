/**
 * bench/pool: dispatch cost and thread parallelism of the WorkerPool, side by side in one run.
 *
 * (1) 1,000,000 no-op jobs through each routing mode at 1, 4 and 16 workers, against p-queue
 *     at the same concurrency. All jobs are submitted at once (`cast`, or p-queue's `add`),
 *     then we wait for idle; also `call` (one promise per job, like `add`).
 * (2) CPU-bound jobs (SHA-256 over 4 KiB, 32 and 256 rounds) in thread mode with 2 workers,
 *     against piscina with 2 threads and a single in-process worker (the main thread alone).
 *
 * Run: npm run bench -- pool      (add --smoke for a quick check)
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import PQueue from 'p-queue';
import { Piscina } from 'piscina';
import { WorkerPool, type RoutingMode } from '../src/index.js';
import { hash } from './fixtures/hash-handler.mjs';
import { median, printTable, save, smoke, toRow, type Result, type Row } from './lib/report.js';

const JOBS = smoke ? 20_000 : 1_000_000;
const CPU_JOBS = smoke ? 200 : 10_000;
const ROUNDS = smoke ? 1 : 3;
const KEYS = 1_000;
const modes: [string, RoutingMode][] = [
  ['keyPersistent', 'keyPersistent'],
  ['stickyQueuer', 'stickyQueuer'],
  ['queuer', 'queuer'],
  ['roundRobin', 'roundRobin'],
  ['random', 'random'],
  ['customHash', { customHash: (key, n) => key.length % n }],
];
const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`);

async function sluiceCast(routing: RoutingMode, workers: number): Promise<number> {
  const pool = new WorkerPool<string, number, number>({ workers, routing, handler: (n) => n });
  const start = performance.now();
  for (let i = 0; i < JOBS; i++) pool.cast({ key: keys[i % KEYS] as string, msg: i });
  await pool.drain();
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return seconds;
}

async function sluiceCall(workers: number): Promise<number> {
  const pool = new WorkerPool<string, number, number>({
    workers,
    routing: 'keyPersistent',
    handler: (n) => n,
  });
  const start = performance.now();
  const all = new Array<Promise<number>>(JOBS);
  for (let i = 0; i < JOBS; i++) all[i] = pool.call({ key: keys[i % KEYS] as string, msg: i });
  await Promise.all(all);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return seconds;
}

async function pQueue(concurrency: number): Promise<number> {
  const queue = new PQueue({ concurrency });
  const start = performance.now();
  for (let i = 0; i < JOBS; i++) void queue.add(() => i);
  await queue.onIdle();
  return (performance.now() - start) / 1000;
}

const result = (variant: string, items: number, seconds: number): Result => ({
  variant,
  items,
  seconds,
  latenciesMs: [],
});

console.log(
  `bench/pool: ${JOBS.toLocaleString('en-US')} no-op jobs over ${KEYS} keys; ${ROUNDS} round(s), median shown; ${availableParallelism()} cores`,
);
const dispatchRows: Row[] = [];
for (const workers of [1, 4, 16]) {
  const variants: [string, () => Promise<number>][] = [
    [`p-queue add, concurrency ${workers}`, () => pQueue(workers)],
    ...modes.map(([name, mode]): [string, () => Promise<number>] => [
      `sluice cast, ${name}`,
      () => sluiceCast(mode, workers),
    ]),
    ['sluice call, keyPersistent', () => sluiceCall(workers)],
  ];
  const rounds = new Map<string, Result[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of variants)
      rounds.set(name, [...(rounds.get(name) ?? []), result(name, JOBS, await run())]);
  }
  const rows = variants.map(([name]) => toRow(median(rounds.get(name) as Result[])));
  printTable(`(1) dispatch, ${workers} worker(s)`, rows, rows[0]!.variant, 'vs p-queue');
  dispatchRows.push(...rows.map((r) => ({ ...r, variant: `${r.variant} @${workers}` })));
}
save('pool', dispatchRows, { part: 'dispatch', jobs: JOBS, keys: KEYS });

// (2) CPU-bound work: threads against piscina and against one in-process worker, at two
// job sizes: per job, a thread round trip costs tens of microseconds that a small job cannot
// hide.
const module = fileURLToPath(new URL('./fixtures/hash-handler.mjs', import.meta.url));
const THREADS = 2;

async function threadPool(jobs: number, hashRounds: number): Promise<number> {
  const pool = new WorkerPool<string, number, number>({
    workers: THREADS,
    routing: 'queuer',
    threads: { module },
  });
  await Promise.all(
    Array.from({ length: THREADS * 4 }, (_, i) => pool.call({ key: `w${i}`, msg: 1 })),
  ); // warm up
  const start = performance.now();
  await Promise.all(
    Array.from({ length: jobs }, (_, i) => pool.call({ key: `k${i}`, msg: hashRounds })),
  );
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return seconds;
}

async function piscina(jobs: number, hashRounds: number): Promise<number> {
  const pool = new Piscina({ filename: module, minThreads: THREADS, maxThreads: THREADS });
  await Promise.all(Array.from({ length: THREADS * 4 }, () => pool.run(1)));
  const start = performance.now();
  await Promise.all(Array.from({ length: jobs }, () => pool.run(hashRounds)));
  const seconds = (performance.now() - start) / 1000;
  await pool.destroy();
  return seconds;
}

async function inProcess(jobs: number, hashRounds: number): Promise<number> {
  const pool = new WorkerPool<string, number, number>({
    workers: 1,
    handler: (rounds) => hash(rounds),
  });
  const start = performance.now();
  await Promise.all(
    Array.from({ length: jobs }, (_, i) => pool.call({ key: `k${i}`, msg: hashRounds })),
  );
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return seconds;
}

for (const [hashRounds, jobs] of [
  [32, CPU_JOBS],
  [256, Math.max(100, CPU_JOBS / 5)],
] as const) {
  const cpuVariants: [string, () => Promise<number>][] = [
    [`piscina, ${THREADS} threads`, () => piscina(jobs, hashRounds)],
    [`sluice threads, ${THREADS} workers`, () => threadPool(jobs, hashRounds)],
    ['sluice in-process, 1 worker', () => inProcess(jobs, hashRounds)],
  ];
  const cpuRounds = new Map<string, Result[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, run] of cpuVariants)
      cpuRounds.set(name, [...(cpuRounds.get(name) ?? []), result(name, jobs, await run())]);
  }
  const cpuRows = cpuVariants.map(([name]) => toRow(median(cpuRounds.get(name) as Result[])));
  printTable(
    `(2) CPU-bound jobs: SHA-256 of 4 KiB x ${hashRounds} (${(cpuRows[2]!.nsPerItem / 1000).toFixed(0)} us each alone), ${jobs.toLocaleString('en-US')} jobs`,
    cpuRows,
    cpuRows[0]!.variant,
    'vs piscina',
  );
  const [pisc, threads, single] = cpuRows as [Row, Row, Row];
  console.log(
    `sluice threads: ${((100 * threads.itemsPerSec) / pisc.itemsPerSec).toFixed(0)}% of piscina's throughput, ${(threads.itemsPerSec / single.itemsPerSec).toFixed(2)}x one in-process worker`,
  );
  save('pool', cpuRows, { part: 'cpu', jobs, hashRounds, threads: THREADS });
}
