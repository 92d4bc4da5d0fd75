import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { DiscardedError, ManualClock, WorkerPool, type DiscardReason } from '../../../src/index.js';
import { assertBooks, booked, checkBooks, deferred } from '../../helpers/pool.js';

afterEach(checkBooks);

/** One worker held busy by the first job until `release()`; records what ran and what was dropped. */
function busyPool(
  options: Partial<ConstructorParameters<typeof WorkerPool<string, string, string>>[0]> = {},
) {
  const gate = deferred();
  const ran: string[] = [];
  const dropped: [string, DiscardReason][] = [];
  const pool = booked(
    new WorkerPool<string, string, string>({
      workers: 1,
      onDiscard: (job, reason) => dropped.push([job.msg, reason]),
      handler: async (msg) => {
        ran.push(msg);
        if (msg === 'blocker') await gate.promise;
        return msg;
      },
      ...options,
    }),
  );
  void pool.call({ key: 'k', msg: 'blocker' });
  return { pool, ran, dropped, release: () => gate.resolve() };
}

const reasonOf = (e: unknown): DiscardReason | undefined =>
  e instanceof DiscardedError ? e.reason : undefined;

test("queue limit with discard 'newest': a job arriving at a full queue is shed", async () => {
  const { pool, ran, dropped, release } = busyPool({ queue: { limit: 2, discard: 'newest' } });
  const a = pool.call({ key: 'k', msg: 'a' });
  const b = pool.call({ key: 'k', msg: 'b' });
  const c = pool.call({ key: 'k', msg: 'c' });
  assert.equal(pool.cast({ key: 'k', msg: 'd' }), false);
  await assert.rejects(c, (e: unknown) => reasonOf(e) === 'loadshed');
  release();
  assert.deepEqual(await Promise.all([a, b]), ['a', 'b']);
  assert.deepEqual(ran, ['blocker', 'a', 'b']);
  assert.deepEqual(dropped, [
    ['c', 'loadshed'],
    ['d', 'loadshed'],
  ]);
  assert.equal(pool.stats().discarded.loadshed, 2);
  assertBooks(pool);
  await pool.close();
});

test("queue limit with discard 'oldest': the oldest queued job makes room", async () => {
  const { pool, ran, dropped, release } = busyPool({ queue: { limit: 2, discard: 'oldest' } });
  const a = pool.call({ key: 'k', msg: 'a' });
  void pool.call({ key: 'k', msg: 'b' });
  void pool.call({ key: 'k', msg: 'c' });
  await assert.rejects(
    a,
    (e: unknown) => reasonOf(e) === 'loadshed' && /loadshed/.test((e as Error).message),
  );
  release();
  await pool.drain();
  assert.deepEqual(ran, ['blocker', 'b', 'c']);
  assert.deepEqual(dropped, [['a', 'loadshed']]);
  assertBooks(pool);
  await pool.close();
});

test('queue limit 0: a job runs at once or is shed', async () => {
  const { pool, ran, release } = busyPool({ queue: { limit: 0 } });
  await assert.rejects(
    pool.call({ key: 'k', msg: 'x' }),
    (e: unknown) => reasonOf(e) === 'loadshed',
  );
  release();
  await pool.drain();
  const shared = booked(
    new WorkerPool<string, string, string>({
      workers: 1,
      routing: 'queuer',
      queue: { limit: 0 },
      handler: (m) => m,
    }),
  );
  assert.equal(await shared.call({ key: 'k', msg: 'now' }), 'now');
  assert.deepEqual(ran, ['blocker']);
  await pool.close();
  await shared.close();
});

test('queue limit applies to the shared queue in queueing modes', async () => {
  const { pool, dropped, release } = busyPool({ routing: 'queuer', queue: { limit: 1 } });
  void pool.call({ key: 'a', msg: 'a' });
  await assert.rejects(
    pool.call({ key: 'b', msg: 'b' }),
    (e: unknown) => reasonOf(e) === 'loadshed',
  );
  release();
  await pool.drain();
  assert.deepEqual(dropped, [['b', 'loadshed']]);
  await pool.close();
});

test('ttl: a job that waited past its ttl is discarded before it starts, never after', async () => {
  const clock = new ManualClock();
  const gate = deferred();
  const ran: string[] = [];
  const pool = booked(
    new WorkerPool<string, string, string>({
      workers: 1,
      clock,
      ttlMs: 100,
      handler: async (msg) => {
        ran.push(msg);
        if (msg === 'slow') {
          await gate.promise;
        }
        return msg;
      },
    }),
  );
  const slow = pool.call({ key: 'k', msg: 'slow' });
  const stale = pool.call({ key: 'k', msg: 'stale' });
  const patient = pool.call({ key: 'k', msg: 'patient', ttlMs: 1000 });
  await clock.advance(150);
  gate.resolve();
  assert.equal(await slow, 'slow', 'a running job past its ttl is not touched');
  await assert.rejects(stale, (e: unknown) => reasonOf(e) === 'ttl');
  assert.equal(await patient, 'patient');
  assert.deepEqual(ran, ['slow', 'patient']);
  assert.equal(pool.stats().discarded.ttl, 1);
  assertBooks(pool);
  await pool.close();
});

