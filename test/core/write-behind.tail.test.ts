/**
 * The tail from memory: entries this process appends reach the lanes without being read
 * back, and everything else (a restart's backlog, another writer's entries, a tail dropped
 * past its room) is read from the journal, with nothing lost, doubled or reordered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MemorySink, type SinkEntry } from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { JournalSource } from '../../src/core/write-behind/journal-source.js';
import { resolveRetryPolicy } from '../../src/core/retry.js';
import { countingReads } from '../helpers/read-back.js';
import { tempDir } from '../helpers/temp.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Row = { account: string; seq: number; pad?: string };
const fast = { batch: { maxSize: 50, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 5 } };
const dir = tempDir();
const h = trackedPipelines();
const within = { timeout: 20_000 };
let n = 0;
const freshPath = (): string => join(dir, `tail-${++n}.db`);

/** Every delivered entry once, by position, with each key's entries in position order. */
function assertDelivered(batches: readonly (readonly SinkEntry<Row>[])[], positions: number[]) {
  const seen = batches.flat();
  const ids = seen.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no entry delivered twice');
  assert.equal(seen.length, positions.length, 'every entry delivered');
  const lastByKey = new Map<string, number>();
  for (const e of seen) {
    const before = lastByKey.get(e.key) ?? 0;
    assert.ok(e.version > before, `key ${e.key}: version ${e.version} after ${before}`);
    lastByKey.set(e.key, e.version);
  }
}

test('what this process writes reaches the sink without being read back', within, async () => {
  const { journal, readBack } = countingReads(await SqliteJournal.open(freshPath()));
  h.defer(() => journal.close());
  const sink = new MemorySink<Row>({ mode: 'insert' });
  const wb = await h.open<Row>({ journal, sink, workers: 3, ...fast });
  const positions = await Promise.all(
    Array.from({ length: 600 }, (_, i) =>
      wb.write(`k${i % 13}`, { account: `k${i % 13}`, seq: i }),
    ),
  );
  await h.drive(wb.flush());
  await h.drive(wb.close());
  assertDelivered(sink.batches, positions);
  assert.equal(readBack(), 0, 'no entry read back from the journal');
  // What the sink got is what the journal holds, as a read returns it.
  const stored = await journal.read(0, { limit: 1000 });
  const delivered = new Map(sink.batches.flat().map((e) => [e.version, e.value]));
  for (const entry of stored) assert.deepEqual(delivered.get(entry.version), entry.payload);
});

test(
  'a tail that outgrows the room the backlog bound leaves is dropped and read back: nothing lost, order kept',
  within,
  async () => {
    const { journal, readBack } = countingReads(await SqliteJournal.open(freshPath()));
    h.defer(() => journal.close());
    let open = false;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sink = new MemorySink<Row>({
      mode: 'insert',
      beforeWrite: async () => {
        if (!open) await gate;
      },
    });
    // ~1 KB values, 8 KB of backlog bytes: the sink is shut, the reader holds its share, and
    // the tail cannot keep up with 200 writes.
    const wb = await h.open<Row>({ journal, sink, workers: 2, maxBacklogBytes: 8_000, ...fast });
    const pad = 'x'.repeat(1_000);
    const writes = Array.from({ length: 200 }, (_, i) =>
      wb.write(`k${i % 7}`, { account: `k${i % 7}`, seq: i, pad }),
    );
    const positions = await h.drive(Promise.all(writes));
    open = true;
    release();
    await h.drive(wb.flush());
    await h.drive(wb.close());
    assertDelivered(sink.batches, positions);
    assert.ok(readBack() > 0, 'entries past the dropped tail came from the journal');
  },
);

