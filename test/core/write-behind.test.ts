/**
 * WriteBehind's pipeline end to end: writes land in order per key, outages are retried,
 * poison is dead-lettered, backlog bounds hold, a closed pipeline's leftovers land on the
 * next open. Time is a ManualClock driven by the tests (retention: write-behind.retain.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import {
  DeadLetteredError,
  ClosedError,
  MemoryJournal,
  MemorySink,
  QueueFullError,
  type SinkEntry,
  type Timer,
} from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Row = { account: string; seq: number };
const fast = { batch: { maxSize: 50, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 5 } };
const transient = (): Error => Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
/** A sink whose store is down for good: every write fails as unavailable, and is retried. */
const downSink = (): MemorySink<Row> =>
  new MemorySink<Row>({
    beforeWrite: () => Promise.reject(transient()),
    classify: () => 'unavailable',
  });
const dir = tempDir();
const h = trackedPipelines();
/** A hang becomes a failure. */
const within = { timeout: 10_000 };

test(
  '.write() then .flush(): every entry reaches the sink, the last write per key wins, in order',
  within,
  async () => {
    const sink = new MemorySink<Row>({ mode: 'insert' });
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      workers: 3,
      ...fast,
    });
    const seqByAccount = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const account = `acct-${i % 37}`;
      const seq = (seqByAccount.get(account) ?? 0) + 1;
      seqByAccount.set(account, seq);
      await wb.write(account, { account, seq });
    }
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 1000);
    // Per key, the sink saw the writes in order.
    const seen = new Map<string, number[]>();
    for (const batch of sink.batches)
      for (const e of batch) seen.set(e.key, [...(seen.get(e.key) ?? []), e.value.seq]);
    for (const [account, seqs] of seen) {
      assert.deepEqual(
        seqs,
        Array.from({ length: seqByAccount.get(account)! }, (_, i) => i + 1),
        account,
      );
    }
    const m = wb.metrics();
    assert.deepEqual(
      {
        written: m.written,
        persisted: m.persisted,
        deadLettered: m.deadLettered,
        backlog: m.backlog,
      },
      {
        written: 1000,
        persisted: 1000,
        deadLettered: 0,
        backlog: 0,
      },
    );
    assert.ok(m.batches < 1000, 'writes were batched');
    assert.ok(m.batchSize.p99 <= 50);
    assert.equal(m.endToEndLatencyMs.count, 1000);
    assert.deepEqual(await h.drive(wb.close()), { drained: true, remaining: 0 });
    assert.equal((await wb.stats()).consumers[0]?.position, 1000);
  },
);

test(
  'a sink whose writeBatch resolves to null (plain JavaScript) has written its batch: the pipeline goes on',
  within,
  async () => {
    const written: string[] = [];
    const sink = {
      writeBatch: (entries: readonly SinkEntry<Row>[]) => {
        written.push(...entries.map((e) => e.key));
        return Promise.resolve(null as unknown as undefined);
      },
      classify: () => 'unknown' as const,
      close: () => Promise.resolve(),
    };
    const wb = await h.open<Row>({ journal: new MemoryJournal(), sink, ...fast });
    await h.drive(wb.writeAndWait('a', { account: 'a', seq: 1 }));
    await h.drive(wb.writeAndWait('b', { account: 'b', seq: 2 }));
    assert.deepEqual(written, ['a', 'b']);
    assert.equal(wb.metrics().superseded, 0);
    await h.drive(wb.close());
  },
);

test('.writeAndWait() resolves once the entry is in the sink', within, async () => {
  const sink = new MemorySink<Row>();
  const wb = await h.open<Row>({ journal: new MemoryJournal(), sink, ...fast });
  const position = await h.drive(wb.writeAndWait('acct-1', { account: 'acct-1', seq: 1 }));
  assert.equal(position, 1);
  assert.equal(sink.rows.get('acct-1')?.value.seq, 1);
  await h.drive(wb.close());
});

test(
  'transient sink errors are retried until they pass; nothing is lost or dead-lettered',
  within,
  async () => {
    let failures = 0;
    const sink = new MemorySink<Row>({
      mode: 'insert',
      beforeWrite: () => {
        if (failures++ < 5) throw transient();
      },
      classify: (e) =>
        (e as { code?: string }).code === 'ECONNRESET' ? 'unavailable' : 'rejected',
    });
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      workers: 1,
      ...fast,
    });
    const retries: number[] = [];
    wb.on('sink:retry', (e) => retries.push(e.attempt));
    for (let i = 0; i < 20; i++) await wb.write(`k${i}`, { account: `k${i}`, seq: i });
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 20);
    assert.equal(wb.metrics().retried, 5);
    assert.equal(await wb.deadLetters.count(), 0);
    assert.ok(retries.length === 5);
    await h.drive(wb.close());
  },
);

