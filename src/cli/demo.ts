/**
 * `sluice demo`: sluice doing its job on the embedded default. N messages from simulated
 * accounts go through a durable SQLite journal into a SQLite table (or PostgreSQL with
 * `--sink`), each write resolving once durable; the pipeline batches them, routes them by
 * account to 4 workers and bulk-writes them. It ends with a summary and a verification:
 * every acknowledged write is in the table exactly once, in per-account order.
 *
 * The workload is deterministic: write n goes to account n % keys with sequence
 * floor(n / keys), under the idempotency id `w<n>`, and each account's writes are issued by
 * one producer, one after the other. That is what lets `--kill-after` + `--resume` prove
 * recovery: the killed run records every acknowledged n (acks.log); the resumed run
 * recovers the journal, issues only the writes never acknowledged (an in-flight one that
 * did reach the journal is deduplicated by its id), and the verification then finds every
 * write in the table once. A lost acknowledged write would be missing, since nothing
 * writes it again.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SqliteJournal } from '../adapters/sqlite/index.js';
import { JournalLockedError } from '../errors.js';
import { WriteBehind } from '../core/write-behind.js';
import { DEFAULT_CONSUMER } from '../index.js';
import { pipelineSource } from '../dashboard/source.js';
import { startDashboard, type Dashboard } from '../dashboard/server.js';
import { postgresStore, sqliteStore, type DemoStore, type Message } from './demo-store.js';
import { UsageError } from './fail.js';
import { count, millis, seconds, table } from './format.js';
import { startProgress } from './progress.js';

export interface DemoOptions {
  writes: number;
  keys: number;
  dir: string;
  /** A postgres:// URL; the default is a SQLite table in `dir`. */
  sink?: string;
  memory: boolean;
  killAfter?: number;
  resume: boolean;
  /** Writes per second at most (a steadier picture on the dashboard). */
  rate?: number;
  dashboard?: { port: number; host: string; token?: string };
}

/** What the demo's folder remembers for `--resume`. */
interface DemoState {
  writes: number;
  keys: number;
  sink?: string;
}

const PRODUCERS = 1000;
const CONSUMER = DEFAULT_CONSUMER;

/** What a demo leaves in its folder: all a new run may delete. */
const DEMO_FILES = new Set(
  ['demo.json', 'acks.log', 'journal.db', 'store.db'].flatMap((f) => [f, `${f}-wal`, `${f}-shm`]),
);
/** The ack logs of the cluster demo's nodes (`sluice demo --journal postgres://...`). */
const NODE_ACKS = /^node-\d+\.acks$/;
/** The journal's consumer lock: a demo's too, but never deleted (see consumer-lock.ts). */
const LOCK_FILE = `journal.db.${CONSUMER}.lock`;

/**
 * Refuses a folder whose journal a running demo (or any pipeline) is working on, before
 * anything in it is touched: a second run would delete the files of the one in progress.
 */
export async function refuseBusyDir(dir: string): Promise<void> {
  const path = join(dir, 'journal.db');
  if (!existsSync(path)) return;
  let journal: SqliteJournal;
  try {
    journal = await SqliteJournal.open(path, { create: false });
  } catch {
    return; // not a journal we can open: the run that follows reports or replaces it
  }
  try {
    const hold = await journal.acquire(CONSUMER);
    await hold.release();
  } catch (error) {
    if (error instanceof JournalLockedError) {
      const who = error.holder === undefined ? 'another process' : `pid ${error.holder.pid}`;
      throw new UsageError(
        `--dir ${dir} is in use by a running demo (${who}): wait for it, or give this one another folder`,
      );
    }
    throw error;
  } finally {
    await journal.close();
  }
}

/**
 * Empties (or creates) the demo's folder for a new run, refusing one that holds anything a
 * demo did not put there: `--dir` names a folder, and it may not be the demo's own.
 */
export function clearDemoDir(dir: string): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    return;
  }
  const names = readdirSync(dir);
  const foreign = names.find(
    (name) => !DEMO_FILES.has(name) && !NODE_ACKS.test(name) && name !== LOCK_FILE,
  );
  if (foreign !== undefined) {
    throw new UsageError(
      `--dir ${dir} holds ${foreign}, which no demo wrote: give the demo a folder of its own`,
    );
  }
  for (const name of names) if (name !== LOCK_FILE) rmSync(join(dir, name));
}

