/**
 * One node of `sluice demo --journal postgres://...`: a process of its own that joins the
 * cluster sharing the PostgreSQL journal, consumes the partitions it is leased, and writes
 * its share of the demo's workload (the accounts a with a % nodes === index).
 *
 * It talks to the demo that started it through JSON lines on stdout (one `NodeLine` each)
 * and takes one word on stdin, `go`, once every node has joined; a closed stdin (the demo
 * is gone) stops it like SIGTERM does. On SIGTERM it stops writing, closes the pipeline
 * (each partition finishes what it read, commits and is released at once, so another node
 * takes it over) and exits.
 *
 * Every acknowledged n is appended to the node's ack log with a synchronous write before
 * the next write is issued, so the log survives a SIGKILL. A node started again for the
 * same index reads that log and issues only the writes it does not list (like `--resume`):
 * one acknowledged but killed before it reached the log is appended again, and the
 * journal's idempotency ids make that a no-op.
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { PostgresJournal } from '../adapters/postgres/index.js';
import { WriteBehind } from '../core/write-behind.js';
import { ClosedError } from '../errors.js';
import { DEFAULT_CONSUMER } from '../index.js';
import type { ReleaseReason } from '../cluster/coordinator.js';
import { postgresStore, type Message } from './demo-store.js';
import { demoWrite, nodeProducers } from './demo-workload.js';

/** What the demo tells a node: its place in the cluster and its share of the workload. */
export interface DemoNodeConfig {
  /** Its name in the cluster (`node-2`; `node-2b` once restarted). */
  name: string;
  /** Its share of the accounts, 0-based. */
  index: number;
  nodes: number;
  writes: number;
  keys: number;
  /** The journal's postgres:// URL. */
  journal: string;
  /** The sink's postgres:// URL. */
  sink: string;
  /** The journal's schema, which holds the sink's table too. */
  schema: string;
  /** The table in `schema` the messages go to. */
  table: string;
  leaseMs: number;
  /** The node's ack log (one acknowledged n a line). */
  acks: string;
  /** This node's writes per second at most. */
  rate?: number;
}

/** What a node prints, one JSON object a line; `at` is its `Date.now()`. */
export type NodeLine =
  | { type: 'ready'; at: number; pid: number; skipped: number }
  | {
      type: 'event';
      at: number;
      name: 'partition:acquired';
      partition: number;
      epoch: number;
    }
  | {
      type: 'event';
      at: number;
      name: 'partition:released';
      partition: number;
      epoch: number;
      reason: ReleaseReason;
    }
  | { type: 'status'; at: number; acked: number; persisted: number }
  | { type: 'written'; at: number; acked: number; p50Ms: number; p99Ms: number }
  | { type: 'warning'; at: number; event: string; message: string }
  | {
      type: 'closed';
      at: number;
      persisted: number;
      batches: number;
      retried: number;
      deadLettered: number;
    };

/** Producers of the whole demo, shared out over the nodes (as on one node: 1,000). */
const PRODUCERS = 1000;
const STATUS_INTERVAL_MS = 250;

/** Distributes an object with a `type` over its union members, so each keeps its own fields. */
type WithoutAt<T> = T extends unknown ? Omit<T, 'at'> : never;

function say(line: WithoutAt<NodeLine>, at = Date.now()): void {
  // A pipe on Linux takes this synchronously: what was printed survives a SIGKILL.
  process.stdout.write(`${JSON.stringify({ ...line, at })}\n`);
}

