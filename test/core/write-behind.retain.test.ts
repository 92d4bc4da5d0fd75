/**
 * Retention: a durable journal keeps only a window of handled entries behind the
 * checkpoint (never past another consumer's), ids inside the window still deduplicate, and
 * a trim that fails or is held back neither stalls the pipeline nor repeats on every batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigError, MemorySink, WriteBehind, type Journal } from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Row = { account: string; seq: number };
const fast = { batch: { maxSize: 50, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 5 } };
const dir = tempDir();
const h = trackedPipelines();
/** A hang becomes a failure. */
const within = { timeout: 10_000 };

/** A pipeline on a SQLite journal with `retain`; the test closes the pipeline. */
async function retaining(
  name: string,
  retain: number,
  wrap: (journal: SqliteJournal) => Journal = (journal) => journal,
) {
  // Retention does not depend on fsync; 'normal' keeps thousands of one-by-one appends fast.
  const journal = await SqliteJournal.open(join(dir, name), { synchronous: 'normal' });
  const sink = new MemorySink<Row>({ mode: 'insert' });
  const wb = await h.open<Row>({ journal: wrap(journal), sink, retain, ...fast });
  h.defer(() => journal.close());
  const write = (i: number): Promise<number> =>
    wb.write(`acct-${i % 7}`, { account: `acct-${i % 7}`, seq: i }, { id: `w${i}` });
  return { journal, sink, wb, write };
}

test(
  'retain: a durable journal keeps only the window behind the checkpoint; ids in it still deduplicate',
  within,
  async () => {
    const { journal, sink, wb, write } = await retaining('retain.db', 500);
    for (let i = 0; i < 5000; i++) await write(i);
    await h.drive(wb.flush());
    const { first, entries, head } = await journal.stats();
    assert.equal(head, 5000);
    assert.ok(entries >= 500 && entries <= 500 + 1000, `kept ${entries} entries`);
    assert.equal(first, head - entries + 1);
    assert.equal(sink.rows.size, 5000);
    // An id inside the window is still known; one far behind it is not.
    assert.equal(await write(4990), 4991);
    assert.equal(await write(10), 5001);
    await h.drive(wb.close());
  },
);

test("retain: never trims past another consumer's checkpoint", within, async () => {
  const { journal, wb, write } = await retaining('retain-audit.db', 100);
  await journal.commit('audit', 0);
  for (let i = 0; i < 2000; i++) await write(i);
  await h.drive(wb.flush());
  assert.equal((await journal.stats()).entries, 2000);
  await journal.commit('audit', 1500);
  for (let i = 2000; i < 4000; i++) await write(i);
  await h.drive(wb.flush());
  assert.equal((await journal.stats()).first, 1501);
  await h.drive(wb.close());
});

/** The journal with its truncate calls counted, failing the first `failures` of them. */
function countingTruncates(failures: number) {
  const calls = { count: 0 };
  const wrap = (journal: SqliteJournal): Journal =>
    new Proxy(journal, {
      get(target, property) {
        if (property === 'truncate') {
          return (before: number) => {
            calls.count++;
            if (calls.count <= failures) return Promise.reject(new Error('disk is busy'));
            return target.truncate(before);
          };
        }
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
  return { calls, wrap };
}

test(
  'retain: a trim that fails is tried again with a later checkpoint; nothing else is affected',
  within,
  async () => {
    const { calls, wrap } = countingTruncates(1);
    const { journal, sink, wb, write } = await retaining('retain-fail.db', 100, wrap);
    for (let i = 0; i < 4000; i++) await write(i);
    await h.drive(wb.flush());
    assert.ok(calls.count >= 2, `trimmed again after the failure (${calls.count} calls)`);
    assert.equal(sink.rows.size, 4000);
    assert.equal(wb.metrics().backlog, 0);
    const { entries } = await journal.stats();
    assert.ok(entries <= 100 + 1000, `kept ${entries} entries`);
    await h.drive(wb.close());
  },
);

test(
  'retain: a trim held back by another consumer is not retried on every batch',
  within,
  async () => {
    const { calls, wrap } = countingTruncates(0);
    const { journal, wb, write } = await retaining('retain-held.db', 100, wrap);
    await journal.commit('audit', 0);
    for (let i = 0; i < 5000; i++) await write(i);
    await h.drive(wb.flush());
    assert.ok(wb.metrics().batches > 50, 'many batches, so many checkpoint commits');
    assert.ok(calls.count <= 5, `${calls.count} truncate calls for 5,000 held-back entries`);
    assert.equal((await journal.stats()).entries, 5000);
    await h.drive(wb.close());
  },
);

test('retain: Infinity keeps everything; a bad value is a ConfigError', within, async () => {
  const journal = await SqliteJournal.open(join(dir, 'retain-all.db'), { synchronous: 'normal' });
  const wb = await h.open<Row>({
    journal,
    sink: new MemorySink<Row>(),
    retain: Infinity,
    ...fast,
  });
  for (let i = 0; i < 2500; i++) await wb.write('k', { account: 'k', seq: i });
  await h.drive(wb.flush());
  assert.equal((await journal.stats()).entries, 2500);
  await h.drive(wb.close());
  await assert.rejects(
    WriteBehind.open<Row>({ journal, sink: new MemorySink<Row>(), retain: -1 }),
    (e: unknown) => e instanceof ConfigError && /retain/.test(e.message),
  );
  await journal.close();
});
