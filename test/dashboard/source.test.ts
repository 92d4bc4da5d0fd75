import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { journalSource, pipelineSource } from '../../src/dashboard/source.js';
import {
  MemoryDeadLetters,
  MemoryJournal,
  MemorySink,
  WriteBehind,
  type ClusterStats,
} from '../../src/index.js';
import { tempDir } from '../helpers/temp.js';

test('journalSource reads a journal file: head as written, the checkpoint as persisted', async (t) => {
  const journal = await SqliteJournal.open(join(tempDir(), 'watched.db'));
  t.after(() => journal.close());
  await journal.append(Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, payload: i })));
  await journal.commit('write-behind', 9);
  await journal.commit('audit', 3);
  await journal
    .deadLetters()
    .add([
      { position: 2, entryId: '2', key: 'k1', payload: 1, version: 2, error: 'no', attempts: 1 },
    ]);
  const source = await journalSource(journal, 'watched');
  const s = await source.sample();
  assert.deepEqual(
    [s.written, s.persisted, s.backlog, s.lag, s.deadLetters, s.pipeline],
    [12, 9, 3, 3, 1, undefined],
  );
  assert.equal((await source.deadLetters(10))[0]?.error, 'no');
  const text = await source.prometheus();
  assert.match(text?.body ?? '', /^sluice_consumer_checkpoint\{consumer="audit"\} 3$/m);

  // Another consumer name counts as "in the sink" when asked for.
  const audit = await (await journalSource(journal, 'watched', 'audit')).sample();
  assert.equal(audit.persisted, 3);
});

test('pipelineSource gives a pipeline’s own numbers: latencies, batches, workers', async (t) => {
  const sink = new MemorySink<number>();
  const wb = await WriteBehind.open<number>({
    journal: new MemoryJournal(),
    sink,
    workers: 2,
    batch: { maxSize: 5, maxDelayMs: 1 },
  });
  t.after(() => wb.close());
  for (let i = 0; i < 20; i++) await wb.write(`k${i % 4}`, i);
  await wb.flush();
  const source = await pipelineSource(wb, 'in process');
  const s = await source.sample();
  assert.equal(s.written, 20);
  assert.equal(s.persisted, 20);
  assert.equal(s.backlog, 0);
  assert.equal(s.journal.head, 20);
  assert.ok(s.pipeline !== undefined);
  assert.ok(s.pipeline.batches >= 4);
  assert.equal(s.pipeline.workers.length, 2);
  assert.ok(s.pipeline.batchSize.max <= 5);
  const text = await source.prometheus();
  assert.match(text?.body ?? '', /^sluice_writes_total 20$/m);
  assert.match(text?.body ?? '', /^sluice_journal_head 20$/m);
});

test('journalSource of a cluster journal: lag summed over partitions, and its cluster stats', async () => {
  const cluster: ClusterStats = {
    consumer: 'write-behind',
    partitions: 2,
    head: 40,
    nodes: [{ node: 'a', expiresInMs: 5_000, partitions: [0, 1] }],
    leases: [
      { partition: 0, owner: 'a', epoch: 1, expiresInMs: 5_000, checkpoint: 30, lag: 3 },
      { partition: 1, owner: 'a', epoch: 1, expiresInMs: 5_000, checkpoint: 12, lag: 4 },
    ],
    deadLetters: 1,
  };
  const asked: (string | undefined)[] = [];
  const journal = {
    stats: () =>
      Promise.resolve({
        head: 40,
        first: 1,
        entries: 35,
        bytes: 4096,
        consumers: [{ consumer: 'write-behind', position: 12, lag: 28 }],
      }),
    clusterStats: (consumer?: string) => {
      asked.push(consumer);
      return Promise.resolve(cluster);
    },
    deadLetters: () => new MemoryDeadLetters(),
  };
  const s = await (await journalSource(journal, 'cluster')).sample();
  // Positions have gaps in a cluster journal: what is pending is the partitions' lag.
  assert.deepEqual([s.written, s.persisted, s.backlog, s.lag, s.deadLetters], [40, 33, 7, 7, 1]);
  assert.deepEqual(s.cluster, cluster);
  assert.deepEqual(asked, ['write-behind']);

  // Before any node worked the consumer there are no leases: the journal's checkpoints count.
  const unworked = { ...journal, clusterStats: () => Promise.resolve({ ...cluster, leases: [] }) };
  const u = await (await journalSource(unworked, 'cluster', 'audit')).sample();
  assert.deepEqual([u.persisted, u.backlog, u.cluster?.leases], [12, 28, []]);
});