test('priorities: higher levels run first; shedding takes the lowest first', async () => {
  const { pool, ran, dropped, release } = busyPool({
    priorities: 3,
    queue: { limit: 3, discard: 'oldest' },
  });
  const lowA = pool.call({ key: 'a', msg: 'low-a', priority: 0 });
  void pool.call({ key: 'b', msg: 'high-b', priority: 2 });
  void pool.call({ key: 'c', msg: 'mid-c', priority: 1 });
  void pool.call({ key: 'd', msg: 'mid-d', priority: 1 }); // full: sheds low-a
  await assert.rejects(lowA, (e: unknown) => reasonOf(e) === 'loadshed');
  await assert.rejects(
    pool.call({ key: 'e', msg: 'low-e', priority: 0 }),
    (e: unknown) => reasonOf(e) === 'loadshed',
  );
  release();
  await pool.drain();
  assert.deepEqual(ran, ['blocker', 'high-b', 'mid-c', 'mid-d']);
  assert.deepEqual(dropped, [
    ['low-a', 'loadshed'],
    ['low-e', 'loadshed'],
  ]);
  assertBooks(pool);
  await pool.close();
});

test('priorities never reorder the jobs of one key', async () => {
  const { pool, ran, release } = busyPool({ priorities: 2 });
  void pool.call({ key: 'x', msg: 'x1', priority: 0 });
  void pool.call({ key: 'x', msg: 'x2', priority: 1 });
  void pool.call({ key: 'y', msg: 'y1', priority: 1 });
  release();
  await pool.drain();
  assert.deepEqual(ran, ['blocker', 'y1', 'x1', 'x2']);
  await pool.close();
});

test("rate limit 'reject': jobs over the limit are discarded with reason rateLimited", async () => {
  const clock = new ManualClock();
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 2,
      clock,
      rateLimit: { limit: 2, intervalMs: 1000 },
      handler: (n) => n,
    }),
  );
  const results = await Promise.allSettled(
    [1, 2, 3].map((n) => pool.call({ key: `k${n}`, msg: n })),
  );
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'fulfilled', 'rejected'],
  );
  assert.equal(reasonOf((results[2] as PromiseRejectedResult).reason), 'rateLimited');
  await clock.advance(500); // one credit back
  assert.equal(await pool.call({ key: 'k', msg: 4 }), 4);
  assert.equal(pool.stats().discarded.rateLimited, 1);
  assertBooks(pool);
  await pool.close();
});

test("rate limit 'delay': jobs over the limit wait for credit, in order", async () => {
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
  await clock.tick();
  assert.deepEqual(ran, [1]);
  assert.equal(pool.stats().queued, 2);
  await clock.advance(100);
  assert.deepEqual(ran, [1, 2]);
  await clock.advance(100);
  await Promise.all(calls);
  assert.deepEqual(ran, [1, 2, 3]);
  assertBooks(pool);
  await pool.close();
});

test("rate limit 'delay' at a rate that is not a whole number of ms per job does not spin", async () => {
  // 3 jobs per 10 ms: a credit every 3.33 ms, where floating-point dust once left the
  // bucket a hair short of one credit and re-armed sub-millisecond timers without end.
  const clock = new ManualClock();
  let timers = 0;
  const counting = {
    now: () => clock.now(),
    setTimer: (fn: () => void, ms: number) => {
      if (++timers > 100) throw new Error('timer storm');
      return clock.setTimer(fn, ms);
    },
  };
  const ran: number[] = [];
  const pool = booked(
    new WorkerPool<string, number, void>({
      workers: 1,
      clock: counting,
      rateLimit: { limit: 3, intervalMs: 10, burst: 1, mode: 'delay' },
      handler: (n) => void ran.push(n),
    }),
  );
  const calls = [1, 2, 3, 4].map((n) => pool.call({ key: 'k', msg: n }));
  await clock.advance(20);
  await Promise.all(calls);
  assert.deepEqual(ran, [1, 2, 3, 4]);
  assert.ok(timers <= 6, `${timers} timers for 3 delayed jobs`);
  await pool.close();
});

test('an onDiscard that throws does not break the pool; its error becomes a process warning', async (t) => {
  const surfaced: unknown[] = [];
  const onWarning = (w: Error): void => void surfaced.push(w);
  process.on('warning', onWarning);
  t.after(() => process.removeListener('warning', onWarning));
  const { pool, ran, release } = busyPool({
    queue: { limit: 1, discard: 'newest' },
    onDiscard: () => {
      throw new Error('broken reporter');
    },
  });
  void pool.call({ key: 'k', msg: 'a' });
  await assert.rejects(
    pool.call({ key: 'k', msg: 'b' }),
    (e: unknown) => reasonOf(e) === 'loadshed',
  );
  release();
  await pool.drain();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(ran, ['blocker', 'a']);
  assert.equal(surfaced.length, 1);
  assert.match((surfaced[0] as Error).message, /broken reporter/);
  assert.equal((surfaced[0] as { code?: string }).code, 'SLUICE_CALLBACK_THREW');
  await pool.close();
});

test('close() without a deadline runs what is queued instead of discarding it', async () => {
  // Until the lifecycle table, close() discarded queued jobs at once; now only what is
  // still queued at the deadline is discarded (see lifecycle.test.ts).
  const { pool, ran, dropped, release } = busyPool();
  const queued = pool.call({ key: 'k', msg: 'queued' });
  const closing = pool.close();
  release();
  assert.equal(await queued, 'queued');
  assert.deepEqual(await closing, { drained: true, discarded: 0, abandoned: 0 });
  assert.deepEqual(ran, ['blocker', 'queued']);
  assert.deepEqual(dropped, []);
  assertBooks(pool);
});
