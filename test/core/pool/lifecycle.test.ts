import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClosedError,
  ConfigError,
  DiscardedError,
  FatalWorkerError,
  InputError,
  ManualClock,
  RestartBudgetExhaustedError,
  TimeoutError,
  WorkerPool,
  sleep,
  type DiscardReason,
} from '../../../src/index.js';
import { assertBooks, booked, checkBooks, deferred } from '../../helpers/pool.js';

afterEach(checkBooks);

test('.cast() runs the job and returns true; .call() returns the result', async () => {
  const seen: string[] = [];
  const pool = booked(
    new WorkerPool<string, string, number>({
      workers: 2,
      handler: (msg) => {
        seen.push(msg);
        return msg.length;
      },
    }),
  );
  assert.equal(pool.cast({ key: 'a', msg: 'fire' }), true);
  assert.equal(await pool.call({ key: 'b', msg: 'hello' }), 5);
  await pool.drain();
  assert.deepEqual(seen.sort(), ['fire', 'hello']);
  assertBooks(pool);
  await pool.close();
});

test('.drain() resolves once nothing is queued or in flight, and keeps accepting', async () => {
  const gate = deferred();
  const done: number[] = [];
  const pool = booked(
    new WorkerPool<string, number, void>({
      workers: 1,
      handler: async (n) => {
        await gate.promise;
        done.push(n);
      },
    }),
  );
  await pool.drain(); // idle: at once
  void pool.call({ key: 'k', msg: 1 });
  void pool.call({ key: 'k', msg: 2 });
  let drained = false;
  const draining = pool.drain().then(() => (drained = true));
  const third = pool.call({ key: 'k', msg: 3 });
  assert.equal(pool.cast({ key: 'k', msg: 4 }), true, 'still accepting');
  assert.equal(pool.stats().state, 'open');
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false);
  gate.resolve();
  await draining;
  await third;
  assert.deepEqual(done, [1, 2, 3, 4], 'jobs given while draining ran before it resolved');
  assert.equal(pool.stats().state, 'open');
  await pool.close();
  assert.equal(pool.stats().state, 'closed');
});

test('.close({ deadlineMs }) gives up on jobs still running: their callers get TimeoutError', async () => {
  const clock = new ManualClock();
  let signal: AbortSignal | undefined;
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      clock,
      handler: (_n, ctx) => {
        signal = ctx.signal;
        return new Promise<number>(() => {});
      },
    }),
  );
  const hung = pool.call({ key: 'k', msg: 1 });
  const rejected = assert.rejects(hung, TimeoutError);
  const closing = pool.close({ deadlineMs: 200 });
  await clock.advance(200);
  assert.deepEqual(await closing, { drained: false, discarded: 0, abandoned: 1 });
  await rejected;
  assert.equal(signal?.aborted, true);
  assertBooks(pool);
  assert.deepEqual(
    await pool.close({ deadlineMs: 5 }),
    { drained: false, discarded: 0, abandoned: 1 },
    'idempotent: later calls get the first result',
  );
});

test('.close({ deadlineMs }) lets queued jobs run before the deadline, and refuses new ones at once', async () => {
  const clock = new ManualClock();
  const ran: number[] = [];
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      clock,
      handler: async (n) => {
        await sleep(clock, 50);
        ran.push(n);
        return n;
      },
    }),
  );
  const calls = [1, 2, 3].map((msg) => pool.call({ key: 'k', msg }));
  const closing = pool.close({ deadlineMs: 1_000 });
  assert.equal(pool.stats().state, 'closing');
  assert.equal(pool.cast({ key: 'k', msg: 4 }), false);
  await assert.rejects(pool.call({ key: 'k', msg: 5 }), ClosedError);
  await clock.advance(150);
  assert.deepEqual(await closing, { drained: true, discarded: 0, abandoned: 0 });
  assert.deepEqual(await Promise.all(calls), [1, 2, 3]);
  assert.deepEqual(ran, [1, 2, 3]);
  assert.equal(pool.stats().state, 'closed');
  assert.equal(clock.pendingTimers, 0, 'the deadline timer is cancelled');
  await assert.rejects(pool.call({ key: 'k', msg: 6 }), ClosedError);
  assertBooks(pool);
});

