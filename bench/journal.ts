/**
 * bench/journal: the SQLite journal against the raw SQLite driver, on a file with the default
 * durability (WAL, synchronous=FULL), side by side in one run:
 *
 * (a) 200,000 single-record appends from 1,000 concurrent producers (group commit; latency
 *     sampled on every 16th);
 * (b) the same rows appended in batches of 1,000;
 * floor: raw inserts through the same driver, of the same rows (same schema, same pragmas, JSON
 *        encoded the same way) in transactions of 1,000;
 * (c) read throughput: the whole journal read in pages of 1,000, against a raw SELECT;
 * (d) the cost of one pollBatch(100) at journal lengths 10k, 1M and 10M, from random
 *     positions: all entries, an exact key, a key prefix;
 * (e) the SQLite drivers side by side (node:sqlite and better-sqlite3, each that loads on
 *     this Node.js): (a) and a full read, with the CPU per entry of this process.
 *
 * Run: npm run bench -- journal      (--smoke: a quick check; --max-length N: skip longer journals)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteJournal } from '../src/adapters/sqlite/index.js';
import {
  chooseDriver,
  openSqlite,
  type SqliteDriverName,
  type SqliteDriverOption,
} from '../src/adapters/sqlite/driver.js';
import { Cursor, type JournalRecord, type Region } from '../src/index.js';
import { median, percentile, printTable, save, smoke, toRow, type Result } from './lib/report.js';

const APPENDS = smoke ? 5_000 : 200_000;
const PRODUCERS = 1_000;
const BATCH = 1_000;
const maxLengthArg = process.argv.indexOf('--max-length');
const MAX_LENGTH = maxLengthArg > 0 ? Number(process.argv[maxLengthArg + 1]) : Infinity;
const LENGTHS = (smoke ? [10_000, 50_000] : [10_000, 1_000_000, 10_000_000]).filter(
  (l) => l <= MAX_LENGTH,
);
const POLLS = smoke ? 200 : 2_000;
const KEYS = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-journal-'));
let files = 0;
const freshJournal = (driver: SqliteDriverOption = 'auto'): Promise<SqliteJournal> =>
  SqliteJournal.open(join(dir, `j${++files}.db`), { driver });

/** About 200 bytes of JSON, as a write-behind entry would carry. */
function record(i: number): JournalRecord {
  return {
    key: `acct-${i % KEYS}`,
    payload: {
      account: `acct-${i % KEYS}`,
      seq: i,
      amount: (i * 7919) % 100_000,
      note: 'x'.repeat(120),
    },
  };
}

