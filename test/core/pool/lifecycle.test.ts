import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClosedError,
  ConfigError,
  ManualClock,
  TimeoutError,
  WorkerPool,
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

test('.drain() finishes what is queued and refuses new jobs with ClosedError', async () => {
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
  void pool.call({ key: 'k', msg: 1 });
  void pool.call({ key: 'k', msg: 2 });
  const drained = pool.drain();
  await assert.rejects(pool.call({ key: 'k', msg: 3 }), ClosedError);
  assert.equal(pool.cast({ key: 'k', msg: 4 }), false);
  gate.resolve();
  await drained;
  assert.deepEqual(done, [1, 2]);
  assert.equal(pool.stats().state, 'draining');
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
  assert.deepEqual(await pool.close(), { drained: true, discarded: 0, abandoned: 0 }, 'idempotent');
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

test('booked(new WorkerPool()) refuses bad options; .call() refuses a bad job, both naming the field', async () => {
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
  await assert.rejects(
    pool.call({ key: 'k', msg: 1, priority: 2 }),
    /Expected `job.priority` to be an integer in \[0, 1\], got `2`/,
  );
  await assert.rejects(
    pool.call({ key: {} as string, msg: 1 }),
    /`job.key` to be a string or a number/,
  );
  assert.throws(() => pool.resize(0), /`workers`/);
  assert.equal(pool.stats().accepted, 0, 'nothing refused was accepted');
  await pool.close();
});
