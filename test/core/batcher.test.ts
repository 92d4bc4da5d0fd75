import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchError, ClosedError, QueueFullError } from '../../src/index.js';
import { FlushDouble, settle, track } from '../helpers/flush-double.js';
import { trackedBatchers } from '../helpers/tracked-batchers.js';

const tracked = trackedBatchers();
const make = tracked.make;

test('.submit() flushes at once when maxSize items are buffered', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  const ps = [1, 2, 3].map((n) => track(b.submit(n)));
  assert.equal(d.calls.length, 1);
  assert.deepEqual(d.only().items, [1, 2, 3]);
  d.only().resolve();
  await settle();
  assert.deepEqual(
    ps.map((p) => p.state),
    ['resolved', 'resolved', 'resolved'],
  );
  assert.equal(ps[0]?.value, undefined);
});

test('.submit() flushes maxDelayMs after the first item of the batch', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  void b.submit(1);
  await tracked.clock.advance(6);
  void b.submit(2);
  await tracked.clock.advance(3);
  assert.equal(d.calls.length, 0);
  await tracked.clock.advance(1);
  assert.deepEqual(d.only().items, [1, 2]);
  d.only().resolve();
});

test('an idle batcher arms no timer and never flushes', async () => {
  const d = new FlushDouble<number>();
  make<number>({ flush: d.flush });
  await tracked.clock.advance(60_000);
  assert.equal(d.calls.length, 0);
  assert.equal(tracked.clock.pendingTimers, 0);
});

test('.submit() during a flush goes to the next batch; order is kept across batches', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  for (const n of [1, 2, 3]) void b.submit(n);
  for (const n of [4, 5, 6, 7]) void b.submit(n);
  assert.equal(d.calls.length, 1, 'one flush at a time by default');
  d.only().resolve();
  await settle();
  assert.deepEqual(d.only().items, [4, 5, 6]);
  d.only().resolve();
  await settle();
  assert.equal(d.open.length, 0, '7 waits for its delay');
  await tracked.clock.advance(10);
  assert.deepEqual(d.only().items, [7]);
  d.only().resolve();
  assert.deepEqual(
    d.calls.flatMap((c) => c.items),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

test('a batch that fell due during a flush goes out as soon as the flush settles', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  for (const n of [1, 2, 3, 4]) void b.submit(n);
  await tracked.clock.advance(50);
  assert.equal(d.calls.length, 1);
  d.only().resolve();
  await settle();
  assert.deepEqual(d.only().items, [4]);
  d.only().resolve();
});

test('a timer that fires while a flush is in flight neither re-issues nor cancels it', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 2 });
  void b.submit(1);
  await tracked.clock.advance(10);
  const first = d.only();
  void b.submit(2);
  await tracked.clock.advance(100);
  assert.equal(d.calls.length, 1);
  assert.equal(first.context.signal.aborted, false);
  first.resolve();
  await settle();
  assert.deepEqual(d.only().items, [2]);
  d.only().resolve();
});

test('.submit() gets its own slot of the flush result; an Error slot rejects only its caller', async () => {
  const d = new FlushDouble<string, number>();
  const b = make<string, number>({ flush: d.flush });
  const a = track(b.submit('a'));
  const bad = track(b.submit('bad'));
  const c = track(b.submit('c'));
  d.only().resolve([1, new RangeError('bad row'), 3]);
  await settle();
  assert.equal(a.value, 1);
  assert.equal(c.value, 3);
  assert.equal(bad.state, 'rejected');
  assert.ok(bad.error instanceof RangeError);
  assert.deepEqual(
    { flushed: b.stats().flushed, failed: b.stats().failed },
    { flushed: 2, failed: 1 },
  );
});

test('.submit() rejects the whole batch with a TypeError when flush returns the wrong length', async () => {
  const d = new FlushDouble<number, number>();
  const b = make<number, number>({ flush: d.flush });
  const ps = [1, 2, 3].map((n) => track(b.submit(n)));
  d.only().resolve([1, 2]);
  await settle();
  for (const p of ps) {
    assert.equal(p.state, 'rejected');
    assert.ok(p.error instanceof TypeError);
    assert.match(
      p.error.message,
      /must return nothing or an array with one result per item, in order: got 2 results for 3 items/,
    );
  }
  const next = track(b.submit(4));
  await tracked.clock.advance(10);
  d.only().resolve([40]);
  await settle();
  assert.equal(next.value, 40, 'the batcher keeps serving');
});

