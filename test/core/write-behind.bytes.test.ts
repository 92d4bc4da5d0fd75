/**
 * The byte bound: an oversized value is refused at `write()`; what the pipeline holds in
 * memory stays within `maxBacklogBytes` (writes wait, or are refused, beyond it); sink
 * writes are cut at `batch.maxBytes`; a backlog on disk larger than the bound is worked off
 * within it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EntryTooLargeError, MemoryJournal, MemorySink, QueueFullError } from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Blob = { n: number; data: string };
const dir = tempDir();
const h = trackedPipelines();
/** A hang becomes a failure. */
const within = { timeout: 10_000 };
const blob = (n: number, size: number): Blob => ({ n, data: 'x'.repeat(size) });
const fast = { retry: { minDelayMs: 1, maxDelayMs: 4 } };

/** A sink that holds every write until `open()`, recording the bytes it was handed. */
function gate() {
  let release: () => void = () => {};
  const opened = new Promise<void>((r) => (release = r));
  const state = { onWrite: () => {} };
  const sink = new MemorySink<Blob>({
    mode: 'insert',
    beforeWrite: async () => {
      state.onWrite();
      await opened;
    },
  });
  return { sink, state, open: () => release() };
}

test(
  'maxEntryBytes: a larger value is refused at write() with EntryTooLargeError; nothing of it is written',
  within,
  async () => {
    const journal = new MemoryJournal();
    const sink = new MemorySink<Blob>({ mode: 'insert' });
    const wb = await h.open<Blob>({ journal, sink, maxEntryBytes: 1_000, ...fast });
    await assert.rejects(
      wb.write('k', blob(1, 2_000)),
      (e: unknown) =>
        e instanceof EntryTooLargeError &&
        e.code === 'ERR_SLUICE_ENTRY_TOO_LARGE' &&
        e.limit === 1_000 &&
        e.bytes > 2_000 &&
        /`maxEntryBytes`/.test(e.message),
    );
    assert.equal((await journal.stats()).head, 0);
    await h.drive(wb.writeAndWait('k', blob(2, 100)));
    assert.equal(sink.rows.size, 1);
    await h.drive(wb.close());
  },
);

test(
  'maxBacklogBytes: memory holds no more than the bound (plus one entry); writers wait, or are refused',
  within,
  async () => {
    const g = gate();
    const wb = await h.open<Blob>({
      journal: new MemoryJournal(),
      sink: g.sink,
      workers: 2,
      batch: { maxSize: 100, maxDelayMs: 1 },
      maxBacklogBytes: 100_000,
      ...fast,
    });
    // Written while the sink holds everything: the reader takes in what fits, no more.
    const first = Array.from({ length: 30 }, (_, i) => wb.write(`k${i % 4}`, blob(i, 10_000)));
    await Promise.all(first);
    await h.until(() => wb.metrics().backlogBytes >= 90_000, 'the reader took in what fits');
    await h.clock.advance(20); // and no more, however long it is given
    const held = wb.metrics().backlogBytes;
    assert.ok(held >= 90_000 && held <= 100_000 + 10_100, `held ${held} bytes`);
    // Memory is full: the next writer waits until the sink takes some.
    const waiting = h.track(wb.write('k', blob(30, 10_000)));
    await h.clock.advance(20);
    assert.equal(waiting.state, 'pending', 'a writer beyond the bound waits');
    g.open();
    await h.until(() => waiting.state !== 'pending', 'the waiting writer is let in');
    assert.equal(waiting.state, 'resolved');
    await h.drive(wb.flush());
    assert.equal(g.sink.rows.size, 31);
    assert.equal(wb.metrics().backlogBytes, 0);
    await h.drive(wb.close());

    const refusing = gate();
    const rejecting = await h.open<Blob>({
      journal: new MemoryJournal(),
      sink: refusing.sink,
      maxBacklogBytes: 25_000,
      overflow: 'reject',
      batch: { maxSize: 10, maxDelayMs: 1 },
      ...fast,
    });
    for (let i = 0; i < 3; i++) await rejecting.write('k', blob(i, 10_000));
    await h.until(
      () => rejecting.metrics().backlogBytes >= 25_000,
      'the reader took in as much as the bound lets it',
    );
    await assert.rejects(
      rejecting.write('k', blob(9, 10)),
      (e: unknown) => e instanceof QueueFullError && /bytes/.test(e.message),
    );
    refusing.open();
    await h.drive(rejecting.flush());
    await h.drive(rejecting.close());
  },
);

