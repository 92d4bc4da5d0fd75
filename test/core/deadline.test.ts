import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/index.js';
import { withinDeadline } from '../../src/core/deadline.js';

test('withinDeadline() resolves true when the work finishes first, and leaves no timer', async () => {
  const clock = new ManualClock();
  assert.equal(await withinDeadline(Promise.resolve(), 100, clock), true);
  assert.equal(clock.pendingTimers, 0);
});

test('withinDeadline() resolves false once the deadline passes first', async () => {
  const clock = new ManualClock();
  const result = withinDeadline(new Promise(() => {}), 100, clock);
  await clock.advance(99);
  assert.equal(clock.pendingTimers, 1);
  await clock.advance(1);
  assert.equal(await result, false);
  assert.equal(clock.pendingTimers, 0);
});

test('withinDeadline() passes on a rejection that comes before the deadline', async () => {
  const clock = new ManualClock();
  await assert.rejects(withinDeadline(Promise.reject(new Error('boom')), 100, clock), /boom/);
  assert.equal(clock.pendingTimers, 0);
});

test('withinDeadline() with Infinity waits for the work and sets no timer', async () => {
  const clock = new ManualClock();
  let release!: () => void;
  const work = new Promise<void>((resolve) => (release = resolve));
  const result = withinDeadline(work, Infinity, clock);
  assert.equal(clock.pendingTimers, 0);
  release();
  assert.equal(await result, true);
});
