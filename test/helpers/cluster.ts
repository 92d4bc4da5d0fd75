/**
 * A test cluster of real processes (test/cluster/fixtures/node.ts) sharing one PostgreSQL
 * journal, and what the tests read back from it: the acknowledged writes, the event logs,
 * who owned which partition when, and how long handovers took.
 *
 * Every process is SIGKILLed when the test ends (`t.after`), passed or failed, before the
 * file's schema is dropped. Signals the harness sends are events too (`signal`, with the
 * signal), so a handover is measured from the moment the signal was sent.
 *
 * ```ts
 * const cluster = new Cluster(t, { connectionString, schema, partitions: 8, leaseMs: 2000 });
 * cluster.start('a', { writer: { keys: 20, intervalMs: 100, untilMs } });
 * await cluster.ready('a');
 * await cluster.kill('a');
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { AssertionError } from 'node:assert';
import type { TestContext } from 'node:test';
import type pg from 'pg';
import { PostgresJournal } from '../../src/adapters/postgres/index.js';
import type { ClusterStats } from '../../src/index.js';
import type { NodeConfig } from '../cluster/fixtures/node.js';
import { createSinkTables, type Ack } from './history.js';
import { connectionString } from './postgres.js';

const FIXTURE = fileURLToPath(new URL('../cluster/fixtures/node.ts', import.meta.url));

/** One line of a node's event log (or a signal the harness sent). */
export interface NodeEvent {
  /** Wall-clock time, ms since the epoch (one host: every process shares the clock). */
  readonly t: number;
  /** The process (`wb.node`), e.g. `a.2`: the node named `a`, its second start. */
  readonly node: string;
  /** The logical node name. */
  readonly name: string;
  readonly event: string;
  readonly partition?: number;
  readonly epoch?: number;
  readonly reason?: string;
  readonly partitions?: number[];
  readonly signal?: string;
  readonly [detail: string]: unknown;
}

/** What may differ between the nodes of one cluster. */
export interface NodeOptions {
  writer?: NodeConfig['writer'];
  sinkDelayMs?: number;
  /** Another way to the server (a TcpProxy's port). */
  connectionString?: string;
  workers?: number;
}

/** A running (or finished) process of the cluster. */
export interface NodeProcess {
  readonly name: string;
  readonly node: string;
  readonly child: ChildProcess;
  /** Resolves when it exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Its stdout and stderr. */
  readonly outFile: string;
  /** Whether it writes (a consume-only node does not). */
  readonly writer: boolean;
}

/** A partition held by one process from `from` to `to` (Infinity: still held at the end). */
export interface Tenure {
  readonly partition: number;
  readonly node: string;
  readonly epoch: number | undefined;
  readonly from: number;
  /**
   * When it stopped working the partition: the first `owned` log without it (the node
   * stops at once; a lost partition's pipeline may take longer to report `released`), or
   * the release, kill or exit, whichever came first.
   */
  readonly to: number;
  /** When the tenure was closed by a release, kill or exit (Infinity: still held). */
  readonly releasedAt: number;
  /** How it ended: a release reason, `killed`, `exited`, or `held`. */
  readonly end: string;
}

/** One partition going from one process to another. */
export interface Handover {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
  /** From the signal (or the release) to the new owner's `acquired`, in ms. */
  readonly ms: number;
}

export class Cluster {
  readonly dir: string;
  readonly #config: Omit<NodeConfig, 'name' | 'node' | 'ackLog' | 'eventLog' | 'writer'>;
  readonly #running = new Map<string, NodeProcess>();
  readonly #all: NodeProcess[] = [];
  readonly #starts = new Map<string, number>();
  /** The harness's own events (signals sent, exits seen), one JSON line each. */
  readonly #harnessLog: string;
  /** Writers stop once it exists (`stopWriters()`). */
  readonly #stopFile: string;