test('.submit() rejects exactly the callers of a batch whose flush throws, with BatchError', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  const first = [1, 2, 3].map((n) => track(b.submit(n)));
  const second = [4, 5].map((n) => track(b.submit(n)));
  const cause = new Error('connection reset');
  d.only().reject(cause);
  await settle();
  for (const p of first) {
    assert.ok(p.error instanceof BatchError);
    assert.equal(p.error.cause, cause);
    assert.equal(p.error.code, 'ERR_SLUICE_BATCH');
    assert.equal(p.error.batchSize, 3);
  }
  assert.deepEqual(
    second.map((p) => p.state),
    ['pending', 'pending'],
  );
  await tracked.clock.advance(10);
  d.only().resolve();
  await settle();
  assert.deepEqual(
    second.map((p) => p.state),
    ['resolved', 'resolved'],
  );
});

test('.submit() of a synchronous flush that throws rejects with BatchError too', async () => {
  const b = make<number>({
    flush: () => {
      throw new Error('sync boom');
    },
  });
  const p = track(b.submit(1));
  await tracked.clock.advance(10);
  assert.ok(p.error instanceof BatchError);
  assert.match(p.error.message, /sync boom/);
});

test('.submit() waits when maxPending items are buffered or in flight, then enters in order', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 2, maxPending: 4 });
  const ps = [1, 2, 3, 4, 5, 6].map((n) => track(b.submit(n)));
  assert.equal(b.stats().pending, 4);
  assert.equal(b.stats().waiting, 2);
  d.only().resolve();
  await settle();
  assert.equal(b.stats().pending, 4, 'the two waiting submits took the freed room');
  assert.equal(b.stats().waiting, 0);
  d.only().resolve();
  await settle();
  d.only().resolve();
  await settle();
  assert.deepEqual(
    d.calls.map((c) => c.items),
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
  );
  assert.ok(ps.every((p) => p.state === 'resolved'));
});

test(".submit() rejects with QueueFullError at maxPending when overflow is 'reject'", async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 2, maxPending: 2, overflow: 'reject' });
  void b.submit(1);
  void b.submit(2);
  await assert.rejects(b.submit(3), (e: unknown) => e instanceof QueueFullError);
  assert.equal(b.stats().rejected, 1);
  d.only().resolve();
  await settle();
  const later = track(b.submit(4));
  await tracked.clock.advance(10);
  d.only().resolve();
  await settle();
  assert.equal(later.state, 'resolved');
});

test('.submit() aborted before its flush is removed and never flushed', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  const ac = new AbortController();
  const aborted = track(b.submit(1, { signal: ac.signal }));
  void b.submit(2);
  ac.abort(new Error('request cancelled'));
  await settle();
  assert.equal(aborted.state, 'rejected');
  assert.match((aborted.error as Error).message, /request cancelled/);
  void b.submit(3);
  // The batch the aborted item was admitted to goes out without it.
  assert.deepEqual(d.only().items, [2, 3]);
  d.only().resolve();
  assert.equal(b.stats().aborted, 1);
  assert.equal(b.stats().pending, 2);
});

test('.submit() with an already aborted signal rejects at once', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush });
  await assert.rejects(
    b.submit(1, { signal: AbortSignal.abort(new Error('too late')) }),
    /too late/,
  );
  assert.equal(b.stats().submitted, 0);
});

test('.submit() aborted after its item was handed to a flush still gets the flush outcome', async () => {
  const d = new FlushDouble<number, string>();
  const b = make<number, string>({ flush: d.flush, maxSize: 1 });
  const ac = new AbortController();
  const p = track(b.submit(1, { signal: ac.signal }));
  ac.abort();
  d.only().resolve(['written']);
  await settle();
  assert.equal(p.value, 'written');
});

test('.submit() aborted while waiting for room is never flushed', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 1, maxPending: 1 });
  void b.submit(1);
  const ac = new AbortController();
  const waiting = track(b.submit(2, { signal: ac.signal }));
  void b.submit(3);
  ac.abort(new Error('no longer needed'));
  await settle();
  assert.equal(waiting.state, 'rejected');
  d.only().resolve();
  await settle();
  d.only().resolve();
  assert.deepEqual(
    d.calls.map((c) => c.items),
    [[1], [3]],
  );
});

