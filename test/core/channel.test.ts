import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Channel, ClosedError, ConfigError, ManualClock, QueueFullError } from '../../src/index.js';
import { settle, track } from '../helpers/flush-double.js';

test('.send() and .receive() pass items in order while there is room', async () => {
  const ch = new Channel<number>({ capacity: 4 });
  for (const n of [1, 2, 3]) assert.equal(await ch.send(n), true);
  assert.equal(await ch.receive(), 1);
  assert.equal(await ch.receive(), 2);
  assert.equal(await ch.receive(), 3);
  assert.deepEqual(ch.stats().accepted, 3);
});

test('.receive() waits for the next item', async () => {
  const ch = new Channel<string>({ capacity: 1 });
  const got = ch.receive();
  await ch.send('a');
  assert.equal(await got, 'a');
});

test('.send() waits while full (overflow wait) and enters in send order as room frees', async () => {
  const ch = new Channel<number>({ capacity: 2 });
  await ch.send(1);
  await ch.send(2);
  const order: number[] = [];
  const s3 = ch.send(3).then(() => order.push(3));
  const s4 = ch.send(4).then(() => order.push(4));
  await Promise.resolve();
  assert.deepEqual(order, []);
  assert.equal(ch.stats().waitingSenders, 2);
  assert.equal(await ch.receive(), 1);
  await s3;
  assert.deepEqual(order, [3]);
  assert.equal(ch.length, 2);
  assert.equal(await ch.receive(), 2);
  await s4;
  assert.deepEqual(await ch.receiveBatch(10, 0), [3, 4]);
});

test('.trySend() says no at once when full under wait, without queueing the item', () => {
  const ch = new Channel<number>({ capacity: 1 });
  assert.equal(ch.trySend(1), true);
  assert.equal(ch.trySend(2), false);
  assert.equal(ch.length, 1);
  assert.equal(ch.stats().waitingSenders, 0);
});

test('.send() rejects with QueueFullError when full under overflow reject', async () => {
  const ch = new Channel<number>({ capacity: 1, overflow: 'reject' });
  await ch.send(1);
  await assert.rejects(ch.send(2), (e: unknown) => {
    assert.ok(e instanceof QueueFullError);
    assert.equal(e.code, 'ERR_SLUICE_QUEUE_FULL');
    assert.equal(e.capacity, 1);
    return true;
  });
  assert.equal(ch.trySend(3), false);
  assert.equal(ch.stats().rejected, 1);
  assert.deepEqual(await ch.receiveBatch(5, 0), [1]);
});

test('overflow dropOldest drops the oldest item, counts it and reports it', async () => {
  const dropped: [number, string][] = [];
  const ch = new Channel<number>({
    capacity: 2,
    overflow: 'dropOldest',
    onDiscard: (item, reason) => dropped.push([item, reason]),
  });
  await ch.send(1);
  await ch.send(2);
  assert.equal(await ch.send(3), true);
  assert.equal(ch.trySend(4), true);
  assert.deepEqual(dropped, [
    [1, 'dropOldest'],
    [2, 'dropOldest'],
  ]);
  assert.equal(ch.stats().dropped.dropOldest, 2);
  assert.deepEqual(await ch.receiveBatch(5, 0), [3, 4]);
});

test('overflow dropNewest drops the item being sent, counts it and reports it', async () => {
  const dropped: [number, string][] = [];
  const ch = new Channel<number>({
    capacity: 1,
    overflow: 'dropNewest',
    onDiscard: (item, reason) => dropped.push([item, reason]),
  });
  await ch.send(1);
  assert.equal(await ch.send(2), false);
  assert.equal(ch.trySend(3), false);
  assert.deepEqual(dropped, [
    [2, 'dropNewest'],
    [3, 'dropNewest'],
  ]);
  assert.equal(ch.stats().dropped.dropNewest, 2);
  assert.deepEqual(await ch.receiveBatch(5, 0), [1]);
});

test('.send() aborted while waiting for room is not sent', async () => {
  const ch = new Channel<number>({ capacity: 1 });
  await ch.send(1);
  const ac = new AbortController();
  const waiting = ch.send(2, { signal: ac.signal });
  ac.abort(new Error('gave up'));
  await assert.rejects(waiting, /gave up/);
  assert.equal(ch.stats().waitingSenders, 0);
  assert.equal(await ch.receive(), 1);
  await ch.send(3);
  assert.deepEqual(await ch.receiveBatch(5, 0), [3]);
});

