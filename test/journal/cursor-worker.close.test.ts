import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CursorWorker, ManualClock, MemoryJournal, TimeoutError } from '../../src/index.js';
import { Deliveries, journalWith } from '../helpers/deliveries.js';
import { settle, track, until } from '../helpers/flush-double.js';

test('.close() lets the batch in the handler finish and commit, then releases the consumer', async () => {
  const journal = await journalWith(3);
  const d = new Deliveries();
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', batchSize: 1, clock: new ManualClock() },
    d.handler,
  );
  await d.next(1);
  const closed = track(worker.close());
  assert.equal(worker.close(), worker.close(), 'idempotent: the first promise again');
  assert.equal(worker.state, 'closing');
  await settle();
  assert.equal(closed.state, 'pending', 'the handler is still running');
  d.ok();
  await settle();
  assert.deepEqual(closed.value, { drained: true });
  await worker.join();
  assert.equal(worker.state, 'stopped');
  assert.deepEqual(d.seen, [[1]], 'no batch read after close');
  assert.equal(await journal.committed('c'), 1);
  const next = await journal.acquire('c');
  await next.release();
});

test('.close() ends an idle worker at once', async () => {
  const clock = new ManualClock();
  const worker = CursorWorker.start(new MemoryJournal(), { consumer: 'c', clock }, () => {});
  await until(() => clock.pendingTimers === 1, 'the worker to park');
  assert.deepEqual(await worker.close({ deadlineMs: 1000 }), { drained: true });
  await worker.join();
  assert.equal(worker.state, 'stopped');
  assert.equal(clock.pendingTimers, 0, 'no idle or deadline timer left');
});

test('.close({ deadlineMs }) with the handler done within the deadline commits it: drained', async () => {
  const clock = new ManualClock();
  const journal = await journalWith(2);
  const d = new Deliveries();
  const worker = CursorWorker.start(journal, { consumer: 'c', batchSize: 1, clock }, d.handler);
  await d.next(1);
  const closed = track(worker.close({ deadlineMs: 500 }));
  await clock.advance(499);
  d.ok();
  await settle();
  assert.deepEqual(closed.value, { drained: true });
  assert.equal(await journal.committed('c'), 1);
  assert.equal(clock.pendingTimers, 0);
});

test('.close({ deadlineMs }) with the handler still running at the deadline: its signal aborts, nothing is committed, the consumer is released', async () => {
  const clock = new ManualClock();
  const journal = await journalWith(2);
  let signal: AbortSignal | undefined;
  let finish: (() => void) | undefined;
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', batchSize: 1, clock },
    (_batch, context) =>
      new Promise<void>((resolve) => {
        signal = context.signal;
        finish = resolve; // never called by the handler itself: it ignores its signal
      }),
  );
  await until(() => signal !== undefined, 'the first delivery');
  assert.equal(signal?.aborted, false);
  const closed = track(worker.close({ deadlineMs: 500 }));
  await clock.advance(499);
  assert.equal(closed.state, 'pending');
  await clock.advance(1);
  await settle();
  assert.deepEqual(closed.value, { drained: false });
  assert.equal(signal?.aborted, true);
  assert.ok(signal?.reason instanceof TimeoutError);
  assert.equal(worker.state, 'stopped');
  await worker.join();
  assert.equal(await journal.committed('c'), 0, 'the abandoned batch is delivered again later');
  const next = await journal.acquire('c'); // the hold was released
  finish?.(); // a late finish changes nothing
  await settle();
  assert.equal(await journal.committed('c'), 0);
  await next.release();
});

test('.close({ deadlineMs }) ignores a handler that fails after the deadline', async () => {
  const clock = new ManualClock();
  const journal = await journalWith(1);
  const d = new Deliveries();
  const restarts: unknown[] = [];
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', clock, onRestart: (e) => restarts.push(e) },
    d.handler,
  );
  await d.next(1);
  const closing = worker.close({ deadlineMs: 10 });
  await clock.advance(10);
  assert.deepEqual(await closing, { drained: false });
  d.fail('aborted late');
  await settle();
  await worker.join();
  assert.deepEqual(restarts, [], 'no restart after close');
});

test('[Symbol.asyncDispose]() closes the worker', async () => {
  const clock = new ManualClock();
  let worker: CursorWorker | undefined;
  {
    await using w = CursorWorker.start(new MemoryJournal(), { consumer: 'c', clock }, () => {});
    worker = w;
    await until(() => clock.pendingTimers === 1, 'the worker to park');
  }
  assert.equal(worker.state, 'stopped');
});

test('.close() refuses an unknown close option, naming the nearest one', async () => {
  const clock = new ManualClock();
  const worker = CursorWorker.start(new MemoryJournal(), { consumer: 'c', clock }, () => {});
  assert.throws(() => void worker.close({ deadline: 5 } as never), /did you mean `deadlineMs`\?/);
  assert.equal(worker.state, 'running');
  await worker.close();
});
