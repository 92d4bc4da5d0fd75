/**
 * A graphile-worker node of bench/cluster: a job per entry carrying its key and value,
 * enqueued through `addJobs` (its batch API) behind a group commit; a runner with
 * `concurrentJobs` jobs at once, a local queue (batched fetches) and batched completions,
 * each job writing its row with one statement.
 *
 * Per-key order: graphile-worker runs the jobs of one named queue (`queueName`) one at a
 * time, in order. The queue name is the entry's key (`per-key`), or one of `queues` names
 * from a hash of the key: a key's jobs still run in order, and keys sharing a name also
 * wait for each other. Since 0.18 a batched fetch takes at most one job per named queue, so
 * the local queue keeps the guarantee (0.17's did not). graphile-worker's schema is
 * created by bench/cluster before the nodes start.
 */
import pg from 'pg';
import { Logger, makeWorkerUtils, run, type AddJobsJobSpec } from 'graphile-worker';
import type { KeyedNode, NodeConfig } from '../cluster-protocol.js';
import { groupCommit } from '../group-commit.js';
import { keyOf, valueOf, wallClockMs, writeRows, type KeyedValue } from '../keyed-table.js';

/** The queue name of a key: itself, or FNV-1a of it modulo `queues`. */
export function queueNameOf(key: string, queues: 'per-key' | number): string {
  if (queues === 'per-key') return key;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return `q${(h >>> 0) % queues}`;
}

/** graphile-worker's logs: warnings and errors only. */
const logger = new Logger(() => (level, message) => {
  if (level === 'warning' || level === 'error') process.stderr.write(`${level}: ${message}\n`);
});

export async function openGraphileWorkerNode(config: NodeConfig): Promise<KeyedNode> {
  const g = config.graphileWorker!;
  const enqueue = config.enqueue!;
  const rows = new pg.Pool({ connectionString: config.connectionString, max: g.concurrentJobs });
  let processed = 0;
  let lastAt = 0;
  const runner = await run({
    taskList: {
      write: async (payload) => {
        await writeRows(rows, config.schema, config.table, config.mode, [payload as KeyedValue]);
        processed++;
        lastAt = wallClockMs();
      },
    },
    noHandleSignals: true,
    logger,
    preset: {
      worker: {
        connectionString: config.connectionString,
        schema: g.schema,
        concurrentJobs: g.concurrentJobs,
        maxPoolSize: Math.max(10, g.concurrentJobs + 2),
        pollInterval: g.pollIntervalMs,
        localQueue: { size: g.localQueueSize },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  const utils = await makeWorkerUtils({
    connectionString: config.connectionString,
    schema: g.schema,
    maxPoolSize: enqueue.maxInFlight + 1,
    logger,
  });
  const add = groupCommit<AddJobsJobSpec>((specs) => utils.addJobs(specs), enqueue);
  return {
    name: `graphile-worker:${process.pid}`,
    write: (seq) =>
      add({
        identifier: 'write',
        payload: valueOf(seq, config.keys),
        queueName: queueNameOf(keyOf(seq, config.keys), g.queues),
      }),
    processed: () => processed,
    lastProcessedAt: () => lastAt,
    async close() {
      await runner.stop();
      await utils.release();
      await rows.end();
    },
  };
}