test('.receiveBatch() returns at once when max items are buffered', async () => {
  const clock = new ManualClock();
  const ch = new Channel<number>({ capacity: 10, clock });
  for (let i = 0; i < 5; i++) ch.trySend(i);
  assert.deepEqual(await ch.receiveBatch(3, 1000), [0, 1, 2]);
  assert.equal(clock.pendingTimers, 0);
});

test('.receiveBatch() waits maxWaitMs from the first item, not from the call', async () => {
  const clock = new ManualClock();
  const ch = new Channel<number>({ capacity: 10, clock });
  let got: number[] | undefined;
  void ch.receiveBatch(5, 100).then((b) => (got = b));
  await clock.advance(1000); // no item yet: nothing is due, however long it waits
  assert.equal(got, undefined);
  ch.trySend(1);
  await clock.advance(99);
  ch.trySend(2);
  await clock.advance(0);
  assert.equal(got, undefined);
  await clock.advance(1);
  assert.deepEqual(got, [1, 2]);
});

test('.receiveBatch() serves receivers first come, first served', async () => {
  const clock = new ManualClock();
  const ch = new Channel<number>({ capacity: 10, clock });
  const first = ch.receiveBatch(3, 50);
  const second = ch.receiveBatch(1, 0);
  ch.trySend(1);
  ch.trySend(2);
  ch.trySend(3);
  ch.trySend(4);
  assert.deepEqual(await first, [1, 2, 3]);
  assert.deepEqual(await second, [4]);
});

test('.receiveBatch() aborted by its signal rejects and takes nothing', async () => {
  const ch = new Channel<number>({ capacity: 10 });
  const ac = new AbortController();
  const r = ch.receiveBatch(2, 0, { signal: ac.signal });
  ac.abort(new Error('stop'));
  await assert.rejects(r, /stop/);
  ch.trySend(7);
  assert.equal(await ch.receive(), 7);
});

test('.close() rejects waiting senders and lets receivers drain what is left', async () => {
  const ch = new Channel<number>({ capacity: 2 });
  await ch.send(1);
  await ch.send(2);
  const waiting = ch.send(3);
  const closed = track(ch.close());
  assert.equal(ch.close(), ch.close(), 'idempotent: the first promise again');
  assert.equal(ch.state, 'closing');
  await assert.rejects(waiting, ClosedError);
  await assert.rejects(ch.send(4), ClosedError);
  assert.throws(() => ch.trySend(5), ClosedError);
  assert.deepEqual(await ch.receiveBatch(1, 0), [1]);
  await settle();
  assert.equal(closed.state, 'pending', 'an item is still buffered');
  assert.equal(await ch.receive(), 2);
  await settle();
  assert.deepEqual(closed.value, { drained: true, remaining: 0 });
  assert.equal(ch.state, 'closed');
  await assert.rejects(ch.receive(), ClosedError);
  assert.deepEqual(await ch.receiveBatch(5, 10), []);
});

test('.close() wakes a receiver that waits on an empty channel and resolves at once', async () => {
  const ch = new Channel<number>({ capacity: 2 });
  const r = ch.receiveBatch(5, 10);
  assert.deepEqual(await ch.close(), { drained: true, remaining: 0 });
  assert.deepEqual(await r, []);
});

test('.close({ deadlineMs }) resolves at the deadline with what is left, which stays receivable', async () => {
  const clock = new ManualClock();
  const ch = new Channel<number>({ capacity: 4, clock });
  for (const n of [1, 2, 3]) ch.trySend(n);
  const closed = track(ch.close({ deadlineMs: 100 }));
  assert.equal(await ch.receive(), 1);
  await clock.advance(99);
  assert.equal(closed.state, 'pending');
  await clock.advance(1);
  assert.deepEqual(closed.value, { drained: false, remaining: 2 });
  assert.equal(ch.state, 'closed');
  assert.equal(clock.pendingTimers, 0);
  assert.deepEqual(await ch.receiveBatch(5, 0), [2, 3], 'not discarded: still receivable');
  assert.deepEqual(await ch.receiveBatch(5, 0), []);
});

