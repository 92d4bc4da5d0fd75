/**
 * bench/cluster: keyed work on node processes sharing one PostgreSQL, side by side:
 *
 * - sluice on its PostgreSQL journal (`PostgresJournal`, 16 partitions) with 1, 2 and 3 node
 *   processes, each running the same code: WriteBehind (4 workers, batches of at most 1,000
 *   entries or 10 ms, leaseMs 10,000) → postgresSink, in insert mode and in version-guarded
 *   upsert mode (`versionColumn`);
 * - pg-boss, a job per entry carrying its key and value; per-key order from the queue policy
 *   `key_strict_fifo` (FIFO per `singletonKey`, the entry's key); enqueued with `insert`,
 *   fetched 100 at a time, each batch's rows written with one statement;
 * - graphile-worker, a job per entry; per-key order from its serial named queues
 *   (`queueName`: the key, see GRAPHILE_QUEUES); enqueued with `addJobs`, a local queue and
 *   batched completions, a statement per job;
 * - the reference: sluice on one node with its SQLite journal (synchronous=FULL), as
 *   bench/pipeline runs it.
 *
 * Every system runs in real child processes (bench/lib/cluster-node.ts). Each node writes
 * its share of the entries (~200 bytes over 1,000 keys, entry i's key is i mod 1,000, so a
 * key has many entries and per-key order is at stake) from its share of 1,000 closed-loop
 * producers, and works what its system gives it. The job queues' producers go through a
 * group commit in front of the batch API (up to 1,000 jobs a call, 2 calls at once), as a
 * service with many concurrent requests would drive it. The workers write into a table of
 * the same shape for every system (bench/lib/keyed-table.ts).
 *
 * Each row: entries/s from the first write until the last entry is in the table; write p50
 * and p99 (until the write is acknowledged as stored: in the journal, or the job committed;
 * every 16th write); end-to-end p50 and p99 of the closed loop (from the write call until the
 * row is in the table, every 16th entry, recorded by a trigger on the table; in a closed
 * loop that outruns the workers this is mostly the wait behind the backlog); end-to-end p50
 * and p99 at a light load (right after, on the same nodes: an open loop of 200 writes/s for
 * 3 s, every entry sampled); per entry, the node processes' CPU (utime + stime of all their
 * threads, from /proc), the CPU of the nodes' own PostgreSQL backends (found by
 * application_name: other clients of a shared server do not count), the whole PostgreSQL
 * cluster's CPU ('pg all': WAL writer, checkpointer, autovacuum, and anyone else), and the
 * nodes' main-thread GC time. For the sluice rows with 2 and 3 nodes, the takeover: on a
 * fresh journal with leaseMs 2,000 and a background load of 1,000 writes/s over the nodes,
 * one node is sent SIGTERM (it closes and hands its partitions over) or SIGKILL (its leases
 * must expire); the time from the signal until the other nodes hold every partition, and
 * the longest end-to-end latency of the entries written from 1 s before the signal on.
 *
 * Needs PostgreSQL on 127.0.0.1 (bash scripts/ci-services.sh; SLUICE_BENCH_POSTGRES to point
 * elsewhere). Everything lives in schemas named bench_cluster_<pid>*, dropped at the end.
 * Run: npm run bench -- cluster    (~5 minutes; --quick, or --smoke: insert mode, 1 and 2
 * nodes, small counts, ~30 s on an idle machine)
 * Scale with SLUICE_BENCH_CLUSTER_ENTRIES (sluice rows, 50,000), ..._QUEUE_ENTRIES (pg-boss
 * and graphile-worker rows, 10,000), ..._NODES (node counts of the sluice rows, `1,2,3`;
 * `none`), ..._QUEUE_NODES (node counts of the job-queue rows, `2`), ..._MODES
 * (`insert,upsert`), ..._SYSTEMS (`sluice-sqlite,sluice-postgres,pg-boss,graphile-worker`),
 * ..._GRAPHILE_QUEUES (`per-key`, or a number of hashed queue names), all prefixed
 * SLUICE_BENCH_CLUSTER; --no-takeover skips the takeover runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { runMigrations } from 'graphile-worker';
import type { NodeConfig, NodeMessage, ParentMessage, System } from './lib/cluster-protocol.js';
import {
  findServer,
  startCost,
  startProcessesCost,
  type Cost,
  type ServerProcesses,
} from './lib/cost.js';
import {
  countRows,
  createKeyedTable,
  landedLatencies,
  wallClockMs,
  type TableMode,
} from './lib/keyed-table.js';
import { fmt, percentile, printTable, save, smoke, toRow, type Row } from './lib/report.js';

const quick = smoke || process.argv.includes('--quick');
const takeovers = !process.argv.includes('--no-takeover');

function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name}: expected an integer >= 1, got ${text}`);
  return n;
}
function envList<T>(name: string, fallback: T[], parse: (s: string) => T): T[] {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  return text === 'none' ? [] : text.split(',').map((s) => parse(s.trim()));
}

const ENTRIES = envInt('SLUICE_BENCH_CLUSTER_ENTRIES', quick ? 5_000 : 50_000);
const QUEUE_ENTRIES = envInt('SLUICE_BENCH_CLUSTER_QUEUE_ENTRIES', quick ? 1_000 : 10_000);
const NODE_COUNTS = envList('SLUICE_BENCH_CLUSTER_NODES', quick ? [1, 2] : [1, 2, 3], Number);
const QUEUE_NODE_COUNTS = envList('SLUICE_BENCH_CLUSTER_QUEUE_NODES', [2], Number);
const MODES = envList<TableMode>(
  'SLUICE_BENCH_CLUSTER_MODES',
  quick ? ['insert'] : ['insert', 'upsert'],
  (s) => {
    if (s !== 'insert' && s !== 'upsert') throw new Error(`SLUICE_BENCH_CLUSTER_MODES: ${s}`);
    return s;
  },
);
const SYSTEMS = envList<System>(
  'SLUICE_BENCH_CLUSTER_SYSTEMS',
  ['sluice-sqlite', 'sluice-postgres', 'pg-boss', 'graphile-worker'],
  (s) => {
    if (!['sluice-sqlite', 'sluice-postgres', 'pg-boss', 'graphile-worker'].includes(s))
      throw new Error(`SLUICE_BENCH_CLUSTER_SYSTEMS: ${s}`);
    return s as System;
  },
);
const KEYS = 1_000;
const PRODUCERS = 1_000;
const PARTITIONS = 16;
const LEASE_MS = 10_000;
const TAKEOVER_LEASE_MS = 2_000;
const TAKEOVER_LOAD_PER_SECOND = 1_000;
/** The open loop after each closed loop: every one of its entries is sampled end to end. */
const LIGHT_PER_SECOND = 200;
const LIGHT_SECONDS = quick ? 1 : 3;
/** The takeover runs' load before the signal, and after the takeover. */
const TAKEOVER_SETTLE_MS = quick ? 500 : 1_000;
const SLUICE = { workers: 4, batchMaxSize: 1_000, batchMaxDelayMs: 10 };
const ENQUEUE = { maxItems: 1_000, maxInFlight: 2 };
const PG_BOSS = { batchSize: 100, localConcurrency: 2, pollingIntervalSeconds: 0.5 };
/**
 * graphile-worker's named queues: a queue per key (`per-key`, the default: 1,000 queues), or
 * this many names from a hash of the key. Its docs advise against high-cardinality queue
 * names, and each fetch locks every available queue row (`FOR UPDATE SKIP LOCKED` over its
 * queues table); with 1,000 keys a queue per key still ran ~3x faster here than 64 hashed
 * names, whose keys wait behind each other and whose fetches take at most one job a queue.
 */
