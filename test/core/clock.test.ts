import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, sleep, systemClock } from '../../src/index.js';

test('ManualClock.advance() fires due timers in order, each at its due time', async () => {
  const clock = new ManualClock(1000);
  const fired: [string, number][] = [];
  clock.setTimer(() => fired.push(['b', clock.now()]), 20);
  clock.setTimer(() => fired.push(['a', clock.now()]), 10);
  clock.setTimer(() => fired.push(['c', clock.now()]), 20);
  const late = clock.setTimer(() => fired.push(['never', clock.now()]), 5);
  late.cancel();
  await clock.advance(15);
  assert.deepEqual(fired, [['a', 1010]]);
  await clock.advance(5);
  assert.deepEqual(fired, [
    ['a', 1010],
    ['b', 1020],
    ['c', 1020],
  ]);
  assert.equal(clock.now(), 1020);
  assert.equal(clock.pendingTimers, 0);
});

test('ManualClock.advance() runs timers that callbacks schedule within the window', async () => {
  const clock = new ManualClock();
  const at: number[] = [];
  const again = (): void => {
    at.push(clock.now());
    if (at.length < 3) clock.setTimer(again, 10);
  };
  clock.setTimer(again, 10);
  await clock.advance(100);
  assert.deepEqual(at, [10, 20, 30]);
});

test('sleep() resolves after the delay on the given clock and rejects when aborted', async () => {
  const clock = new ManualClock();
  let done = false;
  const p = sleep(clock, 50).then(() => (done = true));
  await clock.advance(49);
  assert.equal(done, false);
  await clock.advance(1);
  await p;
  assert.equal(done, true);

  const ac = new AbortController();
  const aborted = sleep(clock, 50, ac.signal);
  ac.abort(new Error('cancelled'));
  await assert.rejects(aborted, /cancelled/);
  assert.equal(clock.pendingTimers, 0);
  await assert.rejects(sleep(clock, 1, ac.signal), /cancelled/);
});

test('systemClock.setTimer() with 0 delay fires on the next turn and can be cancelled', async () => {
  let fired = 0;
  const t = systemClock.setTimer(() => fired++, 0);
  t.cancel();
  await new Promise<void>((resolve) => systemClock.setTimer(resolve, 0));
  assert.equal(fired, 0);
  assert.ok(systemClock.now() > 0);
});