export async function demo(o: DemoOptions): Promise<number> {
  if (o.memory && (o.resume || o.killAfter !== undefined)) {
    throw new UsageError(
      '--memory keeps nothing across a crash: it cannot be combined with --kill-after or --resume',
    );
  }
  await refuseBusyDir(o.dir);
  const statePath = join(o.dir, 'demo.json');
  const acksPath = join(o.dir, 'acks.log');
  let state: DemoState;
  const acked = new Set<number>();
  if (o.resume) {
    if (!existsSync(statePath)) {
      throw new UsageError(`nothing to resume in ${o.dir}: run \`sluice demo\` there first`);
    }
    state = JSON.parse(readFileSync(statePath, 'utf8')) as DemoState;
    if (existsSync(acksPath)) {
      for (const line of readFileSync(acksPath, 'utf8').split('\n')) {
        if (line !== '') acked.add(Number(line));
      }
    }
  } else {
    state = { writes: o.writes, keys: o.keys, ...(o.sink === undefined ? {} : { sink: o.sink }) };
    clearDemoDir(o.dir);
    if (!o.memory) writeFileSync(statePath, JSON.stringify(state));
  }
  const { writes, keys } = state;

  const store: DemoStore =
    state.sink === undefined
      ? sqliteStore(o.dir, !o.resume)
      : await postgresStore(state.sink, !o.resume);
  const journalPath = join(o.dir, 'journal.db');
  // Read only in order by the pipeline: the key index would only slow appends down.
  const journal = o.memory ? 'memory' : await SqliteJournal.open(journalPath, { keyIndex: false });
  const wb = await WriteBehind.open<Message>({
    journal,
    sink: store.sink,
    workers: 4,
    batch: { maxSize: 1000, maxDelayMs: 10 },
  });
  const out = process.stdout;
  const recovered = wb.metrics().lag;

  out.write(
    `sluice demo: ${count(writes)} writes from ${count(keys)} accounts${o.resume ? `, resumed (${count(acked.size)} acknowledged before the crash)` : ''}\n`,
  );
  out.write(
    o.memory
      ? `in-memory mode (nothing durable: a crash loses what is buffered) -> ${store.where}\n`
      : `journal ${journalPath} (SQLite, WAL, synchronous=FULL) -> ${store.where}\n`,
  );
  if (o.resume) {
    out.write(`recovering ${count(recovered)} journal entries not yet in the sink\n`);
  }

  let dashboard: Dashboard | undefined;
  if (o.dashboard !== undefined) {
    dashboard = await startDashboard({
      source: await pipelineSource(wb, `demo: ${count(writes)} writes into ${store.where}`),
      port: o.dashboard.port,
      host: o.dashboard.host,
      ...(o.dashboard.token === undefined ? {} : { token: o.dashboard.token }),
      intervalMs: 500,
    });
    out.write(`dashboard ${dashboard.url}\n`);
  }
  out.write('\n');

  // Acknowledged writes are recorded for --resume; buffered and written every 100 ms, and
  // at once before the demo kills itself.
  const ackFd = o.memory ? undefined : openSync(acksPath, 'a');
  let ackBuffer: number[] = [];
  const flushAcks = (): void => {
    if (ackFd === undefined || ackBuffer.length === 0) return;
    writeSync(ackFd, ackBuffer.join('\n') + '\n');
    ackBuffer = [];
  };
  const ackTimer = setInterval(flushAcks, 100);

  const latencies: number[] = [];
  const todo = writes - acked.size;
  let acknowledged = 0;
  const started = performance.now();
  const stopProgress = startProgress(() => {
    const s = (performance.now() - started) / 1000;
    const m = wb.metrics();
    const rate = acknowledged / s;
    return (
      `written ${count(acknowledged)}/${count(todo)}  persisted ${count(m.persisted)}  ` +
      `backlog ${count(m.backlog)}  ${count(rate)} writes/s  ETA ${seconds(rate > 0 ? (todo - acknowledged) / rate : Infinity)}`
    );
  });

  const producers = Math.min(keys, PRODUCERS);
  await Promise.all(
    Array.from({ length: producers }, async (_, p) => {
      // Producer p owns the accounts a with a % producers === p and writes them round by
      // round, so each account's writes go out in order, each awaited.
      for (let round = 0; round * keys < writes; round++) {
        for (let a = p; a < keys; a += producers) {
          const n = round * keys + a;
          if (n >= writes) break;
          if (acked.has(n)) continue;
          if (o.rate !== undefined) {
            const due = (acknowledged / o.rate) * 1000 - (performance.now() - started);
            if (due > 0) await delay(due);
          }
          const account = `acct-${a}`;
          const t0 = performance.now();
          await wb.write(
            account,
            { account, seq: round, body: `message ${n} for ${account}` },
            { id: `w${n}` },
          );
          latencies.push(performance.now() - t0);
          acknowledged++;
          if (ackFd !== undefined) ackBuffer.push(n);
          if (acknowledged === o.killAfter) {
            flushAcks();
            stopProgress();
            out.write(
              `killing the process with SIGKILL after ${count(acknowledged)} acknowledged writes\n`,
            );
            process.kill(process.pid, 'SIGKILL');
          }
        }
      }
    }),
  );
  const writeSeconds = (performance.now() - started) / 1000;
  const closed = await wb.close();
  const totalSeconds = (performance.now() - started) / 1000;
  clearInterval(ackTimer);
  flushAcks();
  if (ackFd !== undefined) closeSync(ackFd);
  stopProgress();

  latencies.sort((a, b) => a - b);
  const pct = (p: number): string =>
    millis(latencies[Math.ceil((p / 100) * latencies.length) - 1] ?? 0);
  const m = wb.metrics();
  const deadLetters = await wb.deadLetters.count();
  const rows = await store.rows();
  const outOfOrder = await store.outOfOrder();

  out.write(
    '\n' +
      table([
        [
          'writes acknowledged',
          `${count(acknowledged)} in ${writeSeconds.toFixed(2)} s (${count(acknowledged / writeSeconds)} writes/s${o.memory ? '' : ', each durable'})`,
        ],
        [
          'all in the sink',
          `after ${totalSeconds.toFixed(2)} s (${count(acknowledged / totalSeconds)} writes/s end to end)`,
        ],
        ['write latency', `p50 ${pct(50)} ms   p99 ${pct(99)} ms`],
        [
          'end-to-end latency',
          `p50 ${millis(m.endToEndLatencyMs.p50)} ms   p99 ${millis(m.endToEndLatencyMs.p99)} ms (over the last ${count(Math.min(2048, m.endToEndLatencyMs.count))} entries)`,
        ],
        [
          'batches',
          `${count(m.batches)} (mean size ${(m.persisted / Math.max(1, m.batches)).toFixed(1)})`,
        ],
        ['retries', count(m.retried)],
        ['dead letters', count(deadLetters)],
        ['left in the journal', count(closed.remaining)],
      ]) +
      '\n\n',
  );
  const ok = rows === writes && outOfOrder === 0 && closed.remaining === 0 && deadLetters === 0;
  const before = o.resume
    ? ` (${count(acked.size)} acknowledged before the crash + ${count(acknowledged)} now)`
    : '';
  out.write(
    `verification: ${ok ? 'OK' : 'FAILED'}: ${count(rows)} rows for ${count(writes)} acknowledged writes${before}, ` +
      `per-account order ${outOfOrder === 0 ? 'kept' : `BROKEN in ${count(outOfOrder)} places`}\n`,
  );
  await store.close();
  if (dashboard !== undefined) {
    // Listen before saying so: a Ctrl-C that comes right after the line must find the handler.
    const interrupted = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    out.write(`dashboard still at ${dashboard.url} (Ctrl-C to stop)\n`);
    await interrupted;
    await dashboard.close();
  }
  if (journal !== 'memory') await journal.close();
  return ok ? 0 : 1;
}
