/**
 * A runnable tour of the Batcher: 200,000 writes from 2,000 simulated accounts go through a
 * Batcher into an in-memory table whose writes cost a little per statement and per row (as
 * a database's do), so batching visibly pays off. Prints progress, a summary, and checks that
 * every acknowledged write is in the table with per-account order kept.
 *
 *   npm start                      # defaults
 *   npm start -- --writes 50000    # fewer writes
 */
import { parseArgs } from 'node:util';
import { Batcher } from '../src/index.js';

const { values } = parseArgs({
  options: {
    writes: { type: 'string', default: '200000' },
    accounts: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '500' },
  },
});
const WRITES = Number(values.writes);
const ACCOUNTS = Number(values.accounts);
const BATCH = Number(values.batch);
const PRODUCERS = 1000;
for (const [name, v] of Object.entries({ writes: WRITES, accounts: ACCOUNTS, batch: BATCH })) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a positive integer`);
    process.exit(2);
  }
}

interface Message {
  account: string;
  seq: number;
  body: string;
}

/** The "database": one row list per account; each statement costs 200 µs plus 1 µs a row. */
const table = new Map<string, Message[]>();
async function insertMany(rows: Message[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0.2 + rows.length * 0.001));
  for (const row of rows) {
    const list = table.get(row.account) ?? [];
    list.push(row);
    table.set(row.account, list);
  }
}

const batcher = new Batcher<Message>({
  maxSize: BATCH,
  maxDelayMs: 5,
  maxPending: BATCH * 8,
  flush: insertMany,
});

const nextSeq = new Array<number>(ACCOUNTS).fill(0);
const latencies: number[] = [];
let acknowledged = 0;
let issued = 0;
const started = performance.now();

const tty = process.stdout.isTTY;
const progress = (): void => {
  const seconds = (performance.now() - started) / 1000;
  const rate = acknowledged / seconds;
  const eta = rate > 0 ? (WRITES - acknowledged) / rate : Infinity;
  const pct = ((100 * acknowledged) / WRITES).toFixed(1);
  const line = `written ${acknowledged.toLocaleString('en-US')}/${WRITES.toLocaleString('en-US')} (${pct}%)  pending ${batcher.stats().pending}  ${Math.round(rate).toLocaleString('en-US')} writes/s  ETA ${Number.isFinite(eta) ? eta.toFixed(1) : '-'} s`;
  if (tty) process.stdout.write(`\r${line}\x1b[K`);
  else console.log(line);
};
const ticker = setInterval(progress, tty ? 100 : 1000);

// Producers: each picks an account and awaits its write, as a request handler would.
await Promise.all(
  Array.from({ length: PRODUCERS }, async () => {
    while (issued < WRITES) {
      const n = issued++;
      const a = (n * 7919) % ACCOUNTS;
      const message: Message = { account: `acct-${a}`, seq: nextSeq[a]!++, body: `message ${n}` };
      const t0 = performance.now();
      await batcher.submit(message);
      latencies.push(performance.now() - t0);
      acknowledged++;
    }
  }),
);
await batcher.close();
clearInterval(ticker);
progress();
if (tty) process.stdout.write('\n');

const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number): string =>
  (latencies[Math.ceil((p / 100) * latencies.length) - 1] ?? 0).toFixed(2);
const stats = batcher.stats();
let rows = 0;
let ordered = true;
for (const list of table.values()) {
  rows += list.length;
  for (let i = 0; i < list.length; i++) if (list[i]!.seq !== i) ordered = false;
}
console.log(`
  writes acknowledged   ${acknowledged.toLocaleString('en-US')}
  throughput            ${Math.round(acknowledged / seconds).toLocaleString('en-US')} writes/s
  write latency         p50 ${pct(50)} ms   p99 ${pct(99)} ms
  batches               ${stats.batches.toLocaleString('en-US')} (mean size ${(stats.flushed / stats.batches).toFixed(1)})
  failed                ${stats.failed}
`);
const ok = rows === acknowledged && ordered;
console.log(
  `verification: ${ok ? 'OK' : 'FAILED'}: ${rows.toLocaleString('en-US')} rows for ${acknowledged.toLocaleString('en-US')} acknowledged writes, per-account order ${ordered ? 'kept' : 'BROKEN'}`,
);
process.exit(ok ? 0 : 1);
