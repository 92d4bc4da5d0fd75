/**
 * `sluice demo --journal postgres://... --nodes 3`: the demo on a cluster. N node processes
 * (demo-node.ts) share one PostgreSQL journal, split into partitions with fenced leases,
 * and deliver into one PostgreSQL table; each node writes the accounts of its share of the
 * demo's workload (demo-workload.ts) and works the partitions it is leased.
 *
 * The run: the journal's schema is made afresh; the nodes start, join and settle on their
 * partitions; they write. After `killAfter` acknowledged writes the node holding the most
 * partitions is SIGKILLed; once the others took them over (when its leases ran out) it is
 * started again under a new name (`node-2b`) and writes what of its share its ack log does
 * not list.
 * When every write is acknowledged and the journal delivered, the nodes are stopped with
 * SIGTERM one at a time, each handing its partitions to those still running. The takeover
 * and handover times come from the nodes' own lease events.
 *
 * The verification is the single-node demo's: the table holds exactly one row per
 * acknowledged write (the nodes' ack logs together), in per-account order.
 */
import { readFileSync } from 'node:fs';
import type Pg from 'pg';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PostgresJournal } from '../adapters/postgres/index.js';
import { assign } from '../cluster/coordinator.js';
import { DEFAULT_CONSUMER } from '../index.js';
import { isPostgresUrl } from './cluster-journal.js';
import { clearDemoDir, refuseBusyDir } from './demo.js';
import type { DemoNodeConfig } from './demo-node.js';
import { DemoNodeProcess, type NodeExit } from './demo-node-process.js';
import { postgresStore, type DemoStore } from './demo-store.js';
import { nodeProducers } from './demo-workload.js';
import { UsageError } from './fail.js';
import { count, millis, seconds, table } from './format.js';
import {
  owners,
  partitionMoves,
  type PartitionEvent,
  type PartitionMove,
} from './partition-moves.js';
import { startProgress } from './progress.js';

export interface ClusterDemoOptions {
  writes: number;
  keys: number;
  nodes: number;
  /** The journal's postgres:// URL. */
  journal: string;
  /** The table's postgres:// URL. @default the journal's */
  sink?: string;
  /** Made afresh for the run: the journal's tables, and the demo's table beside them. */
  schema: string;
  leaseMs: number;
  /** The folder of the nodes' ack logs. */
  dir: string;
  /** SIGKILL a node after this many acknowledged writes. @default 40% of `writes` */
  killAfter?: number;
  /** Writes per second at most, over all nodes. */
  rate?: number;
}

const PARTITIONS = 16;
const TABLE = 'messages';
/** Marks a schema this demo made: only such a schema (or an empty one) is dropped. */
const SCHEMA_COMMENT = 'sluice demo';
/** Nodes write this long at most after the last one was started (then the run fails). */
const WRITE_TIMEOUT_MS = 10 * 60_000;
/** Delivery may stand still this long before the run gives up waiting. */
const DELIVERY_STALL_MS = 60_000;
const EXIT_TIMEOUT_MS = 30_000;
const POLL_MS = 20;

const redact = (url: string): string => url.replace(/\/\/[^@/]*@/, '//');
const list = (ns: readonly number[]): string => ns.join(', ');

export async function clusterDemo(o: ClusterDemoOptions): Promise<number> {
  for (const [flag, url] of [
    ['--journal', o.journal],
    ['--sink', o.sink],
  ] as const) {
    if (url !== undefined && !isPostgresUrl(url)) {
      throw new UsageError(`${flag} takes a postgres:// URL, got ${JSON.stringify(url)}`);
    }
  }
  if (!/^[a-z_][a-z0-9_]{0,49}$/.test(o.schema)) {
    throw new UsageError(
      `--schema must be a lower-case SQL name of 50 characters at most, got ${JSON.stringify(o.schema)}`,
    );
  }
  if (o.nodes < 2 || o.nodes > PARTITIONS) {
    throw new UsageError(`--nodes must be between 2 and ${PARTITIONS}, got ${o.nodes}`);
  }
  await refuseBusyDir(o.dir);
  await recreateSchema(o.journal, o.schema);
  clearDemoDir(o.dir);
  const journal = await PostgresJournal.open({
    connectionString: o.journal,
    schema: o.schema,
    partitions: PARTITIONS,
    maxConnections: 2,
  });
  let store: DemoStore;
  try {
    store = await postgresStore(o.sink ?? o.journal, true, {
      schema: o.schema,
      table: TABLE,
      maxConnections: 1,
    });
  } catch (error) {
    await journal.close();
    throw error;
  }
  const nodes: DemoNodeProcess[] = [];
  try {
    return await runCluster(o, journal, store, nodes);
  } finally {
    for (const node of nodes) node.kill('SIGKILL');
    await Promise.allSettled(nodes.map((n) => n.exited));
    await store.close();
    await journal.close();
  }
}