test(
  'another writer on the same file between this process’s appends: its entries are read, ours are not read twice',
  within,
  async () => {
    const path = freshPath();
    const { journal, readBack } = countingReads(await SqliteJournal.open(path));
    const other = await SqliteJournal.open(path, { pollIntervalMs: 1 });
    h.defer(async () => {
      await journal.close();
      await other.close();
    });
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({ journal, sink, workers: 2, ...fast });
    const positions: number[] = [];
    for (let round = 0; round < 20; round++) {
      positions.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            wb.write(`k${i}`, { account: `k${i}`, seq: round * 100 + i }),
          ),
        )),
      );
      positions.push(
        ...(await other.append([
          { key: `k${round % 10}`, payload: { account: `k${round % 10}`, seq: -1 - round } },
        ])),
      );
    }
    await h.drive(wb.flush());
    await h.drive(wb.close());
    assertDelivered(sink.batches, positions);
    const delivered = sink.batches.flat().map((e) => e.value.seq);
    for (let round = 0; round < 20; round++)
      assert.ok(delivered.includes(-1 - round), `other ${round}`);
    assert.ok(readBack() >= 20, 'the other writer’s entries were read');
    assert.ok(readBack() < positions.length, 'most of ours came from memory');
  },
);

test(
  'after a restart the backlog left behind is read back, and new writes come from memory again',
  within,
  async () => {
    const path = freshPath();
    const first = await SqliteJournal.open(path);
    const stuck = new MemorySink<Row>({
      mode: 'insert',
      beforeWrite: () => new Promise<void>(() => {}),
    });
    const wb1 = await h.open<Row>({ journal: first, sink: stuck, ...fast });
    for (let i = 0; i < 100; i++) await wb1.write(`k${i % 5}`, { account: `k${i % 5}`, seq: i });
    await h.drive(wb1.close({ deadlineMs: 10 }).catch(() => {}));
    await first.close();

    const { journal, readBack } = countingReads(await SqliteJournal.open(path));
    h.defer(() => journal.close());
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb2 = await h.open<Row>({ journal, sink, ...fast });
    await h.drive(wb2.flush());
    assert.equal(readBack(), 100, 'the backlog, read back once');
    const later = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        wb2.write(`k${i % 5}`, { account: `k${i % 5}`, seq: 100 + i }),
      ),
    );
    await h.drive(wb2.flush());
    await h.drive(wb2.close());
    assert.equal(readBack(), 100, 'new writes from memory');
    assert.equal(sink.rows.size, 150);
    assert.ok(later.every((p) => p > 100));
  },
);

test(
  'what is read back and the tail stay within the byte room together; a tail that leaves none is dropped',
  within,
  async () => {
    const journal = await SqliteJournal.open(freshPath());
    h.defer(() => journal.close());
    const pad = 'x'.repeat(1_000);
    // A backlog from before (read back), then writes of this process (the tail).
    await journal.append(
      Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, payload: { pad, i } })),
    );
    const bound = 8_000;
    let held = 0;
    const source = await JournalSource.open(journal, {
      consumer: 'write-behind',
      retain: 0,
      retry: resolveRetryPolicy({ minDelayMs: 1, maxDelayMs: 5 }),
      clock: h.clock,
      onReadFailed: () => {},
      tailRoom: () => bound - held,
    });
    h.defer(() => source.release());
    await source.append(
      Array.from({ length: 7 }, (_, i) => ({ key: `n${i}`, payload: { pad, i } })),
    );
    assert.ok(source.tailBytes > 7_000, 'the new writes wait in the tail');
    const largest = 1_020;
    const signal = new AbortController().signal;
    const positions: number[] = [];
    let dropped = false;
    while (positions.length < 57) {
      const entries = await source.take(1_000, bound - held, signal);
      // The tail is gone while the backlog is still being read: it gave way.
      if (source.tailBytes === 0 && positions.length + entries.length < 50) dropped = true;
      for (const e of entries) {
        held += e.bytes;
        positions.push(e.position);
      }
      assert.ok(
        held + source.tailBytes <= bound + largest,
        `${held} held + ${source.tailBytes} in the tail`,
      );
      held = 0; // handed on: the next take has the whole room again
    }
    assert.deepEqual(
      positions,
      Array.from({ length: 57 }, (_, i) => i + 1),
    );
    assert.ok(dropped, 'the tail gave way to the backlog');
  },
);
