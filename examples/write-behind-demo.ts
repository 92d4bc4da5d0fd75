/**
 * What `npm start` runs: sluice on its embedded default. 200,000 messages from 2,000
 * simulated accounts go through a durable SQLite journal (./sluice-demo/journal.db) into a
 * SQLite table (./sluice-demo/store.db). Each write resolves once it is durable; the
 * pipeline batches them, routes them by account to 4 workers and bulk-writes them. At the
 * end: a summary, and a check that every acknowledged write is in the table exactly once, in
 * per-account order.
 *
 *   npm start                                  # defaults
 *   npm start -- --writes 50000 --accounts 500
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { WriteBehind } from '../src/index.js';
import { SqliteJournal, sqliteSink } from '../src/adapters/sqlite/index.js';

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '200000' },
    accounts: { type: 'string', default: '2000' },
    dir: { type: 'string', default: 'sluice-demo' },
  },
});
const WRITES = Number(values.writes);
const ACCOUNTS = Number(values.accounts);
for (const [name, v] of Object.entries({ writes: WRITES, accounts: ACCOUNTS })) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}
const PRODUCERS = Math.min(ACCOUNTS, 1000);

type Message = { account: string; seq: number; body: string };

const dir = values.dir;
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const store = new BetterSqlite3(join(dir, 'store.db'));
store.pragma('journal_mode = WAL');
store.exec(`CREATE TABLE messages (
  arrival   INTEGER PRIMARY KEY,
  sluice_id TEXT UNIQUE NOT NULL,
  account   TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  body      TEXT NOT NULL
)`);
const journal = await SqliteJournal.open(join(dir, 'journal.db'));
const sink = sqliteSink<Message>({
  database: store,
  table: 'messages',
  columns: ['account', 'seq', 'body'],
  mode: 'insert',
});
const wb = await WriteBehind.open<Message>({
  journal,
  sink,
  workers: 4,
  batch: { maxSize: 1000, maxDelayMs: 10 },
});

console.log(
  `sluice demo: ${WRITES.toLocaleString('en-US')} writes from ${ACCOUNTS.toLocaleString('en-US')} accounts`,
);
console.log(
  `journal ${join(dir, 'journal.db')} (SQLite, WAL, synchronous=FULL) -> table messages in ${join(dir, 'store.db')}\n`,
);

const latencies: number[] = [];
let acknowledged = 0;
let issued = 0;
const started = performance.now();
const tty = process.stdout.isTTY;
const progress = (): void => {
  const seconds = (performance.now() - started) / 1000;
  const m = wb.metrics();
  const rate = acknowledged / seconds;
  const eta = rate > 0 ? (WRITES - acknowledged) / rate : Infinity;
  const line =
    `written ${acknowledged.toLocaleString('en-US')}/${WRITES.toLocaleString('en-US')}  ` +
    `persisted ${m.persisted.toLocaleString('en-US')}  backlog ${m.backlog.toLocaleString('en-US')}  ` +
    `${Math.round(rate).toLocaleString('en-US')} writes/s  ETA ${Number.isFinite(eta) ? eta.toFixed(1) : '-'} s`;
  if (tty) process.stdout.write(`\r${line}\x1b[K`);
  else console.log(line);
};
const ticker = setInterval(progress, tty ? 100 : 1000);

const nextSeq = new Array<number>(ACCOUNTS).fill(0);
await Promise.all(
  Array.from({ length: PRODUCERS }, async (_, p) => {
    // Each producer owns the accounts a with a % PRODUCERS === p, as a request handler per
    // user would, and writes them in turn, awaiting each write.
    for (let a = p; issued < WRITES; a = a + PRODUCERS < ACCOUNTS ? a + PRODUCERS : p) {
      const n = issued++;
      const account = `acct-${a}`;
      const seq = nextSeq[a]!++;
      const t0 = performance.now();
      await wb.write(account, { account, seq, body: `message ${n} for ${account}` });
      latencies.push(performance.now() - t0);
      acknowledged++;
    }
  }),
);
const writeSeconds = (performance.now() - started) / 1000;
const closed = await wb.close();
const seconds = (performance.now() - started) / 1000;
clearInterval(ticker);
progress();
if (tty) process.stdout.write('\n');

latencies.sort((a, b) => a - b);
const pct = (p: number): string =>
  (latencies[Math.ceil((p / 100) * latencies.length) - 1] ?? 0).toFixed(2);
const m = wb.metrics();
const deadLetters = await wb.deadLetters.count();
await journal.close();

const rows = (store.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n;
const outOfOrder = (
  store
    .prepare(
      `SELECT count(*) AS n FROM (
         SELECT seq, lag(seq) OVER (PARTITION BY account ORDER BY arrival) AS prev FROM messages
       ) WHERE prev IS NOT NULL AND seq <= prev`,
    )
    .get() as { n: number }
).n;
store.close();

console.log(`
  writes acknowledged   ${acknowledged.toLocaleString('en-US')} in ${writeSeconds.toFixed(2)} s (${Math.round(acknowledged / writeSeconds).toLocaleString('en-US')} writes/s, each durable)
  all in the table      after ${seconds.toFixed(2)} s (${Math.round(acknowledged / seconds).toLocaleString('en-US')} writes/s end to end)
  write latency         p50 ${pct(50)} ms   p99 ${pct(99)} ms
  end-to-end latency    p50 ${m.endToEndLatencyMs.p50.toFixed(1)} ms   p99 ${m.endToEndLatencyMs.p99.toFixed(1)} ms (recent ${Math.min(2048, m.endToEndLatencyMs.count)})
  batches               ${m.batches.toLocaleString('en-US')} (mean size ${(m.persisted / Math.max(1, m.batches)).toFixed(1)})
  retries               ${m.retried}
  dead letters          ${deadLetters}
  left in the journal   ${closed.remaining}
`);
const ok = rows === acknowledged && outOfOrder === 0 && closed.remaining === 0;
console.log(
  `verification: ${ok ? 'OK' : 'FAILED'}: ${rows.toLocaleString('en-US')} rows for ${acknowledged.toLocaleString('en-US')} acknowledged writes, per-account order ${outOfOrder === 0 ? 'kept' : `BROKEN in ${outOfOrder} places`}`,
);
process.exit(ok ? 0 : 1);
