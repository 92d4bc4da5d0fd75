/**
 * One node process of bench/cluster (spawned by it, never run by hand): opens the system of
 * its NodeConfig (env SLUICE_BENCH_NODE, JSON), then follows the parent over IPC
 * (bench/lib/cluster-protocol.ts):
 *
 * - `go`: the closed loop: this node's share of the entries (`index`, `index + nodes`, ...),
 *   `producers` callers each awaiting its write; every 16th write's latency is sampled;
 * - `load` / `stop`: an open loop of `perSecond` writes a second in ticks of 10 ms, none
 *   awaited by the next (the takeover measurement's background load);
 * - `close`, or SIGTERM: closes the system (a sluice node finishes its in-flight batches and
 *   hands its partitions over) and exits.
 *
 * While it runs it reports, every 20 ms when it changed, how many entries its workers have
 * written (`progress`), and each partition it acquires or releases.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import type {
  KeyedNode,
  NodeConfig,
  NodeEvents,
  NodeMessage,
  ParentMessage,
} from './cluster-protocol.js';
import { wallClockMs } from './keyed-table.js';
import { produce } from './producers.js';

const config = JSON.parse(process.env['SLUICE_BENCH_NODE'] ?? '') as NodeConfig;

function send(message: NodeMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) return resolve();
    // A lost channel means the parent is gone; the node is ended by `disconnect` below.
    process.send(message, undefined, {}, () => resolve());
  });
}

/** Reports the error to the parent, then exits. */
function fail(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`node ${config.system} #${config.index}: ${message}\n`);
  void send({ type: 'failed', message }).finally(() => process.exit(1));
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('disconnect', () => process.exit(2));

const events: NodeEvents = {
  partition: (event, partition) =>
    void send({ type: 'partition', event, partition, at: wallClockMs() }),
};

async function open(): Promise<KeyedNode> {
  switch (config.system) {
    case 'sluice-sqlite':
    case 'sluice-postgres':
      return (await import('./systems/sluice-node.js')).openSluiceNode(config, events);
    case 'pg-boss':
      return (await import('./systems/pg-boss-node.js')).openPgBossNode(config);
    case 'graphile-worker':
      return (await import('./systems/graphile-worker-node.js')).openGraphileWorkerNode(config);
  }
}

const node = await open();

/** Main-thread GC time since `go`. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

let reported = -1;
const progress = setInterval(() => {
  const processed = node.processed();
  if (processed === reported) return;
  reported = processed;
  void send({ type: 'progress', processed, at: node.lastProcessedAt(), gcMs });
}, 20);

let closing: Promise<void> | undefined;
function close(): Promise<void> {
  closing ??= (async () => {
    stopLoad();
    await node.close();
    clearInterval(progress);
    await send({ type: 'progress', processed: node.processed(), at: node.lastProcessedAt(), gcMs });
    await send({ type: 'closed' });
    process.exit(0);
  })();
  return closing;
}
process.on('SIGTERM', () => void close().catch(fail));

/** The closed loop: this node's share of `config.entries`, `config.producers` at a time. */
async function closedLoop(): Promise<void> {
  const { index, nodes, entries } = config;
  const mine = Math.max(0, Math.ceil((entries - index) / nodes));
  const { latenciesMs } = await produce(
    mine,
    (i) => node.write(index + i * nodes),
    config.producers,
  );
  await send({ type: 'produced', latenciesMs, written: mine, failed: 0 });
}

let load: NodeJS.Timeout | undefined;
let loadWritten = 0;
let loadFailed = 0;
/** Writes of the open loop not yet settled. */
const loadPending = new Set<Promise<unknown>>();
function stopLoad(): void {
  if (load !== undefined) clearInterval(load);
  load = undefined;
}
/** The open loop: `perSecond` writes a second from entry `firstSeq` on, until `stop`. */
function openLoop(perSecond: number, firstSeq: number): void {
  const start = performance.now();
  loadWritten = 0;
  loadFailed = 0;
  load = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * perSecond);
    for (; loadWritten < due; loadWritten++) {
      // A failed write is counted and reported with `produced`.
      const write = node
        .write(firstSeq + config.index + loadWritten * config.nodes)
        .catch(() => loadFailed++)
        .finally(() => loadPending.delete(write));
      loadPending.add(write);
    }
  }, 10);
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'go':
      gcMs = 0;
      closedLoop().catch(fail);
      break;
    case 'load':
      openLoop(message.perSecond, message.firstSeq);
      break;
    case 'stop':
      stopLoad();
      void Promise.all(loadPending).then(() =>
        send({ type: 'produced', latenciesMs: [], written: loadWritten, failed: loadFailed }),
      );
      break;
    case 'close':
      close().catch(fail);
      break;
  }
});

await send({ type: 'ready', node: node.name });