test(
  'maxBacklogBytes in memory mode: writers of one tick are measured before they are let in, so together they cannot pass the bound',
  within,
  async () => {
    const g = gate();
    const wb = await h.open<Blob>({
      journal: 'memory',
      sink: g.sink,
      workers: 1,
      batch: { maxSize: 1, maxDelayMs: 1 },
      maxBacklogBytes: 55_000,
      ...fast,
    });
    // Twenty writers of ~10 KB in one tick, the sink holding everything: five fit.
    const writes = Array.from({ length: 20 }, (_, i) =>
      h.track(wb.write(`k${i}`, blob(i, 10_000))),
    );
    await h.clock.advance(20);
    const held = wb.metrics().backlogBytes;
    assert.ok(held <= 55_000, `held ${held} bytes, within the bound`);
    assert.ok(held >= 40_000, `held ${held} bytes: the bound is used`);
    assert.equal(writes.filter((w) => w.state === 'resolved').length, 5);
    assert.ok(
      writes.slice(5).every((w) => w.state === 'pending'),
      'the rest wait',
    );
    // Alone, a value larger than the whole bound is still let in, or it could never be written.
    g.open();
    await h.until(() => writes.every((w) => w.state !== 'pending'), 'every writer is let in');
    await h.drive(wb.flush());
    await wb.write('big', blob(99, 70_000));
    await h.drive(wb.flush());
    assert.equal(g.sink.rows.size, 21);
    await h.drive(wb.close());
  },
);

test(
  'batch.maxBytes: sink writes are cut by bytes, in order; a single larger entry goes alone',
  within,
  async () => {
    const sink = new MemorySink<Blob>({ mode: 'insert' });
    const wb = await h.open<Blob>({
      journal: new MemoryJournal(),
      sink,
      workers: 1,
      batch: { maxSize: 500, maxDelayMs: 5, maxBytes: 30_000 },
      ...fast,
    });
    await Promise.all(Array.from({ length: 20 }, (_, i) => wb.write('k', blob(i, 9_000))));
    await wb.write('k', blob(20, 50_000));
    await h.drive(wb.flush());
    const sizes = sink.batches.map((b) => b.reduce((s, e) => s + e.value.data.length, 0));
    assert.ok(
      sizes.every((s) => s <= 30_000 || s === 50_000),
      `writes of ${sizes.join(', ')}`,
    );
    assert.deepEqual(
      sink.batches.flat().map((e) => e.value.n),
      Array.from({ length: 21 }, (_, i) => i),
      'in order',
    );
    await h.drive(wb.close());
  },
);

test(
  'a backlog on disk far larger than maxBacklogBytes is worked off within it',
  within,
  async () => {
    const path = join(dir, 'big-backlog.db');
    const journal = await SqliteJournal.open(path);
    for (let i = 0; i < 200; i++) {
      await journal.append([{ key: `k${i % 8}`, payload: blob(i, 50_000) }]);
    }
    const g = gate();
    let peak = 0;
    const wb = await h.open<Blob>({
      journal,
      sink: g.sink,
      workers: 4,
      batch: { maxSize: 100, maxDelayMs: 1 },
      maxBacklogBytes: 500_000,
      ...fast,
    });
    // Looked at as each sink write starts: when the pipeline holds the most.
    g.state.onWrite = () => (peak = Math.max(peak, wb.metrics().backlogBytes));
    g.open();
    await h.drive(wb.flush());
    assert.equal(g.sink.rows.size, 200);
    assert.ok(peak > 0 && peak <= 550_100, `peak ${peak} bytes for a 10 MB backlog`);
    await h.drive(wb.close());
    await journal.close();
  },
);