async function concurrentAppends(
  driver: SqliteDriverOption = 'auto',
): Promise<Result & { transactions: number }> {
  const journal = await freshJournal(driver);
  const latenciesMs: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (next < APPENDS) {
        const i = next++;
        if ((i & 15) === 0) {
          const t0 = performance.now();
          await journal.append([record(i)]);
          latenciesMs.push(performance.now() - t0);
        } else {
          await journal.append([record(i)]);
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const transactions = journal.writeTransactions;
  await journal.close();
  return {
    variant: 'sluice append, 1 record x 1,000 producers',
    items: APPENDS,
    seconds,
    latenciesMs,
    transactions,
  };
}

async function batchedAppends(): Promise<Result> {
  const journal = await freshJournal();
  const latenciesMs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < APPENDS; i += BATCH) {
    const batch = Array.from({ length: BATCH }, (_, j) => record(i + j));
    const t0 = performance.now();
    await journal.append(batch);
    latenciesMs.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  await journal.close();
  return { variant: 'sluice append, batches of 1,000', items: APPENDS, seconds, latenciesMs };
}

async function rawInserts(): Promise<Result> {
  const journal = await freshJournal(); // same schema and pragmas; we write around it
  const db = journal.database;
  const insert = db.prepare(
    'INSERT INTO sluice_entries (position, key, type, id, payload, appended_at) VALUES (?, ?, NULL, NULL, ?, ?)',
  );
  const tx = db.transaction((from: number) => {
    const now = Date.now();
    for (let i = from; i < from + BATCH; i++) {
      const r = record(i);
      insert.run(i + 1, r.key, JSON.stringify(r.payload), now);
    }
  }, 'immediate');
  const latenciesMs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < APPENDS; i += BATCH) {
    const t0 = performance.now();
    tx(i);
    latenciesMs.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  await journal.close();
  return {
    variant: `floor: raw ${db.driver}, txns of 1,000`,
    items: APPENDS,
    seconds,
    latenciesMs,
  };
}

/** Fills a journal to `length` entries fast (one SQL statement), for the read measurements. */
async function journalOfLength(length: number): Promise<SqliteJournal> {
  const journal = await freshJournal();
  const db = journal.database;
  db.pragma('synchronous = OFF');
  db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${length})
    INSERT INTO sluice_entries (position, key, type, id, payload, appended_at)
    SELECT i, 'acct-' || (i % ${KEYS}), NULL, NULL,
           json_object('account', 'acct-' || (i % ${KEYS}), 'seq', i, 'note', printf('%.120c', 'x')),
           0
    FROM n;
    UPDATE sluice_meta SET value = ${length} WHERE name = 'head';
  `);
  db.pragma('synchronous = FULL');
  await journal.close();
  return SqliteJournal.open(journal.path);
}

async function reads(journal: SqliteJournal, length: number): Promise<Result[]> {
  const page = 1000;
  let start = performance.now();
  for (let at = 0; at < length;) {
    const entries = await journal.read(at, { limit: page });
    at = entries[entries.length - 1]!.position;
  }
  const sluice = (performance.now() - start) / 1000;
  const select = journal.database.prepare<[], { payload: string }>(
    'SELECT position, key, type, id, payload, appended_at FROM sluice_entries ORDER BY position',
  );
  start = performance.now();
  let rows = 0;
  for (const row of select.iterate()) {
    JSON.parse(row.payload);
    rows++;
  }
  const raw = (performance.now() - start) / 1000;
  return [
    { variant: `sluice read, pages of ${page}`, items: length, seconds: sluice, latenciesMs: [] },
    { variant: 'floor: raw SELECT + JSON.parse', items: rows, seconds: raw, latenciesMs: [] },
  ];
}

async function pollCost(
  journal: SqliteJournal,
  length: number,
  region: Region | undefined,
): Promise<number[]> {
  const micros: number[] = [];
  const cursor = new Cursor(journal, region === undefined ? {} : { region });
  for (let i = 0; i < POLLS; i++) {
    cursor.restore(Math.floor(Math.random() * (length - 1000)));
    const t0 = performance.now();
    await cursor.pollBatch(100);
    micros.push((performance.now() - t0) * 1000);
  }
  return micros.sort((a, b) => a - b);
}

console.log(
  `bench/journal: SQLite file, WAL, synchronous=FULL; ${APPENDS.toLocaleString('en-US')} records of ~200 bytes over ${KEYS.toLocaleString('en-US')} keys`,
);
const setup = {
  appends: APPENDS,
  producers: PRODUCERS,
  batch: BATCH,
  synchronous: 'FULL',
  keys: KEYS,
};

// Each variant runs ROUNDS times, alternating, on a fresh file; the median round is shown.
const ROUNDS = smoke ? 1 : 3;
const rounds: [Result[], (Result & { transactions: number })[], Result[]] = [[], [], []];
for (let r = 0; r < ROUNDS; r++) {
  rounds[0].push(await rawInserts());
  rounds[1].push(await concurrentAppends());
  rounds[2].push(await batchedAppends());
}
const [floor, concurrent, batched] = [
  median(rounds[0]),
  median(rounds[1]) as Result & { transactions: number },
  median(rounds[2]),
];
const appendRows = [floor, concurrent, batched].map(toRow);
printTable(
  `(a, b) appends, median of ${ROUNDS} alternating rounds`,
  appendRows,
  floor.variant,
  'vs floor',
);
for (const r of appendRows.slice(1)) {
  console.log(
    `${r.variant}: ${((100 * r.itemsPerSec) / appendRows[0]!.itemsPerSec).toFixed(0)}% of the raw insert rate`,
  );
}
console.log(
  `group commit: ${APPENDS.toLocaleString('en-US')} single-record appends in ${concurrent.transactions.toLocaleString('en-US')} transactions`,
);
save('journal', appendRows, { ...setup, part: 'append' });

const pollRows: { length: number; region: string; p50: number; p99: number }[] = [];
for (const length of LENGTHS) {
  const t0 = performance.now();
  const journal = await journalOfLength(length);
  console.log(
    `\nfilled a journal of ${length.toLocaleString('en-US')} entries in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  if (length === LENGTHS[0]) {
    const readRows = (await reads(journal, length)).map(toRow);
    printTable('(c) reads', readRows, readRows[1]!.variant, 'vs floor');
    save('journal', readRows, { ...setup, part: 'read', length });
  }
  for (const [name, region] of [
    ['all entries', undefined],
    ['exact key', { keys: ['acct-42'] }],
    ['key prefix', { keyPrefix: 'acct-1' }],
  ] as const) {
    const micros = await pollCost(journal, length, region);
    pollRows.push({
      length,
      region: name,
      p50: percentile(micros, 50),
      p99: percentile(micros, 99),
    });
  }
  await journal.close();
  rmSync(journal.path, { force: true });
}

console.log('\n(d) one pollBatch(100) from a random position, microseconds');
console.log(
  `${'region'.padEnd(12)}${LENGTHS.map((l) => `${l.toLocaleString('en-US')} p50 / p99`.padStart(24)).join('')}`,
);
for (const name of ['all entries', 'exact key', 'key prefix']) {
  const cells = LENGTHS.map((l) => {
    const r = pollRows.find((p) => p.length === l && p.region === name)!;
    return `${r.p50.toFixed(0)} / ${r.p99.toFixed(0)}`.padStart(24);
  });
  console.log(`${name.padEnd(12)}${cells.join('')}`);
}
save(
  'journal',
  pollRows.map((p) => ({
    variant: `pollBatch(100) ${p.region} @ ${p.length}`,
    items: 100,
    itemsPerSec: 1e8 / p.p50,
    nsPerItem: (p.p50 * 1000) / 100,
    p50Ms: p.p50 / 1000,
    p99Ms: p.p99 / 1000,
  })),
  { ...setup, part: 'poll' },
);
rmSync(dir, { recursive: true, force: true });

/** (e) The same appends and a full read through each SQLite driver that loads here. */
async function driverRun(
  driver: SqliteDriverName,
): Promise<Result & { cpuUs: number; readCpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const appends = await concurrentAppends(driver);
  const cpu1 = process.cpuUsage(cpu0);
  const journal = await freshJournal(driver);
  await journal.append(Array.from({ length: APPENDS }, (_, i) => record(i)));
  const cpu2 = process.cpuUsage();
  for (let at = 0; at < APPENDS;) {
    const entries = await journal.read(at, { limit: 1000 });
    at = entries[entries.length - 1]!.position;
  }
  const read = process.cpuUsage(cpu2);
  await journal.close();
  return {
    ...appends,
    variant: `${driver}: append, 1 record x 1,000 producers`,
    cpuUs: (cpu1.user + cpu1.system) / APPENDS,
    readCpuUs: (read.user + read.system) / APPENDS,
  };
}

const drivers = (['node:sqlite', 'better-sqlite3'] as const).filter((driver) => {
  try {
    openSqlite(':memory:', { driver }).close();
    return true;
  } catch {
    return false;
  }
});
const driverRuns: (Result & { cpuUs: number; readCpuUs: number })[][] = drivers.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let d = 0; d < drivers.length; d++) driverRuns[d]!.push(await driverRun(drivers[d]!));
}
const driverMedians = driverRuns.map(
  (runs) => median(runs) as Result & { cpuUs: number; readCpuUs: number },
);
const driverRows = driverMedians.map(toRow);
printTable(
  `(e) SQLite drivers on Node ${process.versions.node} (auto: ${chooseDriver('auto')}), median of ${ROUNDS}`,
  driverRows,
  driverRows[0]!.variant,
  'vs first',
);
driverMedians.forEach((m, d) => {
  console.log(
    `${drivers[d]}: ${m.cpuUs.toFixed(1)} µs CPU per append, ${m.readCpuUs.toFixed(1)} µs CPU per entry read`,
  );
});
save('journal', driverRows, { ...setup, part: 'drivers', node: process.versions.node });