export async function demoNode(config: DemoNodeConfig): Promise<number> {
  const acked = new Set<number>();
  if (existsSync(config.acks)) {
    for (const line of readFileSync(config.acks, 'utf8').split('\n')) {
      if (line !== '') acked.add(Number(line));
    }
  }
  const journal = await PostgresJournal.open({
    connectionString: config.journal,
    schema: config.schema,
    maxConnections: 4,
  });
  const store = await postgresStore(config.sink, false, {
    schema: config.schema,
    table: config.table,
    maxConnections: 4,
  });
  const wb = await WriteBehind.open<Message>({
    journal,
    sink: store.sink,
    leaseMs: config.leaseMs,
    node: config.name,
    batch: { maxSize: 1000, maxDelayMs: 10 },
  });
  // The partitions taken while open() ran were acquired before anyone could listen: they
  // are reported as acquired at the moment open() returned, with the epochs the lease table
  // gives them; listening starts first, so that nothing after that moment is missed.
  const openedAt = Date.now();
  const joined = new Set(wb.owned());
  wb.on('partition:acquired', (e) => say({ type: 'event', name: 'partition:acquired', ...e }));
  wb.on('partition:released', (e) => say({ type: 'event', name: 'partition:released', ...e }));
  const { leases } = await journal.clusterStats(DEFAULT_CONSUMER);
  for (const lease of leases) {
    // One let go since is no longer ours: its release, already reported, says so.
    if (joined.has(lease.partition) && lease.owner === config.name) {
      say(
        {
          type: 'event',
          name: 'partition:acquired',
          partition: lease.partition,
          epoch: lease.epoch,
        },
        openedAt,
      );
    }
  }
  for (const event of ['cluster:error', 'checkpoint:failed', 'pipeline:failed'] as const) {
    wb.on(event, ({ error }) =>
      say({
        type: 'warning',
        event,
        message: error instanceof Error ? error.message : String(error),
      }),
    );
  }

  let stopping = false;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSignal = (): void => {
    stopping = true;
    stop();
  };
  process.on('SIGTERM', onSignal);
  const go = new Promise<void>((resolve) => {
    let input = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      input += chunk;
      if (input.split('\n').includes('go')) resolve();
    });
    process.stdin.on('end', onSignal);
  });

  const ackFd = openSync(config.acks, 'a');
  const latencies: number[] = [];
  let acknowledged = 0;
  say({ type: 'ready', pid: process.pid, skipped: acked.size });
  const status = setInterval(
    () => say({ type: 'status', acked: acknowledged, persisted: wb.metrics().persisted }),
    STATUS_INTERVAL_MS,
  );
  const producers = nodeProducers({
    writes: config.writes,
    keys: config.keys,
    nodes: config.nodes,
    node: config.index,
    producers: Math.ceil(PRODUCERS / config.nodes),
  });
  await Promise.race([go, stopped]);
  const started = performance.now();
  const produce = async (list: readonly number[]): Promise<void> => {
    for (const n of list) {
      if (stopping) return;
      if (acked.has(n)) continue;
      if (config.rate !== undefined) {
        const due = (acknowledged / config.rate) * 1000 - (performance.now() - started);
        if (due > 0) await delay(due);
      }
      const { account, id, message } = demoWrite(n, config.keys);
      const t0 = performance.now();
      try {
        await wb.write(account, message, { id });
      } catch (error) {
        if (stopping && error instanceof ClosedError) return;
        throw error;
      }
      latencies.push(performance.now() - t0);
      writeSync(ackFd, `${n}\n`);
      acknowledged++;
    }
  };
  if (!stopping) {
    await Promise.all(producers.map(produce));
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number => latencies[Math.ceil((p / 100) * latencies.length) - 1] ?? 0;
    say({ type: 'written', acked: acknowledged, p50Ms: pct(50), p99Ms: pct(99) });
  }

  await stopped;
  clearInterval(status);
  await wb.close();
  const m = wb.metrics();
  say({
    type: 'closed',
    persisted: m.persisted,
    batches: m.batches,
    retried: m.retried,
    deadLettered: m.deadLettered,
  });
  closeSync(ackFd);
  await store.close();
  await journal.close();
  process.off('SIGTERM', onSignal);
  process.stdin.destroy();
  return 0;
}