test('.close({ deadlineMs }) that drains in time resolves drained and cancels its timer', async () => {
  const clock = new ManualClock();
  const ch = new Channel<number>({ capacity: 4, clock });
  ch.trySend(1);
  const closed = track(ch.close({ deadlineMs: 100 }));
  await clock.advance(10);
  assert.equal(await ch.receive(), 1);
  await settle();
  assert.deepEqual(closed.value, { drained: true, remaining: 0 });
  assert.equal(clock.pendingTimers, 0);
});

test('.close() refuses an unknown or bad option, naming it', () => {
  const ch = new Channel<number>({ capacity: 1 });
  assert.throws(
    () => void ch.close({ deadline: 5 } as never),
    (e: unknown) => e instanceof ConfigError && /did you mean `deadlineMs`\?/.test(e.message),
  );
  assert.throws(() => void ch.close({ deadlineMs: -1 }), /`deadlineMs`/);
  assert.equal(ch.state, 'open', 'a refused close does not close');
});

test('.close({ deadlineMs: Infinity }) is the default spelled out: no deadline', async () => {
  const ch = new Channel<number>({ capacity: 1 });
  ch.trySend(1);
  const closing = ch.close({ deadlineMs: Infinity });
  assert.deepEqual(await ch.receiveBatch(1, 0), [1]);
  await closing;
  assert.equal(ch.state, 'closed');
});

test('.drain() resolves at once when empty, else once receivers took everything; keeps accepting', async () => {
  const ch = new Channel<number>({ capacity: 1 });
  await ch.drain();
  ch.trySend(1);
  const waitingSender = track(ch.send(2));
  const drained = track(ch.drain());
  assert.equal(await ch.receive(), 1);
  await settle();
  assert.equal(waitingSender.state, 'resolved');
  assert.equal(drained.state, 'pending', 'the item of the waiting sender is buffered now');
  assert.equal(ch.trySend(3), false, 'full, but still accepting');
  assert.equal(await ch.receive(), 2);
  await settle();
  assert.equal(drained.state, 'resolved');
  assert.equal(ch.state, 'open');
  assert.equal(ch.trySend(4), true);
});

test('[Symbol.asyncDispose]() closes the channel once receivers took what is left', async () => {
  const seen: number[] = [];
  let channel: Channel<number> | undefined;
  {
    await using ch = new Channel<number>({ capacity: 3 });
    channel = ch;
    ch.trySend(1);
    ch.trySend(2);
    void (async () => {
      for await (const n of ch) seen.push(n);
    })();
  }
  assert.deepEqual(seen, [1, 2]);
  assert.equal(channel.state, 'closed');
});

test('async iteration yields every item and ends when closed and drained', async () => {
  const ch = new Channel<number>({ capacity: 3 });
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const n of ch) seen.push(n);
  })();
  for (let i = 0; i < 10; i++) await ch.send(i);
  await ch.close();
  await consumer;
  assert.deepEqual(
    seen,
    Array.from({ length: 10 }, (_, i) => i),
  );
});

test('new Channel() refuses bad options with a ConfigError naming them', () => {
  assert.throws(
    () => new Channel({ capacity: 0 }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'Expected `capacity` to be an integer >= 1, got `0` (number)',
  );
  assert.throws(
    () => new Channel({ capacity: 1, overflow: 'drop' as 'wait' }),
    /Expected `overflow` to be one of 'wait' \| 'reject' \| 'dropOldest' \| 'dropNewest', got `"drop"` \(string\)/,
  );
  const ch = new Channel<number>({ capacity: 1 });
  assert.throws(() => void ch.receiveBatch(0, 0), ConfigError);
});

test('new Channel() refuses a misspelled option, a bad clock and a non-function onDiscard', () => {
  assert.throws(
    () => new Channel({ capcity: 4 } as never),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.option === 'capcity' &&
      /Unknown option `capcity` in Channel options; did you mean `capacity`\?/.test(e.message),
  );
  assert.throws(
    () => new Channel({ capacity: 1, clock: 'now' as never }),
    /Expected `clock` to be an object with now\(\), setTimer\(\), got `"now"` \(string\)/,
  );
  assert.throws(
    () => new Channel({ capacity: 1, onDiscard: 'log' as never }),
    /Expected `onDiscard` to be a function, got `"log"` \(string\)/,
  );
});
