import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FatalWorkerError,
  ManualClock,
  RestartBudgetExhaustedError,
  WorkerCrashedError,
  WorkerPool,
  WorkerStuckError,
} from '../../../src/index.js';
import { until } from '../../helpers/flush-double.js';
import { assertBooks, booked, checkBooks, deferred } from '../../helpers/pool.js';

afterEach(checkBooks);

test('a handler that throws rejects that call only; the worker continues', async () => {
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      handler: (n) => {
        if (n === 2) throw new RangeError('bad 2');
        return n;
      },
    }),
  );
  const failed: unknown[] = [];
  pool.on('job:failed', (e) => failed.push(e.error));
  const results = await Promise.allSettled([1, 2, 3].map((msg) => pool.call({ key: 'k', msg })));
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.ok((results[1] as PromiseRejectedResult).reason instanceof RangeError);
  assert.equal(failed.length, 1);
  assert.equal(pool.stats().workers[0]!.restarts, 0);
  assertBooks(pool);
  await pool.close();
});

test('a crashed worker is replaced under its id with its queue kept; its job is retried if allowed', async () => {
  let crashOnce = true;
  const order: number[] = [];
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      handler: (n) => {
        order.push(n);
        if (n === 1 && crashOnce) {
          crashOnce = false;
          throw new FatalWorkerError('connection state is corrupt');
        }
        return n * 10;
      },
    }),
  );
  const replaced: { workerId: number; reason: string }[] = [];
  pool.on('worker:replaced', (e) => replaced.push({ workerId: e.workerId, reason: e.reason }));
  const calls = [
    pool.call({ key: 'k', msg: 1, retries: 1 }),
    pool.call({ key: 'k', msg: 2 }),
    pool.call({ key: 'k', msg: 3 }),
  ];
  assert.deepEqual(await Promise.all(calls), [10, 20, 30]);
  assert.deepEqual(order, [1, 1, 2, 3], 'the retried job ran again first, then the kept queue');
  assert.deepEqual(replaced, [{ workerId: 0, reason: 'crashed' }]);
  assert.equal(pool.stats().workers[0]!.restarts, 1);
  assertBooks(pool);
  await pool.close();
});

test('a crashed job without retries rejects with WorkerCrashedError, never silently', async () => {
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      handler: (n) => {
        if (n === 1) throw new FatalWorkerError('gone');
        return n;
      },
    }),
  );
  await assert.rejects(pool.call({ key: 'k', msg: 1 }), (e: unknown) => {
    assert.ok(e instanceof WorkerCrashedError);
    assert.equal(e.workerId, 0);
    assert.match(e.message, /worker 0 crashed while running this job: gone/);
    return true;
  });
  assert.equal(await pool.call({ key: 'k', msg: 2 }), 2);
  assertBooks(pool);
  await pool.close();
});

test('restart budget: when it is spent the pool fails loudly and rejects everything waiting', async () => {
  const gate = deferred();
  const pool = booked(
    new WorkerPool<string, string, void>({
      workers: 1,
      restart: 'once',
      handler: async (msg) => {
        if (msg === 'wait') await gate.promise;
        if (msg.startsWith('crash')) throw new FatalWorkerError(msg);
      },
    }),
  );
  let failedEvent: Error | undefined;
  pool.on('pool:failed', (e) => (failedEvent = e.error));
  const first = pool.call({ key: 'k', msg: 'crash 1' });
  await assert.rejects(first, WorkerCrashedError);
  const second = pool.call({ key: 'k', msg: 'crash 2' });
  const queued = pool.call({ key: 'k', msg: 'fine' });
  await assert.rejects(second, WorkerCrashedError, 'the job that crashed says so');
  await assert.rejects(queued, RestartBudgetExhaustedError);
  assert.ok(failedEvent instanceof RestartBudgetExhaustedError);
  const s = pool.stats();
  assert.equal(s.state, 'failed');
  assert.match(s.failure ?? '', /worker pool failed after 1 restart\(s\)/);
  await assert.rejects(pool.call({ key: 'k', msg: 'later' }), RestartBudgetExhaustedError);
  assert.equal(pool.cast({ key: 'k', msg: 'later' }), false);
  assertBooks(pool);
  gate.resolve();
});