test('.close({ deadlineMs }) discards what is still queued at the deadline (shutdown) and abandons what runs', async () => {
  const clock = new ManualClock();
  const dropped: [number, DiscardReason][] = [];
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      clock,
      onDiscard: (job, reason) => dropped.push([job.msg, reason]),
      handler: async (n) => {
        await sleep(clock, 100);
        return n;
      },
    }),
  );
  const first = pool.call({ key: 'k', msg: 1 });
  const second = pool.call({ key: 'k', msg: 2 });
  const third = pool.call({ key: 'k', msg: 3 });
  const secondRejected = assert.rejects(second, TimeoutError, 'running at the deadline');
  const thirdRejected = assert.rejects(
    third,
    (e: unknown) => e instanceof DiscardedError && e.reason === 'shutdown',
  );
  const closing = pool.close({ deadlineMs: 150 });
  await clock.advance(150);
  assert.deepEqual(await closing, { drained: false, discarded: 1, abandoned: 1 });
  assert.equal(await first, 1, 'ran before the deadline');
  await secondRejected;
  await thirdRejected;
  assert.deepEqual(dropped, [[3, 'shutdown']]);
  assert.equal(pool.stats().discarded.shutdown, 1);
  assertBooks(pool);
});

test('.close({ deadlineMs }) gives jobs delayed by the rate limit until the deadline too', async () => {
  const clock = new ManualClock();
  const ran: number[] = [];
  const pool = booked(
    new WorkerPool<string, number, void>({
      workers: 2,
      clock,
      rateLimit: { limit: 1, intervalMs: 100, burst: 1, mode: 'delay' },
      handler: (n) => void ran.push(n),
    }),
  );
  const calls = [1, 2, 3].map((n) => pool.call({ key: `k${n}`, msg: n }));
  const lastRejected = assert.rejects(
    calls[2]!,
    (e: unknown) => e instanceof DiscardedError && e.reason === 'shutdown',
  );
  const closing = pool.close({ deadlineMs: 150 });
  await clock.advance(150);
  assert.deepEqual(await closing, { drained: false, discarded: 1, abandoned: 0 });
  assert.deepEqual(ran, [1, 2]);
  await Promise.all(calls.slice(0, 2));
  await lastRejected;
  assert.equal(clock.pendingTimers, 0, 'no rate-limit timer left');
  assertBooks(pool);
});

test('[Symbol.asyncDispose]() closes the pool', async () => {
  let pool: WorkerPool<string, number, number> | undefined;
  {
    await using p = booked(
      new WorkerPool<string, number, number>({ workers: 1, handler: (n) => n }),
    );
    pool = p;
    assert.equal(await p.call({ key: 'k', msg: 3 }), 3);
  }
  assert.equal(pool.stats().state, 'closed');
});

test('.stats() reports per worker and for the pool; events name what happened', async () => {
  const gate = deferred();
  const events: string[] = [];
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 2,
      handler: async (n) => {
        if (n === 0) await gate.promise;
        if (n === 3) throw new Error('three');
        return n;
      },
    }),
  );
  pool.on('job:started', (e) => events.push(`started ${e.key}`));
  pool.on('job:completed', (e) => events.push(`completed ${e.key}`));
  pool.on('job:failed', (e) => events.push(`failed ${e.key}`));
  const first = pool.call({ key: 'a', msg: 0 });
  let s = pool.stats();
  assert.equal(s.inFlight, 1);
  assert.equal(s.available, 1);
  assert.equal(s.workers.length, 2);
  gate.resolve();
  await first;
  await pool.call({ key: 'b', msg: 1 });
  await pool.call({ key: 'c', msg: 3 }).catch(() => {});
  s = pool.stats();
  assert.deepEqual(
    {
      accepted: s.accepted,
      completed: s.completed,
      failed: s.failed,
      inFlight: s.inFlight,
      available: s.available,
    },
    { accepted: 3, completed: 2, failed: 1, inFlight: 0, available: 2 },
  );
  assert.equal(
    s.workers.reduce((n, w) => n + w.processed + w.failed, 0),
    3,
  );
  assert.deepEqual(events, [
    'started a',
    'completed a',
    'started b',
    'completed b',
    'started c',
    'failed c',
  ]);
  await pool.close();
});

