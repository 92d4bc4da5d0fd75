/**
 * `writeMany`: many entries in one call, one room check and one append; durable together
 * (one journal transaction) when it resolves, or nothing of it written when it rejects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  EncodeError,
  InputError,
  MemoryJournal,
  MemorySink,
  QueueFullError,
} from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Row = { account: string; seq: number };
const fast = { batch: { maxSize: 50, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 5 } };
const transient = (): Error => Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
const dir = tempDir();
const h = trackedPipelines();
const within = { timeout: 10_000 };
const rows = (from: number, n: number, keys = 7): { key: string; value: Row }[] =>
  Array.from({ length: n }, (_, i) => {
    const account = `acct-${(from + i) % keys}`;
    return { key: account, value: { account, seq: from + i } };
  });

test(
  'writeMany: positions in order, one journal transaction, every entry in the sink in key order',
  within,
  async () => {
    const journal = await SqliteJournal.open(join(dir, 'many.db'));
    h.defer(() => journal.close());
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal, sink, workers: 3, ...fast });
    const before = journal.writeTransactions;
    const positions = await wb.writeMany(rows(0, 300));
    assert.deepEqual(
      positions,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    assert.equal(journal.writeTransactions - before, 1, 'one transaction for the call');
    const more = await wb.writeMany(rows(300, 100));
    assert.equal(more[0], 301);
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 400);
    const seen = new Map<string, number[]>();
    for (const batch of sink.batches)
      for (const e of batch) seen.set(e.key, [...(seen.get(e.key) ?? []), e.value.seq]);
    for (const [key, seqs] of seen) {
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        `${key} in order`,
      );
    }
    assert.equal(wb.metrics().written, 400);
    assert.deepEqual(await wb.writeMany([]), []);
    await h.drive(wb.close());
  },
);

test(
  'writeMany: ids deduplicate as write() does, within the call and against earlier writes',
  within,
  async () => {
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal: new MemoryJournal(), sink, ...fast });
    const first = await wb.write('a', { account: 'a', seq: 1 }, { id: 'one' });
    const positions = await wb.writeMany([
      { key: 'a', value: { account: 'a', seq: 1 }, id: 'one' },
      { key: 'b', value: { account: 'b', seq: 2 }, id: 'two' },
      { key: 'b', value: { account: 'b', seq: 2 }, id: 'two' },
    ]);
    assert.deepEqual(positions, [first, 2, 2]);
    await h.drive(wb.flush());
    assert.deepEqual([...sink.rows.keys()].sort(), ['one', 'two']);
    await h.drive(wb.close());
  },
);

test(
  'writeMany refuses bad input with an InputError naming the entry, writing nothing of the call',
  within,
  async () => {
    const journal = new MemoryJournal();
    const wb = await h.open<Row>({
      journal,
      sink: new MemorySink<Row>(),
      maxBacklog: 100,
      ...fast,
    });
    const bad: [unknown, RegExp][] = [
      ['not an array', /writeMany\(\) takes an array of entries/],
      [[{ key: 'a', value: {} }, null], /entries\[1\] must be \{ key, value, id\? \}/],
      [[{ key: '', value: {} }], /entries\[0\]\.key must be a non-empty string/],
      [
        [{ key: 'a', value: {}, idd: 'x' }],
        /entries\[0\] has `idd`; an entry takes key, value and id/,
      ],
      [rows(0, 101), /writeMany\(\) of 101 entries exceeds maxBacklog \(100\): split it/],
    ];
    for (const [input, message] of bad) {
      await assert.rejects(
        wb.writeMany(input as never),
        (e: unknown) => e instanceof InputError && message.test(e.message),
        String(message),
      );
    }
    // A value the codec refuses fails the whole call: nothing of it is in the journal.
    await assert.rejects(
      wb.writeMany([
        { key: 'a', value: { account: 'a', seq: 1 } },
        { key: 'b', value: { account: 'b', seq: Number.NaN } },
      ]),
      EncodeError,
    );
    assert.equal((await journal.stats()).head, 0);
    assert.equal(wb.metrics().written, 0);
    await h.drive(wb.close());
  },
);

test(
  'writeMany waits for room for the whole call, or rejects with overflow reject',
  within,
  async () => {
    let down = true;
    const sink = new MemorySink<Row>({
      mode: 'insert',
      beforeWrite: () => {
        if (down) throw transient();
      },
      classify: () => 'unavailable',
    });
    const wb = await h.open<Row>({ journal: new MemoryJournal(), sink, maxBacklog: 10, ...fast });
    await wb.writeMany(rows(0, 6));
    // 6 in the backlog: 4 more fit, 5 do not.
    const five = h.track(wb.writeMany(rows(6, 5)));
    await h.clock.advance(30);
    assert.equal(five.state, 'pending', 'the call waits for room for all five');
    assert.equal(wb.metrics().backlog, 6);
    down = false;
    await h.until(() => five.state !== 'pending', 'the call is let in');
    assert.equal(five.state, 'resolved');
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 11);
    await h.drive(wb.close());

    const rejecting = await h.open<Row>({
      journal: new MemoryJournal(),
      sink: new MemorySink<Row>({
        beforeWrite: () => Promise.reject(transient()),
        classify: () => 'unavailable',
      }),
      maxBacklog: 4,
      overflow: 'reject',
      ...fast,
    });
    await rejecting.writeMany(rows(0, 3));
    await assert.rejects(rejecting.writeMany(rows(3, 2)), QueueFullError);
    assert.deepEqual(await rejecting.writeMany(rows(3, 1)), [4]);
    const closed = await h.drive(rejecting.close({ deadlineMs: 50 }));
    assert.deepEqual(closed, { drained: false, remaining: 4 });
  },
);

test('writeMany in memory mode: the sink gets the values given', within, async () => {
  const sink = new MemorySink<Row>({ mode: 'insert' });
  const wb = await h.open<Row>({ journal: 'memory', sink, ...fast });
  const entries = rows(0, 20);
  await wb.writeMany(entries);
  await h.drive(wb.flush());
  const delivered = [...sink.batches.flat()].sort((a, b) => a.value.seq - b.value.seq);
  assert.equal(delivered.length, 20);
  delivered.forEach((e, i) => assert.equal(e.value, entries[i]!.value));
  await h.drive(wb.close());
});
