import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, QueueFullError } from '../../src/index.js';
import { Admission, type Fullness } from '../../src/core/write-behind/admission.js';

/** A backlog of `capacity` entries; `used` of them taken by entries already written. */
function backlog(capacity: number, overflow: 'wait' | 'reject' = 'wait') {
  const state = { used: 0, closed: false };
  const admission = new Admission({
    overflow,
    maxBacklog: capacity,
    maxBacklogBytes: Infinity,
    full: (appending: number): Fullness =>
      state.used + appending >= capacity ? 'entries' : undefined,
    check: () => {
      if (state.closed) throw new ClosedError('closed');
    },
  });
  return { admission, state };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('Admission: room is taken at once without a promise; past the bound writers wait in line and are let in, in order, as room frees', async () => {
  const { admission, state } = backlog(3);
  assert.equal(admission.enter(), undefined);
  assert.equal(admission.enter(), undefined);
  assert.equal(admission.enter(), undefined);
  const order: number[] = [];
  const waits = [1, 2, 3, 4].map((i) => admission.enter()?.then(() => order.push(i)));
  assert.ok(waits.every((w) => w !== undefined));
  assert.equal(admission.waiting, 4);
  // The three appends settle, their entries written (they now use the backlog): still full.
  state.used = 3;
  for (let i = 0; i < 3; i++) admission.leave();
  await settle();
  assert.deepEqual(order, []);
  // Two entries finish: exactly two writers are let in, the first two in line.
  state.used = 1;
  admission.wake();
  await settle();
  assert.deepEqual(order, [1, 2]);
  assert.equal(admission.waiting, 2);
  assert.equal(admission.appending, 2);
  // An append that adds nothing to the backlog (a known id) frees its room as it settles.
  admission.leave();
  await settle();
  assert.deepEqual(order, [1, 2, 3]);
  state.used = 0;
  admission.wake();
  await Promise.all(waits);
  assert.deepEqual(order, [1, 2, 3, 4]);
});

test('Admission: a large write at the front is not passed by small ones behind it', async () => {
  const { admission, state } = backlog(10);
  state.used = 9;
  const order: string[] = [];
  const big = admission.enter(5)?.then(() => order.push('big'));
  const small = admission.enter(1)?.then(() => order.push('small'));
  admission.wake(); // room for one: the big write waits, and so does the one behind it
  await settle();
  assert.deepEqual(order, []);
  state.used = 0;
  admission.wake();
  await Promise.all([big, small]);
  assert.deepEqual(order, ['big', 'small']);
});

test('Admission: when the pipeline stops, every writer in line rejects with why', async () => {
  const { admission, state } = backlog(1);
  assert.equal(admission.enter(), undefined);
  const waiting = [admission.enter(), admission.enter()];
  state.closed = true;
  admission.wake();
  for (const w of waiting) await assert.rejects(w as Promise<void>, ClosedError);
  assert.equal(admission.waiting, 0);
});

test("Admission: under overflow 'reject' a full backlog throws QueueFullError and nothing waits", () => {
  const { admission } = backlog(1, 'reject');
  assert.equal(admission.enter(), undefined);
  assert.throws(() => admission.enter(), QueueFullError);
  assert.equal(admission.waiting, 0);
});
