/**
 * A pg-boss node of bench/cluster: a job per entry carrying its key and value, enqueued
 * through `insert` (its batch API) behind a group commit; workers fetch jobs in batches
 * (`work` with `batchSize`, `localConcurrency` fetch loops, burst fetching while batches
 * come back full, LISTEN/NOTIFY wake-ups) and write each batch's rows with one statement,
 * then pg-boss completes the batch.
 *
 * Per-key order: the queue's policy is `key_strict_fifo` (pg-boss 12) with the entry's key
 * as `singletonKey`: a key's next job is not fetched while one is active, in retry or
 * failed, so one fetch holds at most one job per key and a key's jobs run in creation order.
 * The queue (and pg-boss's schema) is created by bench/cluster before the nodes start.
 */
import pg from 'pg';
import { PgBoss, type JobInsert } from 'pg-boss';
import type { KeyedNode, NodeConfig } from '../cluster-protocol.js';
import { groupCommit } from '../group-commit.js';
import { keyOf, valueOf, wallClockMs, writeRows, type KeyedValue } from '../keyed-table.js';

export async function openPgBossNode(config: NodeConfig): Promise<KeyedNode> {
  const b = config.pgBoss!;
  const enqueue = config.enqueue!;
  const rows = new pg.Pool({
    connectionString: config.connectionString,
    max: b.localConcurrency,
  });
  const boss = new PgBoss({
    connectionString: config.connectionString,
    // pg-boss names its connections itself unless told.
    application_name:
      new URL(config.connectionString).searchParams.get('application_name') ?? 'pgboss',
    schema: b.schema,
    max: b.localConcurrency + enqueue.maxInFlight + 2,
    useListenNotify: true,
    migrate: false,
    createSchema: false,
  });
  // pg-boss emits `error` for failures of its background work (fetch loops, maintenance):
  // the node fails with it, and the parent stops the run on a failed node.
  boss.on('error', (error) => {
    throw error;
  });
  await boss.start();
  let processed = 0;
  let lastAt = 0;
  await boss.work<KeyedValue>(
    b.queue,
    {
      batchSize: b.batchSize,
      localConcurrency: b.localConcurrency,
      pollingIntervalSeconds: b.pollingIntervalSeconds,
      burstWhenBatchFull: true,
    },
    async (jobs) => {
      await writeRows(
        rows,
        config.schema,
        config.table,
        config.mode,
        jobs.map((j) => j.data),
      );
      processed += jobs.length;
      lastAt = wallClockMs();
    },
  );
  const send = groupCommit<JobInsert<KeyedValue>>((jobs) => boss.insert(b.queue, jobs), enqueue);
  return {
    name: `pg-boss:${process.pid}`,
    write: (seq) =>
      send({ data: valueOf(seq, config.keys), singletonKey: keyOf(seq, config.keys) }),
    processed: () => processed,
    lastProcessedAt: () => lastAt,
    async close() {
      await boss.stop({ graceful: true, timeout: 10_000 });
      await rows.end();
    },
  };
}
