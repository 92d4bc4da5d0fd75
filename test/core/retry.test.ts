import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  ManualClock,
  computeDelay,
  resolveRetryPolicy,
  retry,
} from '../../src/index.js';

test('computeDelay() grows by the multiplier and stops at maxDelayMs', () => {
  const policy = resolveRetryPolicy({
    minDelayMs: 100,
    maxDelayMs: 1000,
    multiplier: 3,
    jitter: 'none',
  });
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((a) => computeDelay(a, policy)),
    [100, 300, 900, 1000, 1000],
  );
});

test('computeDelay() applies full and equal jitter from the random source', () => {
  const full = resolveRetryPolicy({ minDelayMs: 200, jitter: 'full' });
  assert.equal(
    computeDelay(1, full, () => 0),
    0,
  );
  assert.equal(
    computeDelay(1, full, () => 0.5),
    100,
  );
  assert.equal(
    computeDelay(2, full, () => 0.5),
    200,
  );
  const equal = resolveRetryPolicy({ minDelayMs: 200, jitter: 'equal' });
  assert.equal(
    computeDelay(1, equal, () => 0),
    100,
  );
  assert.equal(
    computeDelay(1, equal, () => 0.999999),
    100 + 0.999999 * 100,
  );
});

test('resolveRetryPolicy() fills defaults and names a bad field', () => {
  assert.deepEqual(resolveRetryPolicy(), {
    maxAttempts: 3,
    minDelayMs: 100,
    maxDelayMs: 30_000,
    multiplier: 2,
    jitter: 'full',
  });
  assert.throws(
    () => resolveRetryPolicy({ maxAttempts: 0 }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.option === 'retry.maxAttempts' &&
      /Expected `retry.maxAttempts` to be an integer >= 1, got `0` \(number\)/.test(e.message),
  );
  assert.throws(() => resolveRetryPolicy({ minDelayMs: 10, maxDelayMs: 5 }), /retry.maxDelayMs/);
  assert.throws(() => resolveRetryPolicy({ multiplier: Number.NaN }), /retry.multiplier/);
  assert.throws(() => resolveRetryPolicy({ jitter: 'some' as 'full' }), /`retry.jitter`/);
  assert.throws(() => resolveRetryPolicy('fast' as never), /Expected `retry` to be an object/);
});

test('resolveRetryPolicy() refuses an unknown field, naming the nearest known one', () => {
  assert.throws(
    () => resolveRetryPolicy({ maxAttempt: 5 } as never),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.option === 'maxAttempt' &&
      /Unknown option `maxAttempt` in retry; did you mean `maxAttempts`\?/.test(e.message),
  );
  assert.throws(
    () => resolveRetryPolicy({ minDelay: 5 } as never, 'sink.retry'),
    /in sink.retry; did you mean `minDelayMs`\?/,
  );
});

test('retry() retries until success, waiting the computed delays', async () => {
  const clock = new ManualClock();
  const policy = resolveRetryPolicy({ maxAttempts: 4, minDelayMs: 100, jitter: 'none' });
  const waits: number[] = [];
  let calls = 0;
  const p = retry(
    (attempt) => {
      calls++;
      assert.equal(attempt, calls);
      if (attempt < 3) throw new Error(`fail ${attempt}`);
      return 'ok';
    },
    policy,
    { clock, onRetry: (_e, _a, delay) => waits.push(delay) },
  );
  await clock.advance(99);
  assert.equal(calls, 1);
  await clock.advance(1);
  assert.equal(calls, 2);
  await clock.advance(200);
  assert.equal(await p, 'ok');
  assert.deepEqual(waits, [100, 200]);
});

test('retry() gives up after maxAttempts and rejects with the last error', async () => {
  const clock = new ManualClock();
  const policy = resolveRetryPolicy({ maxAttempts: 3, minDelayMs: 10, jitter: 'none' });
  let calls = 0;
  const p = retry(
    () => {
      calls++;
      throw new Error(`fail ${calls}`);
    },
    policy,
    { clock },
  );
  const settled = assert.rejects(p, /fail 3/);
  await clock.advance(1000);
  await settled;
  assert.equal(calls, 3);
});

test('retry() does not retry an error the predicate calls permanent', async () => {
  const policy = resolveRetryPolicy({ maxAttempts: 5 });
  let calls = 0;
  await assert.rejects(
    retry(
      () => {
        calls++;
        throw new Error('constraint violated');
      },
      policy,
      { isRetryable: (e) => !(e instanceof Error && /constraint/.test(e.message)) },
    ),
    /constraint violated/,
  );
  assert.equal(calls, 1);
});

test('retry() stops waiting when its signal aborts', async () => {
  const clock = new ManualClock();
  const ac = new AbortController();
  const policy = resolveRetryPolicy({ maxAttempts: 5, minDelayMs: 1000, jitter: 'none' });
  let calls = 0;
  const p = retry(
    () => {
      calls++;
      throw new Error('down');
    },
    policy,
    { clock, signal: ac.signal },
  );
  const settled = assert.rejects(p, /shutting down/);
  await clock.advance(10);
  ac.abort(new Error('shutting down'));
  await settled;
  await clock.advance(10_000);
  assert.equal(calls, 1);
});
