/**
 * A sluice node of bench/cluster: WriteBehind → postgresSink into the keyed table, on a
 * SQLite journal (one node, synchronous=FULL, as bench/pipeline runs it) or on the
 * PostgreSQL journal (any number of nodes sharing it, each working the partitions it
 * holds a lease on). Writes carry the entry's id (`e<seq>`); the upsert table is guarded
 * by the entry's version.
 */
import { WriteBehind, type Sink } from '../../../src/index.js';
import { SqliteJournal } from '../../../src/adapters/sqlite/index.js';
import { PostgresJournal, postgresSink } from '../../../src/adapters/postgres/index.js';
import type { KeyedNode, NodeConfig, NodeEvents } from '../cluster-protocol.js';
import { keyOf, valueOf, VALUE_COLUMNS, wallClockMs, type KeyedValue } from '../keyed-table.js';

export async function openSluiceNode(config: NodeConfig, events: NodeEvents): Promise<KeyedNode> {
  const s = config.sluice!;
  const sink = await postgresSink<KeyedValue>({
    connectionString: config.connectionString,
    schema: config.schema,
    table: config.table,
    columns: VALUE_COLUMNS,
    mode: config.mode,
    ...(config.mode === 'upsert' ? { conflict: ['account'], versionColumn: 'version' } : {}),
    maxConnections: s.workers,
  });
  let processed = 0;
  let lastAt = 0;
  const counted: Sink<KeyedValue> = {
    async writeBatch(entries, context) {
      const result = await sink.writeBatch(entries, context);
      processed += entries.length;
      lastAt = wallClockMs();
      return result;
    },
    classify: (error) => sink.classify(error),
    close: () => sink.close(),
  };
  const pipeline = {
    sink: counted,
    workers: s.workers,
    batch: { maxSize: s.batchMaxSize, maxDelayMs: s.batchMaxDelayMs },
    maxBacklog: 200_000,
  };

  if (config.system === 'sluice-sqlite') {
    const journal = await SqliteJournal.open(s.journalPath!, { keyIndex: false });
    const wb = await WriteBehind.open<KeyedValue>({ journal, ...pipeline });
    return {
      name: `sqlite:${process.pid}`,
      write: (seq) =>
        wb.write(keyOf(seq, config.keys), valueOf(seq, config.keys), { id: `e${seq}` }),
      processed: () => processed,
      lastProcessedAt: () => lastAt,
      async close() {
        await wb.flush();
        await wb.close();
        await sink.close();
        await journal.close();
      },
    };
  }

  const journal = await PostgresJournal.open({
    connectionString: config.connectionString,
    schema: s.journalSchema!,
    partitions: s.partitions,
  });
  // Over a shared journal `workers` counts lanes per partition: its default (1) is the one
  // users get; the node works its partitions in parallel.
  const { workers: _lanes, ...perPartition } = pipeline;
  const wb = await WriteBehind.open<KeyedValue>({ journal, ...perPartition, leaseMs: s.leaseMs });
  wb.on('partition:acquired', ({ partition }) => events.partition('acquired', partition));
  wb.on('partition:released', ({ partition }) => events.partition('released', partition));
  // Leases taken while opening came before the listeners.
  for (const partition of wb.owned()) events.partition('acquired', partition);
  return {
    name: wb.node,
    write: (seq) => wb.write(keyOf(seq, config.keys), valueOf(seq, config.keys), { id: `e${seq}` }),
    processed: () => processed,
    lastProcessedAt: () => lastAt,
    async close() {
      await wb.close({ deadlineMs: 10_000 });
      await sink.close();
      await journal.close();
    },
  };
}