test('dead man switch: a worker silent past timeoutMs is reported stuck (kill: false)', async () => {
  const clock = new ManualClock();
  const gate = deferred<number>();
  const pool = booked(
    new WorkerPool<string, string, number>({
      workers: 2,
      clock,
      deadManSwitch: { intervalMs: 100, timeoutMs: 500 },
      handler: (msg) => (msg === 'hang' ? gate.promise : 1),
    }),
  );
  const stuck: { workerId: number; silentMs: number }[] = [];
  pool.on('worker:stuck', (e) => stuck.push(e));
  const hung = pool.call({ key: 'a', msg: 'hang' });
  await clock.advance(100); // ping sent
  await clock.advance(499);
  assert.equal(stuck.length, 0);
  await clock.advance(1);
  assert.equal(stuck.length, 1);
  assert.equal(stuck[0]!.silentMs, 500);
  const hungWorker = stuck[0]!.workerId;
  assert.equal(pool.stats().workers.find((w) => w.id === hungWorker)!.state, 'stuck');
  const idleWorker = pool.stats().workers.find((w) => w.id !== hungWorker)!;
  assert.ok(
    idleWorker.lastPingMs !== undefined && idleWorker.lastPingMs < 1,
    'idle worker answered',
  );
  gate.resolve(7);
  assert.equal(await hung, 7, 'reported only: the job still completes');
  await pool.close();
});

test('dead man switch with kill: a stuck in-process worker is abandoned, its caller gets WorkerStuckError', async () => {
  const clock = new ManualClock();
  const never = new Promise<number>(() => {});
  let signal: AbortSignal | undefined;
  const pool = booked(
    new WorkerPool<string, string, number>({
      workers: 1,
      clock,
      deadManSwitch: { intervalMs: 100, timeoutMs: 300, kill: true },
      handler: (msg, ctx) => {
        if (msg !== 'hang') return 5;
        signal = ctx.signal;
        return never;
      },
    }),
  );
  const hung = pool.call({ key: 'a', msg: 'hang', retries: 3 });
  const next = pool.call({ key: 'a', msg: 'after' });
  const settled = assert.rejects(
    hung,
    (e: unknown) => e instanceof WorkerStuckError && e.workerId === 0,
  );
  await clock.advance(400);
  await settled;
  assert.equal(signal?.aborted, true, 'the abandoned job is told through its signal');
  assert.equal(await next, 5, 'the replacement took over the queue');
  assert.equal(pool.stats().workers[0]!.restarts, 1);
  assertBooks(pool);
  await pool.close();
});

test('resize keeps per-key order and exclusivity while workers retire', async () => {
  const running = new Set<string>();
  const seen = new Map<string, number[]>();
  const gates: (() => void)[] = [];
  const pool = booked(
    new WorkerPool<string, number, void>({
      workers: 4,
      handler: async (n, ctx) => {
        assert.ok(!running.has(ctx.key), `key ${ctx.key} ran on two workers at once`);
        running.add(ctx.key);
        seen.set(ctx.key, [...(seen.get(ctx.key) ?? []), n]);
        const g = deferred();
        gates.push(g.resolve);
        await g.promise;
        running.delete(ctx.key);
      },
    }),
  );
  const calls: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    calls.push(pool.call({ key: `k${i % 6}`, msg: i }));
    if (i === 10) pool.resize(1);
    if (i === 25) pool.resize(3);
  }
  while (pool.stats().inFlight > 0 || pool.stats().queued > 0) {
    gates.shift()?.();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(calls);
  for (const [key, msgs] of seen)
    assert.deepEqual(
      msgs,
      [...msgs].sort((a, b) => a - b),
      `order of ${key}`,
    );
  await until(() => pool.stats().workers.length === 3, 'retired workers to leave');
  assertBooks(pool);
  await pool.close();
});

test('a crashed job put back for a retry still runs before later jobs of its key, whatever their priority', async () => {
  const gate = deferred();
  const order: string[] = [];
  let crashOnce = true;
  const pool = booked(
    new WorkerPool<string, string, string>({
      workers: 1,
      priorities: 2,
      handler: async (msg) => {
        order.push(msg);
        if (msg === 'first' && crashOnce) {
          await gate.promise;
          crashOnce = false;
          throw new FatalWorkerError('lost the connection');
        }
        return msg;
      },
    }),
  );
  const first = pool.call({ key: 'k', msg: 'first', priority: 0, retries: 1 });
  const urgent = pool.call({ key: 'k', msg: 'urgent', priority: 1 });
  gate.resolve();
  assert.deepEqual(await Promise.all([first, urgent]), ['first', 'urgent']);
  assert.deepEqual(order, ['first', 'first', 'urgent']);
  assertBooks(pool);
  await pool.close();
});

test('.close() while the restart budget runs out: the pool fails and close has nothing left to end', async () => {
  const gate = deferred();
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      restart: 'never',
      handler: async (n) => {
        await gate.promise;
        if (n === 1) throw new FatalWorkerError('gone');
        return n;
      },
    }),
  );
  const first = assert.rejects(pool.call({ key: 'k', msg: 1 }), WorkerCrashedError);
  const queued = assert.rejects(pool.call({ key: 'k', msg: 2 }), RestartBudgetExhaustedError);
  const closing = pool.close();
  assert.equal(pool.stats().state, 'closing');
  gate.resolve();
  assert.deepEqual(await closing, { drained: false, discarded: 0, abandoned: 0 });
  await first;
  await queued;
  assert.equal(pool.stats().state, 'failed');
  assertBooks(pool);
});