async function runCluster(
  o: ClusterDemoOptions,
  journal: PostgresJournal,
  store: DemoStore,
  all: DemoNodeProcess[],
): Promise<number> {
  const out = process.stdout;
  const tty = out.isTTY === true;
  const t0 = Date.now();
  /** A line of its own, clear of the progress line a terminal redraws in place. */
  const note = (text: string): void => {
    out.write(`${tty ? '\r\x1b[K' : ''}[${((Date.now() - t0) / 1000).toFixed(1)} s] ${text}\n`);
  };
  const events: PartitionEvent[] = [];
  let fail!: (error: unknown) => void;
  const failure = new Promise<never>((_, reject) => (fail = reject));
  // Raced by every wait below; this keeps it from counting as unobserved before one does.
  failure.catch(() => {});
  const until = async (done: () => boolean, timeoutMs: number): Promise<boolean> => {
    const end = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() >= end) return false;
      await Promise.race([delay(POLL_MS), failure]);
    }
    return true;
  };

  const live = new Map<number, DemoNodeProcess>();
  const start = (index: number, name: string): DemoNodeProcess => {
    const config: DemoNodeConfig = {
      name,
      index,
      nodes: o.nodes,
      writes: o.writes,
      keys: o.keys,
      journal: o.journal,
      sink: o.sink ?? o.journal,
      schema: o.schema,
      table: TABLE,
      leaseMs: o.leaseMs,
      acks: ackLog(o.dir, index),
      ...(o.rate === undefined ? {} : { rate: o.rate / o.nodes }),
    };
    const node = new DemoNodeProcess(config, (e) => events.push(e));
    node.failed.catch(fail);
    all.push(node);
    live.set(index, node);
    return node;
  };
  const shares = Array.from(
    { length: o.nodes },
    (_, i) =>
      nodeProducers({ writes: o.writes, keys: o.keys, nodes: o.nodes, node: i, producers: 1 })[0]
        ?.length ?? 0,
  );
  const accounts = (i: number): number =>
    Math.max(0, Math.ceil((Math.min(o.keys, o.writes) - i) / o.nodes));

  out.write(
    `sluice demo: ${count(o.writes)} writes from ${count(o.keys)} accounts on ${o.nodes} nodes, each a process of its own\n` +
      `journal ${redact(o.journal)} schema ${o.schema} (PostgreSQL, shared by the nodes in ${PARTITIONS} partitions) -> ${store.where}\n` +
      `leases of ${count(o.leaseMs)} ms (short, so that the takeover after a crash shows; the library's default is 10,000)\n\n`,
  );

  for (let i = 0; i < o.nodes; i++) start(i, `node-${i + 1}`);
  await Promise.race([Promise.all([...live.values()].map((n) => n.ready)), failure]);
  const names = [...live.values()].map((n) => n.name);
  const expected = new Map<number, string>();
  for (const name of names) for (const p of assign(names, PARTITIONS, name)) expected.set(p, name);
  const settled = (): boolean => {
    const now = owners(events, Infinity);
    return [...expected].every(([p, name]) => now.get(p) === name);
  };
  await until(settled, 5_000);
  const held = owners(events, Infinity);
  for (const node of live.values()) {
    const parts = [...held].filter(([, n]) => n === node.name).map(([p]) => p);
    note(
      `${node.name} (pid ${node.pid}) joined: ${count(accounts(node.index))} accounts (a % ${o.nodes} = ${node.index}), ` +
        `partitions ${list(parts.sort((a, b) => a - b))}`,
    );
  }

  const killAfter = o.killAfter ?? Math.floor(o.writes * 0.4);
  const acked = (): number => all.reduce((sum, n) => sum + n.acked, 0);
  const started = performance.now();
  let rows = 0;
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    store
      .rows()
      .then((n) => (rows = n))
      .catch(() => {
        // The count is for the progress line only; the verification counts again.
      })
      .finally(() => (polling = false));
  }, 500);
  let progressStopped = false;
  const stopDrawing = startProgress(() => {
    const s = (performance.now() - started) / 1000;
    const done = acked();
    const rate = done / s;
    return (
      `written ${count(done)}/${count(o.writes)}  in the table ${count(rows)}  nodes ${live.size}  ` +
      `${count(rate)} writes/s  ETA ${seconds(rate > 0 ? (o.writes - done) / rate : Infinity)}`
    );
  });

  const stopProgress = (): void => {
    if (progressStopped) return;
    progressStopped = true;
    stopDrawing();
  };
  try {
    for (const node of live.values()) node.go();
    const allWritten = (): boolean => [...live.values()].every((n) => n.finished !== undefined);

    // ---- the crash ------------------------------------------------------------------------------
    let crash:
      | { name: string; at: number; before: number; moves: PartitionMove[]; restarted: string }
      | undefined;
    await until(() => acked() >= killAfter || allWritten(), WRITE_TIMEOUT_MS);
    if (acked() >= killAfter) {
      // The node holding the most partitions: the takeover that shows most.
      const holding = [...owners(events, Infinity).values()];
      const victim = [...live.values()]
        .map((node) => ({ node, held: holding.filter((n) => n === node.name).length }))
        .reduce((a, b) => (b.held > a.held ? b : a)).node;
      const at = Date.now();
      victim.kill('SIGKILL');
      await victim.exited;
      live.delete(victim.index);
      const before = readAcks(ackLog(o.dir, victim.index)).size;
      let total = 0;
      for (let i = 0; i < o.nodes; i++) total += readAcks(ackLog(o.dir, i)).size;
      const held = partitionMoves(events, victim.name, at).map((m) => m.partition);
      note(
        `${victim.name} killed with SIGKILL at ${count(total)} acknowledged writes (${count(before)} of them its own), ` +
          `holding partitions ${list(held)}`,
      );
      const takenOver = (): boolean =>
        partitionMoves(events, victim.name, at).every((m) => m.to !== undefined);
      await until(takenOver, 3 * o.leaseMs + 5_000);
      const moves = partitionMoves(events, victim.name, at);
      note(`its partitions ${takenOverText(moves, 's')} after the SIGKILL`);
      const restarted = `${victim.name}b`;
      const again = start(victim.index, restarted);
      await Promise.race([again.ready, failure]);
      again.go();
      note(
        `${victim.name} restarted as ${restarted}: it writes the ${count((shares[victim.index] ?? 0) - before)} writes of its accounts not acknowledged before`,
      );
      crash = { name: victim.name, at, before, moves, restarted };
    }

    // ---- everything written, then delivered -----------------------------------------------------
    if (!(await until(allWritten, WRITE_TIMEOUT_MS))) {
      throw new Error(
        `the nodes did not finish writing within ${seconds(WRITE_TIMEOUT_MS / 1000)}`,
      );
    }
    const writeSeconds = (performance.now() - started) / 1000;
    const { head } = await journal.stats();
    let pending = await journal.pendingUpTo(DEFAULT_CONSUMER, head);
    let moved = performance.now();
    while (pending > 0 && performance.now() - moved < DELIVERY_STALL_MS) {
      await Promise.race([delay(50), failure]);
      const now = await journal.pendingUpTo(DEFAULT_CONSUMER, head);
      if (now !== pending) moved = performance.now();
      pending = now;
    }
    const deliverSeconds = (performance.now() - started) / 1000;
    clearInterval(poll);
    rows = await store.rows();
    stopProgress();

    // ---- SIGTERM, one node at a time ------------------------------------------------------------
    note('every write acknowledged and delivered: stopping the nodes with SIGTERM, one at a time');
    const handovers: { name: string; text: string; exit: NodeExit }[] = [];
    const stopped: DemoNodeProcess[] = [];
    for (const [index, node] of [...live]) {
      const at = Date.now();
      node.kill('SIGTERM');
      const exit = await Promise.race([
        node.exited,
        delay(EXIT_TIMEOUT_MS, undefined, { ref: false }).then(() => undefined),
      ]);
      if (exit === undefined) {
        node.kill('SIGKILL');
        throw new Error(
          `${node.name} did not exit within ${seconds(EXIT_TIMEOUT_MS / 1000)} of SIGTERM`,
        );
      }
      live.delete(index);
      stopped.push(node);
      const handed = (): boolean =>
        partitionMoves(events, node.name, at).every((m) => m.to !== undefined);
      if (live.size > 0) await until(handed, o.leaseMs + 5_000);
      const text = handoverText(partitionMoves(events, node.name, at), live.size > 0);
      handovers.push({ name: node.name, text, exit });
      note(`${node.name} stopped (${exitText(exit)}): ${text}`);
    }

    // ---- the verification -----------------------------------------------------------------------
    const ackedAll = new Set<number>();
    for (let i = 0; i < o.nodes; i++) for (const n of readAcks(ackLog(o.dir, i))) ackedAll.add(n);
    const outOfOrder = await store.outOfOrder();
    const stats = await journal.stats();
    const left = stats.consumers.find((c) => c.consumer === DEFAULT_CONSUMER)?.lag ?? 0;
    const deadLetters = await journal.deadLetters().count();
    const unclean = handovers.filter((h) => h.exit.code !== 0).map((h) => h.name);
    const lost = new Map<string, number>();
    for (const e of events) {
      if (e.name === 'partition:released' && e.reason === 'lost') {
        lost.set(e.node, (lost.get(e.node) ?? 0) + 1);
      }
    }

    const nodeRows: [string, string][] = [];
    for (const n of all) {
      const f = n.finished;
      const text =
        n.name === crash?.name
          ? `${count(crash.before)} writes acknowledged before its SIGKILL`
          : `${count(n.acked)} writes acknowledged` +
            (f === undefined ? '' : ` (p50 ${millis(f.p50Ms)} ms, p99 ${millis(f.p99Ms)} ms)`) +
            (n.closed === undefined ? '' : `, delivered ${count(n.closed.persisted)}`);
      nodeRows.push([`  ${n.name}`, text]);
    }
    nodeRows.sort(([a], [b]) => a.localeCompare(b));
    out.write(
      '\n' +
        table([
          [
            'writes acknowledged',
            `${count(ackedAll.size)} in ${writeSeconds.toFixed(2)} s (${count(ackedAll.size / writeSeconds)} writes/s, each durable in the shared journal)`,
          ],
          ...nodeRows,
          [
            'all in the sink',
            `after ${deliverSeconds.toFixed(2)} s (${count(ackedAll.size / deliverSeconds)} writes/s end to end)`,
          ],
          [
            'takeover on SIGKILL',
            crash === undefined
              ? 'no node was killed'
              : `${crash.name}'s partitions ${takenOverText(crash.moves, 's')} (leases of ${count(o.leaseMs)} ms)`,
          ],
          ...handovers.map(({ name, text }, i): [string, string] => [
            i === 0 ? 'handover on SIGTERM' : '',
            `${name}: ${text}`,
          ]),
          [
            'leases lost',
            lost.size === 0
              ? '0'
              : `${count([...lost.values()].reduce((a, b) => a + b, 0))} (${[...lost]
                  .map(([node, n]) => `${node} ${count(n)}`)
                  .join(', ')}): a node too slow to renew stops working them`,
          ],
          ['retries', count(stopped.reduce((sum, n) => sum + (n.closed?.retried ?? 0), 0))],
          ['dead letters', count(deadLetters)],
          ['left in the journal', count(left)],
        ]) +
        '\n\n',
    );
    reportWarnings(all);
    const ok =
      rows === o.writes &&
      ackedAll.size === o.writes &&
      outOfOrder === 0 &&
      left === 0 &&
      deadLetters === 0 &&
      unclean.length === 0;
    const split =
      crash === undefined
        ? ''
        : ` (${crash.name}: ${count(crash.before)} acknowledged before its SIGKILL + ${count(
            all.find((n) => n.name === crash.restarted)?.acked ?? 0,
          )} by ${crash.restarted})`;
    out.write(
      `verification: ${ok ? 'OK' : 'FAILED'}: ${count(rows)} rows for ${count(ackedAll.size)} acknowledged writes${split}, ` +
        `per-account order ${outOfOrder === 0 ? 'kept' : `BROKEN in ${count(outOfOrder)} places`}` +
        (ackedAll.size === o.writes
          ? ''
          : `; ${count(o.writes - ackedAll.size)} writes never acknowledged`) +
        (unclean.length === 0 ? '' : `; ${unclean.join(', ')} did not exit cleanly`) +
        '\n',
    );
    return ok ? 0 : 1;
  } finally {
    clearInterval(poll);
    stopProgress();
  }
}

