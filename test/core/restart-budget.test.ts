import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ManualClock } from '../../src/index.js';
import { RestartBudget, resolveRestartPolicy } from '../../src/backend.js';

test("RestartBudget 'never' grants nothing, 'once' grants one restart ever", async () => {
  const clock = new ManualClock();
  assert.equal(new RestartBudget('never', clock).tryRestart(), false);
  const once = new RestartBudget('once', clock);
  assert.equal(once.tryRestart(), true);
  await clock.advance(1e9);
  assert.equal(once.tryRestart(), false);
  assert.equal(once.restarts, 1);
});

test('RestartBudget { maxRestarts, withinMs } counts restarts in a rolling window', async () => {
  const clock = new ManualClock();
  const budget = new RestartBudget({ maxRestarts: 2, withinMs: 1000 }, clock);
  assert.equal(budget.tryRestart(), true); // t=0
  await clock.advance(600);
  assert.equal(budget.tryRestart(), true); // t=600
  assert.equal(budget.tryRestart(), false, 'two in the last second already');
  await clock.advance(400); // t=1000: the restart at 0 leaves the window
  assert.equal(budget.tryRestart(), true);
  assert.equal(budget.tryRestart(), false);
  await clock.advance(600); // t=1600: the one at 600 leaves
  assert.equal(budget.tryRestart(), true);
  assert.equal(budget.restarts, 4);
});

test('resolveRestartPolicy() names a bad policy', () => {
  assert.deepEqual(resolveRestartPolicy({ maxRestarts: 3, withinMs: 500 }), {
    maxRestarts: 3,
    withinMs: 500,
  });
  assert.throws(
    () => resolveRestartPolicy('always'),
    (e: unknown) => e instanceof ConfigError && /`restart`/.test(e.message),
  );
  assert.throws(
    () => resolveRestartPolicy({ maxRestarts: -1, withinMs: 5 }),
    /restart.maxRestarts/,
  );
  assert.throws(() => resolveRestartPolicy({ maxRestarts: 1 }), /restart.withinMs/);
  assert.throws(
    () => resolveRestartPolicy({ maxRestarts: 1, withinMs: '1s' }),
    /Expected `restart.withinMs` to be a finite number >= 1, got `"1s"` \(string\)/,
  );
  assert.throws(() => resolveRestartPolicy(['once']), /`restart`/);
});

test('resolveRestartPolicy() refuses an unknown field, naming the nearest known one', () => {
  assert.throws(
    () => resolveRestartPolicy({ maxRestart: 3, withinMs: 500 }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /Unknown option `maxRestart` in restart; did you mean `maxRestarts`\?/.test(e.message),
  );
  assert.throws(
    () => resolveRestartPolicy({ maxRestarts: 3, withinMs: 500, windowMs: 9 }, 'threads.restart'),
    /Unknown option `windowMs` in threads.restart/,
  );
});
