import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { journalSource, pipelineSource } from '../../src/dashboard/source.js';
import { MemoryJournal, MemorySink, WriteBehind } from '../../src/index.js';
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