const GRAPHILE_QUEUES = ((): 'per-key' | number => {
  const text = process.env['SLUICE_BENCH_CLUSTER_GRAPHILE_QUEUES'];
  if (text === undefined || text === '' || text === 'per-key') return 'per-key';
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(
      `SLUICE_BENCH_CLUSTER_GRAPHILE_QUEUES: expected per-key or an integer >= 1, got ${text}`,
    );
  return n;
})();
const GRAPHILE = { concurrentJobs: 16, localQueueSize: 64, pollIntervalMs: 2_000 };

const connectionString =
  process.env['SLUICE_BENCH_POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const here = dirname(fileURLToPath(import.meta.url));
const nodeScript = join(here, 'lib', 'cluster-node.ts');
const version = (name: string): string =>
  (
    JSON.parse(readFileSync(join(here, '..', 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
const PG_BOSS_VERSION = version('pg-boss');
const GRAPHILE_VERSION = version('graphile-worker');

const admin = new pg.Pool({ connectionString, max: 4 });
const base = `bench_cluster_${process.pid}`;
/** The nodes' connections say who they are, so their backends can be metered alone. */
const nodeConnectionString = `${connectionString}${connectionString.includes('?') ? '&' : '?'}application_name=${base}`;
const ourBackends = async (): Promise<number[]> =>
  (
    await admin.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
      [base],
    )
  ).rows.map((r) => r.pid);
const bossSchema = `${base}_pgboss`;
const graphileSchema = `${base}_graphile`;
const schemas: string[] = [base];
await admin.query(`CREATE SCHEMA ${base}`);
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-cluster-'));

const backendPid = (await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
  .pid;
const postgres = findServer('postgres', backendPid, 'postgres');
const pgServers: ServerProcesses[] = 'root' in postgres ? [postgres] : [];
const serverVersion = (
  await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")
).rows[0]!.v;

let tables = 0;
/** A fresh keyed table (and its sampling trigger), after a checkpoint. */
async function table(mode: TableMode, sampleAllFrom?: number): Promise<string> {
  const name = `t${++tables}`;
  await admin.query('CHECKPOINT');
  await createKeyedTable(admin, base, name, mode, sampleAllFrom);
  return name;
}

/** Something a node said, or a node's exit: time to look at the nodes again. */
const changed = new EventEmitter();
changed.setMaxListeners(100);

/** A node process, and what it has reported. */
class NodeProcess {
  readonly child: ChildProcess;
  readonly owned = new Set<number>();
  /** The last partition event's time (wall clock, ms). */
  lastPartitionAt = 0;
  /** The last release's time (wall clock, ms). */
  lastReleasedAt = Number.NaN;
  name = '';
  ready = false;
  processed = 0;
  lastProcessedAt = 0;
  /** Main-thread GC time since `go`, as of the last progress report. */
  gcMs = 0;
  produced: { latenciesMs: number[]; written: number; failed: number } | undefined;
  closed = false;
  exited = false;
  failure: string | undefined;
  /** Time of the acquisition that last grew `owned`. */
  readonly acquiredAt = new Map<number, number>();

  constructor(readonly config: NodeConfig) {
    // The same Node options as this process (the TypeScript loader among them).
    this.child = spawn(process.execPath, [...process.execArgv, nodeScript], {
      cwd: join(here, '..'),
      env: { ...process.env, SLUICE_BENCH_NODE: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: NodeMessage) => {
      this.#receive(m);
      changed.emit('change');
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      if (!this.closed && this.failure === undefined && !this.killed)
        this.failure = `exited (${signal ?? code}) unasked`;
      changed.emit('change');
    });
  }

  /** Sent a signal on purpose. */
  killed = false;

  get pid(): number {
    return this.child.pid!;
  }

  #receive(m: NodeMessage): void {
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.name = m.node;
        break;
      case 'partition':
        if (m.event === 'acquired') {
          this.owned.add(m.partition);
          this.acquiredAt.set(m.partition, m.at);
        } else {
          this.owned.delete(m.partition);
          this.lastReleasedAt = m.at;
        }
        this.lastPartitionAt = m.at;
        break;
      case 'progress':
        this.processed = m.processed;
        this.lastProcessedAt = Math.max(this.lastProcessedAt, m.at);
        this.gcMs = m.gcMs;
        break;
      case 'produced':
        this.produced = { latenciesMs: m.latenciesMs, written: m.written, failed: m.failed };
        break;
      case 'closed':
        this.closed = true;
        break;
      case 'failed':
        this.failure = m.message;
        break;
    }
  }

  send(message: ParentMessage): void {
    this.child.send(message);
  }

  signal(signal: NodeJS.Signals): void {
    this.killed = true;
    this.child.kill(signal);
  }
}

/** Resolves once `holds()`, looked at whenever a node says something; rejects on a failed node. */
function until(
  nodes: NodeProcess[],
  holds: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const failed = nodes.find((n) => n.failure !== undefined);
      if (failed !== undefined) {
        done();
        reject(
          new Error(`${failed.config.system} node #${failed.config.index}: ${failed.failure}`),
        );
      } else if (holds()) {
        done();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    // A partition's ownership settles without a message: look again every 50 ms too.
    const poll = setInterval(check, 50);
    const done = (): void => {
      clearTimeout(timer);
      clearInterval(poll);
      changed.off('change', check);
    };
    changed.on('change', check);
    check();
  });
}

/** Every partition held by one of `nodes`, each of them holding some, unchanged for 500 ms. */
function balanced(nodes: NodeProcess[]): boolean {
  const held = new Set(nodes.flatMap((n) => [...n.owned]));
  const last = Math.max(...nodes.map((n) => n.lastPartitionAt));
  return (
    held.size === PARTITIONS &&
    nodes.every((n) => n.owned.size > 0 || nodes.length > PARTITIONS) &&
    wallClockMs() - last > 500
  );
}

async function closeAll(nodes: NodeProcess[]): Promise<void> {
  for (const n of nodes) if (!n.exited) n.send({ type: 'close' });
  await until(nodes, () => nodes.every((n) => n.exited), 60_000, 'the nodes to close');
}

/** What varies between the systems' node configs. */
type SystemConfig = Pick<NodeConfig, 'sluice' | 'pgBoss' | 'graphileWorker' | 'enqueue'>;

interface Run {
  variant: string;
  system: System;
  mode: TableMode;
  nodes: number;
  items: number;
  seconds: number;
  latenciesMs: number[];
  e2eMs: number[];
  /** End to end at LIGHT_PER_SECOND, every entry. */
  lightE2eMs: number[];
  cost: Cost;
  /** The whole PostgreSQL cluster's CPU per entry, µs (background processes, other users). */
  pgAllCpuUs: number;
  split: number[];
}

/** The closed loop of `entries` over `nodes` node processes of `system`. */
async function run(
  variant: string,
  system: System,
  mode: TableMode,
  nodes: number,
  entries: number,
  systemConfig: () => SystemConfig | Promise<SystemConfig>,
): Promise<Run> {
  const name = await table(mode, entries);
  const extra = await systemConfig();
  const procs = Array.from(
    { length: nodes },
    (_, index) =>
      new NodeProcess({
        system,
        mode,
        connectionString: nodeConnectionString,
        schema: base,
        table: name,
        keys: KEYS,
        index,
        nodes,
        entries,
        producers: Math.ceil(PRODUCERS / nodes),
        ...extra,
      }),
  );
  try {
    await until(procs, () => procs.every((p) => p.ready), 60_000, `${variant}: nodes ready`);
    if (system === 'sluice-postgres')
      await until(procs, () => balanced(procs), 30_000, `${variant}: partitions spread`);
    const split = procs.map((p) => p.owned.size);
    const backends = await startProcessesCost(ourBackends);
    const meter = startCost([
      ...pgServers,
      ...procs.map((p, i) => ({ name: `node${i}`, root: p.pid })),
    ]);
    const start = wallClockMs();
    for (const p of procs) p.send({ type: 'go' });
    await until(
      procs,
      () =>
        procs.every((p) => p.produced !== undefined) &&
        procs.reduce((sum, p) => sum + p.processed, 0) >= entries,
      600_000,
      `${variant}: every entry in the table`,
    );
    const end = Math.max(...procs.map((p) => p.lastProcessedAt));
    const { cost, servers } = await meter.stop(entries);
    const backendCpuUs = await backends.stop(entries);
    const nodeCpuUs = procs.reduce((sum, _, i) => sum + servers[`node${i}`]!, 0);
    const latenciesMs = procs.flatMap((p) => p.produced!.latenciesMs);
    const gcMs = procs.reduce((sum, p) => sum + p.gcMs, 0);

    // The open loop at a light load, on the same nodes and table.
    for (const p of procs) {
      p.produced = undefined;
      p.send({ type: 'load', perSecond: LIGHT_PER_SECOND / nodes, firstSeq: entries });
    }
    await new Promise((resolve) => setTimeout(resolve, LIGHT_SECONDS * 1_000));
    for (const p of procs) p.send({ type: 'stop' });
    await until(procs, () => procs.every((p) => p.produced !== undefined), 60_000, variant);
    const light = procs.reduce((sum, p) => sum + p.produced!.written, 0);
    const failed = procs.reduce((sum, p) => sum + p.produced!.failed, 0);
    if (failed > 0) throw new Error(`${variant}: ${failed} writes of the open loop failed`);
    await until(
      procs,
      () => procs.reduce((sum, p) => sum + p.processed, 0) >= entries + light,
      120_000,
      `${variant}: the open loop's entries in the table`,
    );
    await closeAll(procs);

    const landed = await countRows(admin, base, name);
    // Upsert: a row per key, every key written once the closed loop has gone round them.
    const expected = mode === 'insert' ? entries + light : entries >= KEYS ? KEYS : landed;
    if (landed !== expected) throw new Error(`${variant}: ${landed} rows, expected ${expected}`);
    const e2eMs = await landedLatencies(admin, base, name, { toSeq: entries });
    const lightE2eMs = await landedLatencies(admin, base, name, { fromSeq: entries });
    return {
      variant,
      system,
      mode,
      nodes,
      items: entries,
      seconds: (end - start) / 1000,
      latenciesMs,
      e2eMs,
      lightE2eMs,
      pgAllCpuUs: pgServers.length > 0 ? cost.serverCpuUs : Number.NaN,
      cost: {
        nodeCpuUs,
        serverCpuUs: backendCpuUs,
        gcUs: (gcMs * 1000) / entries,
      },
      split,
    };
  } finally {
    for (const p of procs) if (!p.exited) p.signal('SIGKILL');
  }
}

let journals = 0;
/** A fresh PostgreSQL journal schema (the first node creates it). */
function journalSchema(): string {
  const s = `${base}_j${++journals}`;
  schemas.push(s);
  return s;
}

const sluiceConfig =
  (journal: 'sqlite' | 'postgres', leaseMs = LEASE_MS) =>
  (): SystemConfig => ({
    sluice: {
      ...SLUICE,
      partitions: PARTITIONS,
      leaseMs,
      ...(journal === 'sqlite'
        ? { journalPath: join(dir, `j${++journals}.db`) }
        : { journalSchema: journalSchema() }),
    },
  });

let queues = 0;
const pgBossConfig = async (): Promise<SystemConfig> => {
  const queue = `keyed_${++queues}`;
  const boss = new PgBoss({
    connectionString,
    schema: bossSchema,
    supervise: false,
    schedule: false,
  });
  await boss.start();
  await boss.createQueue(queue, { policy: 'key_strict_fifo', notify: true });
  await boss.stop({ graceful: false });
  return { pgBoss: { schema: bossSchema, queue, ...PG_BOSS }, enqueue: ENQUEUE };
};

const graphileConfig = (): SystemConfig => ({
  graphileWorker: { schema: graphileSchema, queues: GRAPHILE_QUEUES, ...GRAPHILE },
  enqueue: ENQUEUE,
});

schemas.push(bossSchema, graphileSchema);
{
  // Installed once, before any node starts (the nodes neither migrate nor create schemas).
  const boss = new PgBoss({
    connectionString,
    schema: bossSchema,
    supervise: false,
    schedule: false,
  });
  await boss.start();
  await boss.stop({ graceful: false });
  await runMigrations({ connectionString, schema: graphileSchema });
}

const SQLITE = (mode: TableMode): string => `sluice, SQLite journal, 1 node, ${mode}`;
const SLUICE_PG = (nodes: number, mode: TableMode): string =>
  `sluice, PostgreSQL journal, ${nodes} node${nodes === 1 ? '' : 's'}, ${mode}`;
const BOSS = (nodes: number, mode: TableMode): string =>
  `pg-boss ${PG_BOSS_VERSION} key_strict_fifo, ${nodes} node${nodes === 1 ? '' : 's'}, ${mode}`;
const GRAPHILE_ROW = (nodes: number, mode: TableMode): string =>
  `graphile-worker ${GRAPHILE_VERSION} queueName ${
    GRAPHILE_QUEUES === 'per-key' ? 'per key' : `of ${GRAPHILE_QUEUES}`
  }, ${nodes} node${nodes === 1 ? '' : 's'}, ${mode}`;

/** Drops what the run made, once. */
let cleaned: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaned ??= dropEverything();
  return cleaned;
}
async function dropEverything(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
}

const runs: Run[] = [];
// Interrupted: the nodes end with the IPC channel; the schemas are dropped here.
process.once('SIGINT', () => {
  void cleanUp().finally(() => process.exit(130));
});
const benchStart = performance.now();
try {
  for (const mode of MODES) {
    if (SYSTEMS.includes('sluice-sqlite'))
      runs.push(await run(SQLITE(mode), 'sluice-sqlite', mode, 1, ENTRIES, sluiceConfig('sqlite')));
    if (SYSTEMS.includes('sluice-postgres'))
      for (const n of NODE_COUNTS)
        runs.push(
          await run(
            SLUICE_PG(n, mode),
            'sluice-postgres',
            mode,
            n,
            ENTRIES,
            sluiceConfig('postgres'),
          ),
        );
    for (const n of QUEUE_NODE_COUNTS) {
      if (SYSTEMS.includes('pg-boss'))
        runs.push(await run(BOSS(n, mode), 'pg-boss', mode, n, QUEUE_ENTRIES, pgBossConfig));
      if (SYSTEMS.includes('graphile-worker'))
        runs.push(
          await run(
            GRAPHILE_ROW(n, mode),
            'graphile-worker',
            mode,
            n,
            QUEUE_ENTRIES,
            graphileConfig,
          ),
        );
    }
  }
} catch (error) {
  await cleanUp();
  throw error;
}

interface Takeover {
  /** From the signal until the other nodes hold every partition. */
  ms: number;
  /** SIGTERM: from the signal until the node had released its last partition. */
  releasedMs: number;
  /** The longest end-to-end latency of the entries written from 1 s before the signal on. */
  maxE2eMs: number;
}

/**
 * `nodes` sluice nodes on a fresh journal with leaseMs TAKEOVER_LEASE_MS under the
 * background load; `signal` to the last one once the partitions are spread.
 */
async function takeover(nodes: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<Takeover> {
  const name = await table('insert');
  const extra = sluiceConfig('postgres', TAKEOVER_LEASE_MS)();
  const procs = Array.from(
    { length: nodes },
    (_, index) =>
      new NodeProcess({
        system: 'sluice-postgres',
        mode: 'insert',
        connectionString: nodeConnectionString,
        schema: base,
        table: name,
        keys: KEYS,
        index,
        nodes,
        entries: 0,
        producers: 0,
        ...extra,
      }),
  );
  const what = `takeover after ${signal}, ${nodes} nodes`;
  try {
    await until(procs, () => procs.every((p) => p.ready), 60_000, `${what}: nodes ready`);
    await until(procs, () => balanced(procs), 30_000, `${what}: partitions spread`);
    for (const p of procs)
      p.send({ type: 'load', perSecond: TAKEOVER_LOAD_PER_SECOND / nodes, firstSeq: 0 });
    await new Promise((resolve) => setTimeout(resolve, TAKEOVER_SETTLE_MS));
    const victim = procs.at(-1)!;
    const survivors = procs.slice(0, -1);
    const at = wallClockMs();
    victim.signal(signal);
    const held = (): Set<number> => new Set(survivors.flatMap((p) => [...p.owned]));
    await until(survivors, () => held().size === PARTITIONS, 60_000, what);
    // The acquisition that completed the set is the latest of the survivors' current ones.
    const done = Math.max(
      ...survivors.flatMap((p) => [...p.owned].map((part) => p.acquiredAt.get(part) ?? 0)),
    );
    await new Promise((resolve) => setTimeout(resolve, TAKEOVER_SETTLE_MS));
    for (const p of survivors) p.send({ type: 'stop' });
    await until(survivors, () => survivors.every((p) => p.produced !== undefined), 10_000, what);
    const failed = survivors.reduce((sum, p) => sum + p.produced!.failed, 0);
    if (failed > 0) throw new Error(`${what}: ${failed} writes of the other nodes failed`);
    await closeAll(survivors);
    const e2e = await landedLatencies(admin, base, name, { since: at - 1_000, until: done });
    return {
      ms: done - at,
      releasedMs: signal === 'SIGTERM' ? victim.lastReleasedAt - at : Number.NaN,
      maxE2eMs: Math.max(...e2e),
    };
  } finally {
    for (const p of procs) if (!p.exited) p.signal('SIGKILL');
  }
}

const takeoverOf = new Map<number, { term: Takeover; kill: Takeover }>();
try {
  if (takeovers)
    for (const n of SYSTEMS.includes('sluice-postgres') ? NODE_COUNTS.filter((c) => c >= 2) : []) {
      takeoverOf.set(n, { term: await takeover(n, 'SIGTERM'), kill: await takeover(n, 'SIGKILL') });
    }
} finally {
  await cleanUp();
}

type ClusterRow = Row & {
  pgAllCpuUs: number;
  e2eP50Ms: number;
  e2eP99Ms: number;
  lightE2eP50Ms: number;
  lightE2eP99Ms: number;
  nodes: number;
  partitionsPerNode?: number[];
  takeoverTermMs?: number;
  takeoverKillMs?: number;
  takeoverTermReleasedMs?: number;
  takeoverTermMaxE2eMs?: number;
  takeoverKillMaxE2eMs?: number;
};
const rows: ClusterRow[] = runs.map((r) => {
  const e2e = [...r.e2eMs].sort((a, b) => a - b);
  const light = [...r.lightE2eMs].sort((a, b) => a - b);
  const t = r.system === 'sluice-postgres' ? takeoverOf.get(r.nodes) : undefined;
  return {
    ...toRow(r),
    pgAllCpuUs: r.pgAllCpuUs,
    e2eP50Ms: percentile(e2e, 50),
    e2eP99Ms: percentile(e2e, 99),
    lightE2eP50Ms: percentile(light, 50),
    lightE2eP99Ms: percentile(light, 99),
    nodes: r.nodes,
    ...(r.system === 'sluice-postgres' ? { partitionsPerNode: r.split } : {}),
    ...(t === undefined
      ? {}
      : {
          takeoverTermMs: t.term.ms,
          takeoverKillMs: t.kill.ms,
          takeoverTermReleasedMs: t.term.releasedMs,
          takeoverTermMaxE2eMs: t.term.maxE2eMs,
          takeoverKillMaxE2eMs: t.kill.maxE2eMs,
        }),
  };
});
const byVariant = new Map(rows.map((r) => [r.variant, r]));
const of = (row: Row): ClusterRow => byVariant.get(row.variant)!;

console.log(
  `bench/cluster: ~200-byte entries over ${KEYS.toLocaleString('en-US')} keys into PostgreSQL ${serverVersion}, ` +
    `${PRODUCERS} closed-loop producers split over the node processes (Node ${process.version}); ` +
    `${ENTRIES.toLocaleString('en-US')} entries a sluice row, ${QUEUE_ENTRIES.toLocaleString('en-US')} a job-queue row${quick ? ' (quick)' : ''}`,
);
printTable(
  'cluster (p50/p99: write until acknowledged; e2e: write call until the row is in the table)',
  rows,
  SQLITE(MODES[0]!),
  'time vs SQLite',
  {
    serverCpuLabel: 'pg CPU µs/item',
    columns: [
      { header: 'pg all µs/item', cell: (r) => fmt(of(r).pgAllCpuUs, 1) },
      {
        header: 'e2e p50 / p99 ms',
        cell: (r) => `${fmt(of(r).e2eP50Ms)} / ${fmt(of(r).e2eP99Ms)}`,
      },
      {
        header: `e2e at ${LIGHT_PER_SECOND}/s p50 / p99 ms`,
        cell: (r) => `${fmt(of(r).lightE2eP50Ms, 1)} / ${fmt(of(r).lightE2eP99Ms, 1)}`,
      },
      {
        header: 'takeover TERM / KILL ms',
        cell: (r) => {
          const c = of(r);
          return c.takeoverTermMs === undefined
            ? '-'
            : `${fmt(c.takeoverTermMs)} / ${fmt(c.takeoverKillMs!)}`;
        },
      },
    ],
  },
);

console.log(
  [
    `Setup: sluice nodes: ${PARTITIONS} partitions (one lane each, the default), ${SLUICE.workers} sink connections a node, batches of ${SLUICE.batchMaxSize} or ${SLUICE.batchMaxDelayMs} ms, leaseMs ${LEASE_MS}; the SQLite journal ${SLUICE.workers} lanes, synchronous=FULL.`,
    `pg-boss ${PG_BOSS_VERSION}: queue policy key_strict_fifo (per-key FIFO, singletonKey = the key), notify on, useListenNotify; work() batchSize ${PG_BOSS.batchSize}, localConcurrency ${PG_BOSS.localConcurrency}, burstWhenBatchFull, polling ${PG_BOSS.pollingIntervalSeconds} s; enqueued with insert().`,
    `graphile-worker ${GRAPHILE_VERSION}: queueName ${
      GRAPHILE_QUEUES === 'per-key'
        ? `per key (${KEYS.toLocaleString('en-US')} named queues)`
        : `from a hash of the key, ${GRAPHILE_QUEUES} names (per-key order kept; keys sharing a name also wait for each other)`
    }; concurrentJobs ${GRAPHILE.concurrentJobs}, localQueue ${GRAPHILE.localQueueSize}, completeJobBatchDelay 0; enqueued with addJobs().`,
    `Job queues' producers: group commit, up to ${ENQUEUE.maxItems} jobs a call, ${ENQUEUE.maxInFlight} calls at once. The job-queue rows write fewer entries (rates are rates).`,
    `Per entry: node CPU is the node processes' user + system time (all threads, /proc); pg CPU is the nodes' own PostgreSQL backends' (found by application_name, sampled every 100 ms);` +
      ` pg all is the whole PostgreSQL cluster's (WAL writer, checkpointer, autovacuum, and any other client of the server)${
        'root' in postgres ? '' : ` (not measured: ${postgres.reason})`
      }; GC is the node processes' main-thread collection time ('gc' performance entries) from the first write until each node's last entry.`,
  ].join('\n'),
);
for (const r of rows.filter((r) => r.partitionsPerNode !== undefined && r.nodes > 1))
  console.log(`${r.variant}: partitions per node ${r.partitionsPerNode!.join(' / ')}`);
for (const [n, t] of takeoverOf)
  console.log(
    `takeover, ${n} nodes, leaseMs ${TAKEOVER_LEASE_MS}, ${TAKEOVER_LOAD_PER_SECOND} writes/s: ` +
      `SIGTERM ${fmt(t.term.ms)} ms (its partitions released after ${fmt(t.term.releasedMs)} ms; longest e2e around it ${fmt(t.term.maxE2eMs)} ms), ` +
      `SIGKILL ${fmt(t.kill.ms)} ms (longest e2e ${fmt(t.kill.maxE2eMs)} ms)`,
  );

/** `a` / `b`: entries/s, and CPU per entry. */
function compare(a: ClusterRow | undefined, b: ClusterRow | undefined): void {
  if (a === undefined || b === undefined) return;
  const x = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');
  console.log(
    `${a.variant} / ${b.variant}: entries/s ${x(a.itemsPerSec / b.itemsPerSec)}, ` +
      `node CPU per entry ${x((a.cost?.nodeCpuUs ?? NaN) / (b.cost?.nodeCpuUs ?? NaN))}, ` +
      `pg CPU per entry ${x((a.cost?.serverCpuUs ?? NaN) / (b.cost?.serverCpuUs ?? NaN))}`,
  );
}
console.log('');
for (const mode of MODES) {
  for (const n of QUEUE_NODE_COUNTS) {
    compare(byVariant.get(SLUICE_PG(n, mode)), byVariant.get(BOSS(n, mode)));
    compare(byVariant.get(SLUICE_PG(n, mode)), byVariant.get(GRAPHILE_ROW(n, mode)));
  }
  compare(byVariant.get(SLUICE_PG(1, mode)), byVariant.get(SQLITE(mode)));
}
console.log(`(${((performance.now() - benchStart) / 1000).toFixed(0)} s)`);

save('cluster', rows, {
  entries: ENTRIES,
  queueEntries: QUEUE_ENTRIES,
  keys: KEYS,
  producers: PRODUCERS,
  partitions: PARTITIONS,
  leaseMs: LEASE_MS,
  takeoverLeaseMs: TAKEOVER_LEASE_MS,
  sluice: SLUICE,
  enqueue: ENQUEUE,
  pgBoss: { version: PG_BOSS_VERSION, policy: 'key_strict_fifo', ...PG_BOSS },
  graphileWorker: { version: GRAPHILE_VERSION, queues: GRAPHILE_QUEUES, ...GRAPHILE },
  postgres: serverVersion,
  quick,
  node: process.version,
});