test(
  'poison: exactly the entries the sink refuses are dead-lettered; the rest land; replay lands them after a fix',
  within,
  async () => {
    let strict = true;
    const sink = new MemorySink<Row>({
      mode: 'insert',
      check: (e: SinkEntry<Row>) => {
        if (strict && e.value.seq % 250 === 7)
          throw new RangeError(`seq ${e.value.seq} violates a constraint`);
      },
    });
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      workers: 2,
      ...fast,
    });
    const deadEvents: number[] = [];
    wb.on('entry:deadLettered', (e) => deadEvents.push(e.position));
    for (let i = 0; i < 1000; i++) await wb.write(`k${i % 10}`, { account: `k${i % 10}`, seq: i });
    const poisoned = wb.writeAndWait('k0', { account: 'k0', seq: 2007 });
    await assert.rejects(
      h.drive(poisoned),
      (e: unknown) =>
        e instanceof DeadLetteredError &&
        e.code === 'ERR_SLUICE_DEAD_LETTERED' &&
        /seq 2007 violates a constraint/.test(e.message),
    );
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 1000 - 4);
    const letters = await wb.deadLetters.list();
    assert.deepEqual(
      letters.map((l) => (l.payload as Row).seq),
      [7, 257, 507, 757, 2007].filter((s) => letters.some((l) => (l.payload as Row).seq === s)),
    );
    assert.equal(letters.length, 5);
    assert.ok(letters.every((l) => /violates a constraint/.test(l.error) && l.attempts >= 1));
    assert.equal(deadEvents.length, 5);
    assert.equal(wb.metrics().deadLettered, 5);
    strict = false;
    const { replayed } = await wb.deadLetters.replay(letters.map((l) => l.id));
    assert.equal(replayed, 5);
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 1000 + 1);
    assert.equal(await wb.deadLetters.count(), 0);
    await h.drive(wb.close());
  },
);

test(
  'maxBacklog: writes wait while the sink is down, or reject with overflow reject',
  within,
  async () => {
    let down = true;
    const sink = new MemorySink<Row>({
      beforeWrite: () => {
        if (down) throw transient();
      },
      classify: () => 'unavailable',
    });
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      maxBacklog: 10,
      ...fast,
    });
    for (let i = 0; i < 10; i++) await wb.write(`k${i}`, { account: `k${i}`, seq: i });
    const eleventh = h.track(wb.write('k10', { account: 'k10', seq: 10 }));
    // 30 ms of outage, the sink retried all along.
    await h.clock.advance(30);
    assert.ok(wb.metrics().retried > 0, 'the sink was retried meanwhile');
    assert.equal(eleventh.state, 'pending', 'the 11th write waits for room');
    assert.equal(wb.metrics().backlog, 10);
    down = false;
    await h.until(() => eleventh.state !== 'pending', 'the 11th write is let in');
    assert.equal(eleventh.state, 'resolved');
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 11);
    await h.drive(wb.close());

    const rejecting = await h.open<Row>({
      journal: new MemoryJournal(),
      sink: downSink(),
      maxBacklog: 2,
      overflow: 'reject',
      ...fast,
    });
    await rejecting.write('a', { account: 'a', seq: 1 });
    await rejecting.write('b', { account: 'b', seq: 2 });
    await assert.rejects(rejecting.write('c', { account: 'c', seq: 3 }), QueueFullError);
    const closed = await h.drive(rejecting.close({ deadlineMs: 50 }));
    assert.deepEqual(closed, { drained: false, remaining: 2 });

    // close() refuses the writes still waiting for room at once, as it refuses a write made
    // after it: they were never accepted. (Not at the deadline, nor never without one.)
    const closing = await h.open<Row>({
      journal: new MemoryJournal(),
      sink: downSink(),
      maxBacklog: 2,
      ...fast,
    });
    await closing.write('a', { account: 'a', seq: 1 });
    await closing.write('b', { account: 'b', seq: 2 });
    const waiting = h.track(closing.write('c', { account: 'c', seq: 3 }));
    const closingDone = closing.close({ deadlineMs: 1_000 });
    const closeResult = h.track(closingDone);
    await setImmediate(); // the clock does not move: only close() itself can refuse it
    assert.equal(waiting.state, 'rejected');
    assert.ok(waiting.error instanceof ClosedError, String(waiting.error));
    assert.equal(closeResult.state, 'pending', 'close() still drains within its deadline');
    assert.deepEqual(await h.drive(closingDone), { drained: false, remaining: 2 });
  },
);