test('maxConcurrentFlushes lets that many flushes run at once, no more', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxSize: 1, maxConcurrentFlushes: 2 });
  for (const n of [1, 2, 3]) void b.submit(n);
  assert.deepEqual(
    d.open.map((c) => c.items),
    [[1], [2]],
  );
  d.calls[1]?.resolve();
  await settle();
  assert.deepEqual(
    d.open.map((c) => c.items),
    [[1], [3]],
  );
  for (const c of d.open) c.resolve();
});

test('retry: a flush that throws is retried with backoff and its callers resolve', async () => {
  const attempts: number[] = [];
  const b = make<number>({
    retry: { maxAttempts: 3, minDelayMs: 100, jitter: 'none' },
    flush: (_items, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error('ECONNRESET');
    },
  });
  const p = track(b.submit(1));
  await tracked.clock.advance(10);
  assert.deepEqual(attempts, [1]);
  await tracked.clock.advance(100);
  assert.deepEqual(attempts, [1, 2]);
  await tracked.clock.advance(200);
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.equal(p.state, 'resolved');
  assert.equal(b.stats().retries, 2);
  assert.equal(b.stats().batches, 1);
});

test('retry: a permanent error is not retried; exhausted retries reject with BatchError', async () => {
  let calls = 0;
  const b = make<number>({
    retry: { maxAttempts: 2, minDelayMs: 10, jitter: 'none' },
    isRetryable: (e) => (e as Error).message !== 'bad data',
    flush: (items) => {
      calls++;
      throw new Error(items[0] === 1 ? 'bad data' : 'timeout');
    },
  });
  const permanent = track(b.submit(1));
  await tracked.clock.advance(10);
  assert.equal(calls, 1);
  assert.equal((permanent.error as BatchError).attempts, 1);
  const transient = track(b.submit(2));
  await tracked.clock.advance(100);
  assert.equal(calls, 3);
  assert.ok(transient.error instanceof BatchError);
  assert.equal(transient.error.attempts, 2);
  assert.match(transient.error.message, /after 2 attempt\(s\): timeout/);
});

test('.stats() counts submitted, batches, flushed, failed and pending', async () => {
  const d = new FlushDouble<number, number>();
  const b = make<number, number>({ flush: d.flush });
  for (const n of [1, 2, 3, 4]) void b.submit(n).catch(() => {});
  assert.deepEqual(
    { s: b.stats().submitted, b: b.stats().batches, p: b.stats().pending, f: b.stats().inFlight },
    { s: 4, b: 1, p: 4, f: 3 },
  );
  d.only().resolve([1, new Error('x'), 3]);
  await settle();
  assert.deepEqual(
    { flushed: b.stats().flushed, failed: b.stats().failed, pending: b.stats().pending },
    { flushed: 2, failed: 1, pending: 1 },
  );
  await tracked.clock.advance(10);
  d.only().resolve([4]);
  await settle();
  assert.equal(b.stats().flushed, 3);
});

test('.enqueue() batches with submitted items in order; only a failure is reported, to onFailed', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, retry: { maxAttempts: 1 } });
  const failed: unknown[] = [];
  const onFailed = (error: unknown): void => void failed.push(error);
  b.enqueue(1, onFailed);
  const two = track(b.submit(2));
  b.enqueue(3, onFailed);
  assert.deepEqual(d.only().items, [1, 2, 3]);
  d.only().resolve();
  await settle();
  assert.equal(two.state, 'resolved');
  assert.equal(failed.length, 0);
  b.enqueue(4, onFailed);
  b.enqueue(5, onFailed);
  await tracked.clock.advance(10);
  d.only().reject(new Error('store down'));
  await settle();
  assert.equal(failed.length, 2);
  assert.ok(
    failed.every((e) => e instanceof BatchError && (e.cause as Error).message === 'store down'),
  );
});

test('.enqueue() past maxPending waits its turn, and after close() reports a ClosedError', async () => {
  const d = new FlushDouble<number>();
  const b = make<number>({ flush: d.flush, maxPending: 3 });
  const failed: unknown[] = [];
  const onFailed = (error: unknown): void => void failed.push(error);
  for (const n of [1, 2, 3, 4]) b.enqueue(n, onFailed);
  assert.deepEqual(d.only().items, [1, 2, 3]);
  d.only().resolve();
  await settle();
  await tracked.clock.advance(10);
  assert.deepEqual(d.only().items, [4], 'the fourth waited for room, then was flushed');
  d.only().resolve();
  const closing = b.close();
  b.enqueue(5, onFailed);
  await settle();
  assert.equal(failed.length, 1);
  assert.ok(failed[0] instanceof ClosedError);
  await closing;
});