  constructor(
    t: TestContext,
    config: {
      connectionString: string;
      schema: string;
      partitions: number;
      leaseMs: number;
      workers?: number;
    },
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'sluice-cluster-'));
    this.#stopFile = join(this.dir, 'stop-writers');
    this.#harnessLog = join(this.dir, 'harness.events');
    this.#config = {
      connectionString: config.connectionString,
      schema: config.schema,
      partitions: config.partitions,
      leaseMs: config.leaseMs,
      workers: config.workers ?? 4,
    };
    const killAll = (): void => {
      for (const p of this.#all) {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      }
    };
    process.once('exit', killAll);
    t.after(async () => {
      process.removeListener('exit', killAll);
      await this.stopAll();
      if (process.env['SLUICE_KEEP_CLUSTER_LOGS'] === undefined) {
        rmSync(this.dir, { recursive: true, force: true });
      }
    });
  }

  /** Starts the next process of node `name` (resuming its keys from its ack log). */
  start(name: string, options: NodeOptions = {}): NodeProcess {
    if (this.#running.has(name)) throw new Error(`node ${name} is running already`);
    const n = (this.#starts.get(name) ?? 0) + 1;
    this.#starts.set(name, n);
    const node = `${name}.${n}`;
    const config: NodeConfig = {
      ...this.#config,
      ...(options.connectionString === undefined
        ? {}
        : { connectionString: options.connectionString }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      name,
      node,
      ackLog: join(this.dir, `${name}.acks`),
      eventLog: join(this.dir, `${name}.events`),
      ...(options.writer === undefined
        ? {}
        : { writer: { stopFile: this.#stopFile, ...options.writer } }),
      ...(options.sinkDelayMs === undefined ? {} : { sinkDelayMs: options.sinkDelayMs }),
    };
    const outFile = join(this.dir, `${node}.out`);
    const out = openSync(outFile, 'a');
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { ...process.env, SLUICE_CLUSTER_NODE: JSON.stringify(config) },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve) => {
        child.once('exit', (code, signal) => {
          this.#record({
            t: Date.now(),
            node,
            name,
            event: 'exited',
            code,
            ...(signal === null ? {} : { signal }),
          });
          if (this.#running.get(name)?.node === node) this.#running.delete(name);
          resolve({ code, signal });
        });
      },
    );
    const p: NodeProcess = {
      name,
      node,
      child,
      exited,
      outFile,
      writer: options.writer !== undefined,
    };
    this.#running.set(name, p);
    this.#all.push(p);
    return p;
  }

  /** The running process of `name`. */
  process(name: string): NodeProcess {
    const p = this.#running.get(name);
    if (p === undefined) throw new Error(`node ${name} is not running`);
    return p;
  }

  /** Names of the nodes running now. */
  running(): string[] {
    return [...this.#running.keys()];
  }

  /** Sends `signal` to the running process of `name`, logged as a `signal` event. */
  signal(name: string, signal: NodeJS.Signals): NodeProcess {
    const p = this.process(name);
    this.#record({ t: Date.now(), node: p.node, name, event: 'signal', signal });
    p.child.kill(signal);
    return p;
  }

  /** SIGKILLs `name` and waits for it to be gone. */
  async kill(name: string): Promise<NodeProcess> {
    const p = this.signal(name, 'SIGKILL');
    await p.exited;
    return p;
  }

  /** SIGTERMs `name` and waits for it to exit; rejects unless it exits 0 within `ms`. */
  async terminate(name: string, ms = 20_000): Promise<NodeProcess> {
    const p = this.signal(name, 'SIGTERM');
    const result = await Promise.race([
      p.exited,
      delay(ms, undefined, { ref: false }).then(() => undefined),
    ]);
    if (result === undefined) {
      throw new Error(`${p.node} did not exit within ${ms} ms of SIGTERM\n${this.output(p.node)}`);
    }
    if (result.code !== 0) {
      throw new Error(
        `${p.node} exited with ${result.code ?? result.signal} after SIGTERM\n${this.output(p.node)}`,
      );
    }
    return p;
  }

  /**
   * Tells every writer, running or started later, to stop writing; resolves once each
   * running writer logged `writes:done`.
   */
  async stopWriters(timeoutMs = 30_000): Promise<void> {
    writeFileSync(this.#stopFile, '');
    const writers = [...this.#running.values()].filter((p) => p.writer).map((p) => p.node);
    await this.waitFor(
      'every writer done',
      (events) =>
        writers.every((node) => events.some((e) => e.node === node && e.event === 'writes:done')),
      timeoutMs,
    );
  }

  /**
   * SIGTERMs `name`; if it does not exit 0 within `ms`, SIGKILLs it. Resolves with what
   * went wrong (undefined: a clean exit), so a test can judge it among its other checks.
   */
  async terminateOrKill(name: string, ms = 10_000): Promise<string | undefined> {
    const { node } = this.process(name);
    try {
      await this.terminate(name, ms);
      return undefined;
    } catch (error) {
      if (this.#running.get(name)?.node === node) await this.kill(name);
      return (error as Error).message.split('\n')[0];
    }
  }

  /** Resolves once the running process of `name` opened its pipeline. */
  async ready(name: string, timeoutMs = 30_000): Promise<NodeEvent> {
    const { node } = this.process(name);
    return this.waitFor(
      `${node} ready`,
      (events) => events.find((e) => e.node === node && e.event === 'ready'),
      timeoutMs,
    );
  }

  /** The stdout and stderr of process `node` (e.g. `a.2`). */
  output(node: string): string {
    const file = join(this.dir, `${node}.out`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** Logs an event of the harness (a signal sent, an exit seen). */
  #record(event: NodeEvent): void {
    appendFileSync(this.#harnessLog, `${JSON.stringify(event)}\n`);
  }

  /** Every event of every process, and the harness's signals and exits, by time. */
  events(): NodeEvent[] {
    const all: NodeEvent[] = [];
    for (const file of readdirSync(this.dir).filter((f) => f.endsWith('.events'))) {
      for (const line of readFileSync(join(this.dir, file), 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          all.push(JSON.parse(line) as NodeEvent);
        } catch {
          // a line cut short by SIGKILL
        }
      }
    }
    return all.sort((a, b) => a.t - b.t);
  }

  /** Every acknowledged write of every node, from the ack logs. */
  acks(): Ack[] {
    const all: Ack[] = [];
    for (const file of readdirSync(this.dir).filter((f) => f.endsWith('.acks'))) {
      for (const line of readFileSync(join(this.dir, file), 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          all.push(JSON.parse(line) as Ack);
        } catch {
          // a line cut short by SIGKILL: not acknowledged
        }
      }
    }
    return all;
  }

  /** Polls the event logs until `found` returns something; rejects with the log after `timeoutMs`. */
  async waitFor<T>(
    what: string,
    found: (events: NodeEvent[]) => T | undefined | false,
    timeoutMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = this.events();
      const result = found(events);
      if (result !== undefined && result !== false) return result;
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; events:\n${showEvents(events.slice(-60))}`,
        );
      }
      await delay(50);
    }
  }

  /** Partitions each running process holds now, by its `owned` log. */
  owned(events = this.events()): Map<string, number[]> {
    const owned = new Map<string, number[]>();
    const live = new Set([...this.#running.values()].map((p) => p.node));
    for (const e of events) {
      if (e.event === 'owned' && live.has(e.node)) owned.set(e.node, e.partitions ?? []);
    }
    return owned;
  }

  /**
   * Resolves with the partitions process `node` works once that set is non-empty and has
   * not changed for `forMs` (a node that just joined, or just lost and took back its
   * partitions, is not yet the node a test means to cut off).
   */
  async steadyOwner(node: string, forMs: number, timeoutMs = 60_000): Promise<number[]> {
    return this.waitFor(
      `${node} working the same partitions for ${forMs} ms`,
      (events) => {
        const mine = events.filter((e) => e.node === node && e.event === 'owned');
        const last = mine.at(-1);
        return last !== undefined &&
          (last.partitions ?? []).length > 0 &&
          Date.now() - last.t >= forMs
          ? last.partitions
          : undefined;
      },
      timeoutMs,
    );
  }

  /** Resolves once every partition is held by exactly one of the running processes. */
  async covered(
    timeoutMs = 30_000,
    by?: (node: string) => boolean,
  ): Promise<Map<string, number[]>> {
    return this.waitFor(
      `every partition held by one running node`,
      (events) => {
        const owned = this.owned(events);
        const held = [...owned]
          .filter(([node]) => by === undefined || by(node))
          .flatMap(([, ps]) => ps);
        const all = new Set(held);
        return all.size === this.#config.partitions && held.length === all.size ? owned : undefined;
      },
      timeoutMs,
    );
  }

  /** SIGKILLs every process still running, and waits for them. */
  async stopAll(): Promise<void> {
    const alive = this.#all.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    // SIGKILL ends a SIGSTOPped process too.
    for (const p of alive) p.child.kill('SIGKILL');
    await Promise.all(alive.map((p) => p.exited));
  }
}

/**
 * Who held which partition when, from `acquired`, `owned` and `released` events: a tenure
 * stops when the node's `owned()` no longer lists the partition, and ends at its release,
 * or at the kill of its process (`signal` SIGKILL, or its exit), or is open.
 */
export function tenures(events: readonly NodeEvent[]): Tenure[] {
  const open = new Map<
    string,
    { partition: number; node: string; epoch: number | undefined; from: number; stopped?: number }
  >();
  const done: Tenure[] = [];
  const close = (id: string, at: number, end: string): void => {
    const o = open.get(id);
    if (o === undefined) return;
    open.delete(id);
    const { stopped, ...rest } = o;
    done.push({ ...rest, to: Math.min(stopped ?? Infinity, at), releasedAt: at, end });
  };
  for (const e of events) {
    if (e.event === 'acquired' && e.partition !== undefined) {
      const id = `${e.node}/${e.partition}`;
      close(id, e.t, 'acquired again');
      open.set(id, { partition: e.partition, node: e.node, epoch: e.epoch, from: e.t });
    } else if (e.event === 'released' && e.partition !== undefined) {
      close(`${e.node}/${e.partition}`, e.t, e.reason ?? 'released');
    } else if (e.event === 'owned') {
      for (const o of open.values()) {
        if (
          o.node === e.node &&
          o.stopped === undefined &&
          !(e.partitions ?? []).includes(o.partition)
        ) {
          o.stopped = e.t;
        }
      }
    } else if ((e.event === 'signal' && e.signal === 'SIGKILL') || e.event === 'exited') {
      for (const [id, o] of open) {
        if (o.node === e.node) close(id, e.t, e.event === 'exited' ? 'exited' : 'killed');
      }
    }
  }
  for (const id of [...open.keys()]) close(id, Infinity, 'held');
  return done.sort((a, b) => a.from - b.from);
}

/**
 * Pairs of tenures of one partition, by different processes, that overlap by more than
 * `toleranceMs` (two nodes working one partition at once). Tenures `exempt` says so are
 * left out (those of a SIGSTOPped process: frozen, it cannot tell it lost its lease).
 */
export function overlaps(
  events: readonly NodeEvent[],
  toleranceMs: number,
  exempt: (tenure: Tenure) => boolean = () => false,
): string[] {
  const found: string[] = [];
  const all = tenures(events).filter((x) => !exempt(x));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i] as Tenure;
      const b = all[j] as Tenure;
      if (a.partition !== b.partition || a.node === b.node) continue;
      const overlap = Math.min(a.to, b.to) - Math.max(a.from, b.from);
      if (overlap > toleranceMs) {
        found.push(
          `partition ${a.partition}: ${a.node} (epoch ${a.epoch}, ${iso(a.from)} to ${iso(a.to)}, ${a.end} at ${iso(a.releasedAt)}) and ` +
            `${b.node} (epoch ${b.epoch}, from ${iso(b.from)}) overlap by ${overlap} ms`,
        );
      }
    }
  }
  return found;
}

/**
 * For each partition `node` held at `at` (a signal's time), how long until another process
 * acquired it, measured from `at`.
 */
export function handoversAfter(events: readonly NodeEvent[], node: string, at: number): Handover[] {
  const held = tenures(events).filter((x) => x.node === node && x.from <= at && x.to >= at);
  return held.map((x) => {
    const next = events.find(
      (e) =>
        e.event === 'acquired' && e.partition === x.partition && e.node !== node && e.t >= x.from,
    );
    return {
      partition: x.partition,
      from: node,
      to: next?.node ?? '(nobody)',
      ms: next === undefined ? Infinity : next.t - at,
    };
  });
}

const iso = (t: number): string =>
  Number.isFinite(t) ? new Date(t).toISOString().slice(11, 23) : 'end';

/** Events as readable lines, for failure messages. */
export function showEvents(events: readonly NodeEvent[]): string {
  return events
    .map((e) => {
      const { t, node, name: _name, pid: _pid, event, ...rest } = e;
      return `${iso(t)} ${node} ${event} ${JSON.stringify(rest)}`;
    })
    .join('\n');
}

/** Min, median and max of some durations, as one line. */
export function summary(ms: readonly number[]): string {
  if (ms.length === 0) return 'none';
  const s = [...ms].sort((a, b) => a - b);
  return `n=${s.length} min=${s[0]} p50=${s[Math.floor(s.length / 2)]} max=${s[s.length - 1]} ms`;
}

/** A connection string to the same database through another port (a TcpProxy's). */
export function throughPort(connectionString: string, port: number): string {
  const url = new URL(connectionString);
  url.port = String(port);
  return url.toString();
}

let clusters = 0;

/**
 * What a cluster test starts from: a schema of its own (inside the file's name space,
 * dropped when the test ends), the sink tables in it, a journal (created here, before any
 * node: the nodes open an existing one) for clusterStats and appends, and the Cluster.
 */
export async function openCluster(
  t: TestContext,
  db: { pool: pg.Pool; schema: string },
  options: { partitions: number; leaseMs: number; workers?: number },
): Promise<{ cluster: Cluster; journal: PostgresJournal; schema: string }> {
  const schema = `${db.schema}_${++clusters}`;
  await db.pool.query(`CREATE SCHEMA ${schema}`);
  await createSinkTables(db.pool, schema);
  const journal = await PostgresJournal.open({
    connectionString,
    schema,
    partitions: options.partitions,
  });
  // `after` hooks run in the order registered: the nodes are killed, then this journal
  // closes, then the schema goes.
  const cluster = new Cluster(t, { connectionString, schema, ...options });
  t.after(async () => {
    await journal.close();
    await db.pool.query(`DROP SCHEMA ${schema} CASCADE`);
  });
  return { cluster, journal, schema };
}

/**
 * Waits until every partition's checkpoint passed every entry (lag 0 everywhere) and every
 * acknowledged write is in the insert table, or `timeoutMs` passed. Never throws for a
 * timeout: the history check then names what is missing; `drained` says which it was.
 */
export async function waitDrained(
  journal: PostgresJournal,
  pool: pg.Pool,
  schema: string,
  acks: () => readonly Ack[],
  timeoutMs: number,
): Promise<{
  drained: boolean;
  ms: number;
  stats: ClusterStats;
  delivered: number;
  acked: number;
}> {
  const started = Date.now();
  for (;;) {
    const stats = await journal.clusterStats();
    const ids = acks().map((a) => a.id);
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${schema}.ledger WHERE sluice_id = ANY($1::text[])`,
      [ids],
    );
    const delivered = Number(rows[0]?.n);
    const lag = stats.leases.reduce((sum, l) => sum + l.lag, 0);
    const drained = lag === 0 && delivered === ids.length;
    if (drained || Date.now() - started > timeoutMs) {
      return { drained, ms: Date.now() - started, stats, delivered, acked: ids.length };
    }
    await delay(200);
  }
}

/**
 * Sink writes a process made for a partition after it reported the partition released by
 * `rebalance` or `close` (and before taking it again): a handover promises the old owner
 * finished its work first, so there must be none. (After `lost`, a write already in flight
 * may still land; those are counted apart, in `afterLost`.)
 */
export function writesAfterRelease(events: readonly NodeEvent[]): {
  afterHandover: string[];
  afterLost: string[];
} {
  const released = new Map<string, NodeEvent>();
  const afterHandover: string[] = [];
  const afterLost: string[] = [];
  for (const e of events) {
    if (e.event === 'released' && e.partition !== undefined)
      released.set(`${e.node}/${e.partition}`, e);
    else if (e.event === 'acquired' && e.partition !== undefined)
      released.delete(`${e.node}/${e.partition}`);
    else if (e.event === 'write:unowned') {
      for (const p of e.partitions ?? []) {
        const r = released.get(`${e.node}/${p}`);
        if (r === undefined) continue;
        const line =
          `${e.node} wrote ${String(e['entries'])} entries (partitions ${JSON.stringify(e.partitions)}, ` +
          `${String(e['duplicates'])} duplicates, ${String(e['superseded'])} superseded) at ${iso(e.t)}, ` +
          `${e.t - r.t} ms after releasing partition ${p} (${r.reason}, epoch ${r.epoch})`;
        // `failed`: the pipeline stopped on its own and did not wait for its writes, as `lost`.
        (r.reason === 'lost' || r.reason === 'failed' ? afterLost : afterHandover).push(line);
      }
    }
  }
  return { afterHandover, afterLost };
}

/** Test diagnostics, one per line (a diagnostic cannot hold a line break). */
export function report(t: TestContext, text: string): void {
  for (const line of text.split('\n')) t.diagnostic(line);
}

/**
 * The verdict of a run made of several checks: each is run and reported (`ok:` or
 * `FAILED:` as a diagnostic), and `done()` fails the test with every failed check, so one
 * broken promise does not hide the others of the same run.
 */
export class Checks {
  readonly #failed: string[] = [];

  constructor(private readonly t: TestContext) {}

  check(name: string, fn: () => void): void {
    try {
      fn();
      this.t.diagnostic(`ok: ${name}`);
    } catch (error) {
      this.t.diagnostic(`FAILED: ${name}`);
      this.#failed.push(`${name}:\n${error instanceof Error ? error.message : String(error)}`);
    }
  }

  done(): void {
    if (this.#failed.length > 0) {
      throw new AssertionError({
        message: `${this.#failed.length} check(s) failed\n\n${this.#failed.join('\n\n')}`,
      });
    }
  }
}

/**
 * Partitions a process that closed cleanly (SIGTERM, then exit 0) never reported
 * releasing: `close()` must let go of every partition it works, so each is a pipeline that
 * was not stopped (or an event that was not sent).
 */
export function unreleasedAtClose(events: readonly NodeEvent[]): string[] {
  const clean = new Set(
    events.filter((e) => e.event === 'exited' && e['code'] === 0).map((e) => e.node),
  );
  return tenures(events)
    .filter((x) => x.end === 'exited' && clean.has(x.node))
    .map(
      (x) =>
        `${x.node} acquired partition ${x.partition} (epoch ${x.epoch ?? 'at open'}) at ${iso(x.from)} and exited cleanly without releasing it`,
    );
}

/**
 * Partitions a process let go as `lost` though no other process had taken them: its lease
 * was still its own (a live process that renews on time never loses a lease nobody took).
 * Only meaningful where no process was frozen or cut off.
 */
export function spuriousLosses(events: readonly NodeEvent[]): string[] {
  const found: string[] = [];
  for (const x of tenures(events)) {
    if (x.end !== 'lost') continue;
    const takenBy = events.find(
      (e) =>
        e.event === 'acquired' &&
        e.partition === x.partition &&
        e.node !== x.node &&
        e.t >= x.from &&
        e.t <= x.to,
    );
    if (takenBy === undefined) {
      found.push(
        `${x.node} let partition ${x.partition} (epoch ${x.epoch ?? 'at open'}) go as lost at ${iso(x.releasedAt)}, ` +
          `${x.releasedAt - x.from} ms after taking it, and no other node had taken it`,
      );
    }
  }
  return found;
}