test(
  'recovery: what a closed pipeline left in the journal lands on the next open',
  within,
  async () => {
    const path = join(dir, 'recovery.db');
    let journal = await SqliteJournal.open(path);
    const down = downSink();
    let wb = await h.open<Row>({ journal, sink: down, ...fast });
    for (let i = 0; i < 100; i++) await wb.write(`k${i % 7}`, { account: `k${i % 7}`, seq: i });
    const result = await h.drive(wb.close({ deadlineMs: 20 }));
    assert.deepEqual(result, { drained: false, remaining: 100 });
    await journal.close();

    journal = await SqliteJournal.open(path);
    const up = new MemorySink<Row>({ mode: 'insert' });
    wb = await h.open<Row>({ journal, sink: up, ...fast });
    await h.drive(wb.flush());
    assert.equal(wb.metrics().backlog, 0);
    assert.equal(up.rows.size, 100);
    assert.deepEqual(await h.drive(wb.close()), { drained: true, remaining: 0 });
    assert.equal(await journal.committed('write-behind'), 100);
    await journal.close();
  },
);

test('coalesce: within a batch only the last entry of each key is written', within, async () => {
  const sink = new MemorySink<Row>({ mode: 'insert' });
  const wb = await h.open<Row>({
    journal: new MemoryJournal(),
    sink,
    workers: 1,
    coalesce: true,
    batch: { maxSize: 100, maxDelayMs: 5 },
  });
  const writes = [];
  for (let i = 0; i < 30; i++) writes.push(wb.write(`k${i % 3}`, { account: `k${i % 3}`, seq: i }));
  await Promise.all(writes);
  await h.drive(wb.flush());
  const written = sink.batches.flat();
  assert.ok(written.length < 30, `coalesced ${written.length} of 30`);
  assert.deepEqual(
    [...new Set(written.map((e) => e.key))]
      .sort()
      .map((k) => Math.max(...written.filter((e) => e.key === k).map((e) => e.value.seq))),
    [27, 28, 29],
  );
  assert.equal(wb.metrics().backlog, 0);
  await h.drive(wb.close());
});

test(
  "journal: 'memory' runs the same pipeline and truncates what reached the sink",
  within,
  async () => {
    const sink = new MemorySink<Row>();
    const wb = await h.open<Row>({ journal: 'memory', sink, ...fast });
    for (let i = 0; i < 200; i++) await wb.write(`k${i % 5}`, { account: `k${i % 5}`, seq: i });
    await h.drive(wb.flush());
    await h.clock.advance(5); // the checkpoint commit that truncates follows the flush
    const stats = await wb.stats();
    assert.ok(stats.entries < 200, `${stats.entries} entries still held`);
    assert.equal(sink.rows.size, 5);
    await h.drive(wb.close());
  },
);

test('.close() refuses new writes with ClosedError and is idempotent', within, async () => {
  const wb = await h.open({
    journal: new MemoryJournal(),
    sink: new MemorySink(),
    ...fast,
  });
  await wb.write('a', 1);
  const first = wb.close();
  assert.equal(wb.close(), first);
  await assert.rejects(wb.write('b', 2), ClosedError);
  assert.deepEqual(await h.drive(first), { drained: true, remaining: 0 });
});

test(
  'writeAndWait() of a dead-lettered entry rejects with DeadLetteredError, the sink error as cause',
  within,
  async () => {
    const refusal = new RangeError('never');
    const sink = new MemorySink<number>({
      check: () => {
        throw refusal;
      },
    });
    const wb = await h.open<number>({ journal: new MemoryJournal(), sink, ...fast });
    await assert.rejects(
      h.drive(wb.writeAndWait('k', 1)),
      (e: unknown) =>
        e instanceof DeadLetteredError &&
        e.cause === refusal &&
        e.position === 1 &&
        e.key === 'k' &&
        /never/.test(e.message),
    );
    await h.drive(wb.close());
  },
);

test(
  'after close(): flush() rejects with ClosedError, and a writeAndWait left unfinished rejects instead of hanging',
  within,
  async () => {
    const down = downSink();
    const wb = await h.open<Row>({ journal: new MemoryJournal(), sink: down, ...fast });
    const waiting = wb.writeAndWait('k', { account: 'k', seq: 1 });
    h.track(waiting); // must settle by the end, though close() left it unfinished
    const result = await h.drive(wb.close({ deadlineMs: 20 }));
    assert.deepEqual(result, { drained: false, remaining: 1 });
    await assert.rejects(waiting, ClosedError);
    await assert.rejects(wb.flush(), ClosedError);
  },
);

test('close() returns though another writer keeps appending to the journal', within, async () => {
  const journal = new MemoryJournal();
  const sink = new MemorySink<Row>();
  const wb = await h.open<Row>({ journal, sink, ...fast });
  await wb.write('k', { account: 'k', seq: 0 });
  // Another writer appends every millisecond, all through close().
  let n = 1;
  let other: Timer | undefined;
  const append = (): void => {
    void journal.append([{ key: 'other', payload: { account: 'other', seq: n++ } }]);
    other = h.clock.setTimer(append, 1);
  };
  append();
  try {
    const result = await h.drive(wb.close());
    assert.equal(result.drained, true);
    assert.ok(sink.rows.has('k'), 'its own write landed');
    assert.ok(n > 2, `the other writer appended during close() (${n - 1} appends)`);
  } finally {
    other?.cancel();
  }
});
