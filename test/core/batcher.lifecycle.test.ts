import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BatchError,
  Batcher,
  ClosedError,
  ConfigError,
  ManualClock,
  TimeoutError,
} from '../../src/index.js';
import { FlushDouble, settle, track } from '../helpers/flush-double.js';
import { trackedBatchers } from '../helpers/tracked-batchers.js';

const tracked = trackedBatchers();
const make = tracked.make;

test('.flush() sends a partial batch at once and resolves when it has settled', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxDelayMs: 1000 });
  void b.submit(1);
  void b.submit(2);
  const flushed = track(b.flush());
  await settle();
  assert.deepEqual(d.only().items, [1, 2]);
  assert.equal(flushed.state, 'pending');
  d.only().resolve();
  await settle();
  assert.equal(flushed.state, 'resolved');
  await b.flush(); // nothing buffered: resolves at once
});

test('.flush() also waits for a flush already in flight and does not reorder', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 2, maxDelayMs: 1000 });
  for (const n of [1, 2, 3]) void b.submit(n);
  const flushed = track(b.flush());
  await settle();
  assert.deepEqual(d.only().items, [1, 2]);
  d.only().resolve();
  await settle();
  assert.deepEqual(d.only().items, [3]);
  assert.equal(flushed.state, 'pending');
  d.only().resolve();
  await settle();
  assert.equal(flushed.state, 'resolved');
});

test('.flush() keeps accepting: a later submit waits for its own batch, not for this flush', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxDelayMs: 1000 });
  void b.submit(1);
  const flushed = track(b.flush());
  const later = track(b.submit(2));
  await settle();
  assert.deepEqual(d.only().items, [1]);
  d.only().resolve();
  await settle();
  assert.equal(flushed.state, 'resolved', 'does not wait for the item submitted after it');
  assert.equal(later.state, 'pending');
  assert.equal(d.open.length, 0, 'the later item waits for its delay');
  assert.equal(b.state, 'open');
  await tracked.clock.advance(1000);
  d.only().resolve();
  await settle();
  assert.equal(later.state, 'resolved');
});

test('.flush() resolves once the batch has settled, also when its flush failed', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxDelayMs: 1000 });
  const p = track(b.submit(1));
  const flushed = track(b.flush());
  await settle();
  d.only().reject(new Error('disk full'));
  await settle();
  assert.ok(p.error instanceof BatchError, 'the caller gets the failure');
  assert.equal(flushed.state, 'resolved');
});

test('.drain() resolves once nothing is buffered or in flight, at once when idle', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  await b.drain();
  void b.submit(1);
  const drained = track(b.drain());
  await tracked.clock.advance(10);
  assert.equal(drained.state, 'pending');
  d.only().resolve();
  await settle();
  assert.equal(drained.state, 'resolved');
});

test('.close() flushes what is buffered, then rejects new submits with ClosedError', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxDelayMs: 60_000 });
  const p = track(b.submit(1));
  const closed = b.close();
  assert.equal(b.close(), closed, 'idempotent');
  await settle();
  assert.deepEqual(d.only().items, [1]);
  await assert.rejects(b.submit(2), (e: unknown) => e instanceof ClosedError);
  d.only().resolve();
  assert.deepEqual(await closed, { drained: true, abandoned: 0 });
  assert.equal(p.state, 'resolved');
});

test('.close() also flushes submits that were waiting for room', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 1, maxPending: 1 });
  const ps = [1, 2].map((n) => track(b.submit(n)));
  const closed = b.close();
  d.only().resolve();
  await settle();
  d.only().resolve();
  assert.deepEqual(await closed, { drained: true, abandoned: 0 });
  assert.ok(ps.every((p) => p.state === 'resolved'));
});

test('.close() gives up at its deadline: in flight → TimeoutError, not flushed → ClosedError', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 2, maxPending: 4 });
  const ps = [1, 2, 3, 4, 5].map((n) => track(b.submit(n)));
  const closed = track(b.close({ deadlineMs: 500 }));
  await tracked.clock.advance(499);
  assert.equal(closed.state, 'pending');
  const hung = d.only();
  await tracked.clock.advance(1);
  assert.deepEqual(closed.value, { drained: false, abandoned: 5 });
  assert.equal(hung.context.signal.aborted, true, 'the hung flush is told to stop');
  for (const p of ps.slice(0, 2)) assert.ok(p.error instanceof TimeoutError);
  for (const p of ps.slice(2)) assert.ok(p.error instanceof ClosedError);
  hung.resolve(); // arriving late changes nothing
  await settle();
  assert.ok(ps.every((p) => p.state === 'rejected'));
  assert.equal(b.stats().abandoned, 5);
});

test('.close() goes open → closing → closed', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  assert.equal(b.state, 'open');
  void b.submit(1);
  const closed = b.close();
  assert.equal(b.state, 'closing');
  await settle();
  d.only().resolve();
  await closed;
  assert.equal(b.state, 'closed');
});

test('.close() refuses an unknown or bad option, naming it, and stays open', () => {
  const b = make<number>({ flush: () => {} });
  assert.throws(
    () => void b.close({ deadline: 10 } as never),
    (e: unknown) =>
      e instanceof ConfigError &&
      /Unknown option `deadline` in Batcher.close\(\) options; did you mean `deadlineMs`\?/.test(
        e.message,
      ),
  );
  assert.throws(() => void b.close({ deadlineMs: -5 }), /`deadlineMs`/);
  assert.equal(b.state, 'open');
});

test('[Symbol.asyncDispose]() closes the batcher', async () => {
  const flushed: number[][] = [];
  const clock = new ManualClock();
  {
    await using b = new Batcher<number>({
      maxSize: 10,
      maxDelayMs: 1000,
      clock,
      flush: (items) => void flushed.push(items),
    });
    void b.submit(1);
  }
  assert.deepEqual(flushed, [[1]]);
});