/** `taken over by node-1 (0, 3) and node-3 (7) 2.21–2.34 s`: the span of the takeovers. */
function takenOverText(moves: readonly PartitionMove[], unit: 's' | 'ms'): string {
  if (moves.length === 0) return 'none: it held no partition';
  const byNode = new Map<string, number[]>();
  for (const m of moves) {
    if (m.to !== undefined) byNode.set(m.to, [...(byNode.get(m.to) ?? []), m.partition]);
  }
  const times = moves.flatMap((m) => (m.acquiredAfterMs === undefined ? [] : [m.acquiredAfterMs]));
  if (times.length === 0) return 'not taken over';
  const show = (ms: number): string =>
    unit === 's' ? (ms / 1000).toFixed(2) : String(Math.round(ms));
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const by = [...byNode].map(([to, ps]) => `${to} (${list(ps)})`);
  const missing = moves.length - times.length;
  return (
    `taken over by ${by.join(' and ')} ${lo === hi ? show(lo) : `${show(lo)}–${show(hi)}`} ${unit}` +
    (missing === 0 ? '' : ` (${missing} not taken over)`)
  );
}

/** `5 partitions released within 12 ms, taken over by ...` after a SIGTERM. */
function handoverText(moves: readonly PartitionMove[], others: boolean): string {
  if (moves.length === 0) return 'it held no partition';
  const released = moves.flatMap((m) =>
    m.releasedAfterMs === undefined ? [] : [m.releasedAfterMs],
  );
  const what = `${moves.length} partition${moves.length === 1 ? '' : 's'}`;
  const span =
    released.length === moves.length
      ? `${what} released within ${Math.round(Math.max(...released))} ms`
      : `${released.length} of ${what} released`;
  if (!others) return `${span}, no node left to take them`;
  return `${span}, ${takenOverText(moves, 'ms')}`;
}