test('new WorkerPool() refuses bad options (ConfigError); .call() and .cast() refuse a bad job (InputError), both naming the field', async () => {
  const handler = (n: number): number => n;
  assert.throws(
    () => booked(new WorkerPool({ workers: 0, handler })),
    /Expected `workers` to be an integer >= 1, got `0`/,
  );
  assert.throws(
    () => booked(new WorkerPool({ routing: 'fastest' as 'queuer', handler })),
    /`routing`/,
  );
  assert.throws(
    () => booked(new WorkerPool({})),
    /`handler` to be a function, or `threads` instead/,
  );
  assert.throws(() => booked(new WorkerPool({ handler, queue: { limit: -1 } })), /`queue.limit`/);
  assert.throws(
    () => booked(new WorkerPool({ handler, deadManSwitch: { intervalMs: 0, timeoutMs: 1 } })),
    /`deadManSwitch.intervalMs`/,
  );
  assert.throws(() => booked(new WorkerPool({ handler, rateLimit: { limit: 0 } })), ConfigError);
  const pool = booked(new WorkerPool<string, number, number>({ handler, priorities: 2 }));
  await assert.rejects(pool.call({ key: 'k', msg: 1, priority: 2 }), (e: unknown) => {
    assert.ok(e instanceof InputError, 'bad job input is an InputError, not a ConfigError');
    assert.match(e.message, /Expected `job.priority` to be an integer in \[0, 1\], got `2`/);
    return true;
  });
  await assert.rejects(
    pool.call({ key: {} as string, msg: 1 }),
    /`job.key` to be a string or a number/,
  );
  await assert.rejects(pool.call({ key: 'k', msg: 1, ttlMs: -1 }), InputError);
  await assert.rejects(pool.call({ key: 'k', msg: 1, retries: 1.5 }), InputError);
  await assert.rejects(pool.call(null as unknown as { key: string; msg: number }), InputError);
  assert.throws(
    () => pool.cast({ key: 'k', msg: 1, priority: -1 }),
    (e: unknown) => e instanceof InputError && e.code === 'ERR_SLUICE_INPUT',
  );
  assert.throws(() => pool.resize(0), /`workers`/);
  assert.equal(pool.stats().accepted, 0, 'nothing refused was accepted');
  await pool.close();
});

test('a closed or failed pool refuses jobs; .close() on a failed pool only waits for its workers to stop', async () => {
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      restart: 'never',
      handler: (n) => {
        if (n === 0) throw new FatalWorkerError('gone');
        return n;
      },
    }),
  );
  await assert.rejects(pool.call({ key: 'k', msg: 0 }), /crashed/);
  assert.equal(pool.stats().state, 'failed');
  await assert.rejects(pool.call({ key: 'k', msg: 1 }), RestartBudgetExhaustedError);
  assert.equal(pool.cast({ key: 'k', msg: 1 }), false);
  assert.deepEqual(await pool.close(), { drained: true, discarded: 0, abandoned: 0 });
  assert.equal(pool.stats().state, 'failed', 'failed stays failed');
  await pool.drain(); // nothing left: at once
  pool.resize(3);
  assert.equal(pool.stats().workers.length, 0, 'a failed pool does not grow again');
});

test('.close() refuses bad options: a misspelled name, a negative deadline', async () => {
  const pool = booked(new WorkerPool<string, number, number>({ workers: 1, handler: (n) => n }));
  await assert.rejects(
    pool.close({ deadline: 5 } as { deadlineMs?: number }),
    /Unknown option `deadline` in WorkerPool.close\(\) options; did you mean `deadlineMs`\?/,
  );
  await assert.rejects(pool.close({ deadlineMs: -1 }), ConfigError);
  assert.equal(pool.stats().state, 'open', 'a refused close changes nothing');
  await pool.close();
});

test('.stats() reports a worker retired by resize as retiring until its queue is done', async () => {
  const gate = deferred();
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 2,
      routing: 'roundRobin',
      handler: async (n) => {
        await gate.promise;
        return n;
      },
    }),
  );
  const calls = [pool.call({ key: 'a', msg: 0 }), pool.call({ key: 'b', msg: 1 })];
  pool.resize(1);
  assert.deepEqual(
    pool.stats().workers.map((w) => [w.id, w.state]),
    [
      [0, 'busy'],
      [1, 'retiring'],
    ],
  );
  assert.equal(pool.stats().available, 0);
  gate.resolve();
  assert.deepEqual(await Promise.all(calls), [0, 1]);
  assert.deepEqual(
    pool.stats().workers.map((w) => [w.id, w.state]),
    [[0, 'idle']],
  );
  await pool.close();
});

test('PoolEvents is closed: a misspelled event name does not compile', async () => {
  const pool = booked(new WorkerPool<string, number, number>({ workers: 1, handler: (n) => n }));
  // @ts-expect-error 'job:complete' is not a pool event
  pool.on('job:complete', () => {});
  pool.on('job:completed', (e) => assert.equal(typeof e.workerId, 'number'));
  await pool.close();
});