/** The nodes' warnings on stderr, each distinct one once with its count. */
function reportWarnings(nodes: readonly DemoNodeProcess[]): void {
  for (const node of nodes) {
    const seen = new Map<string, number>();
    for (const w of node.warnings) {
      const line = `${w.event}: ${w.message}`;
      seen.set(line, (seen.get(line) ?? 0) + 1);
    }
    for (const [line, n] of seen) {
      process.stderr.write(`${node.name}: ${line}${n > 1 ? ` (${count(n)} times)` : ''}\n`);
    }
  }
}

function exitText(exit: NodeExit): string {
  return exit.signal === null ? `exit code ${exit.code}` : exit.signal;
}

const ackLog = (dir: string, index: number): string => join(dir, `node-${index + 1}.acks`);

function readAcks(path: string): Set<number> {
  const acked = new Set<number>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const line of text.split('\n')) if (line !== '') acked.add(Number(line));
  return acked;
}

/**
 * Drops and makes again the demo's schema: only one a demo made (its comment says so) or
 * an empty one, and not while a demo's nodes are alive in it.
 */
async function recreateSchema(url: string, schema: string): Promise<void> {
  let pg: typeof Pg;
  try {
    pg = (await import('pg')).default;
  } catch {
    throw new UsageError('--journal postgres:// needs the pg package: npm install pg');
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A connection lost mid-query fails that query, which reports it; the client's own
  // 'error' event must not end the process first.
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query<{ comment: string | null; relations: string[] }>({
      text:
        `SELECT obj_description(n.oid, 'pg_namespace') AS comment, ` +
        `array(SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname) AS relations ` +
        `FROM pg_namespace n WHERE n.nspname = $1`,
      values: [schema],
    });
    const row = found.rows[0];
    if (row !== undefined) {
      if (row.comment !== SCHEMA_COMMENT && row.relations.length > 0) {
        throw new UsageError(
          `--schema ${schema} holds ${row.relations[0]}, which no demo made: give the demo a schema of its own`,
        );
      }
      if (row.relations.includes('nodes')) {
        const alive = await client.query<{ node: string }>(
          `SELECT node FROM ${schema}.nodes WHERE expires_at > now() ORDER BY node`,
        );
        if (alive.rows.length > 0) {
          throw new UsageError(
            `--schema ${schema} is in use by a running demo (${alive.rows.map((r) => r.node).join(', ')}): wait for it, or give this one another schema`,
          );
        }
      }
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    }
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`COMMENT ON SCHEMA ${schema} IS '${SCHEMA_COMMENT}'`);
  } finally {
    await client.end();
  }
}
