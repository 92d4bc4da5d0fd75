/** Real worker_threads: results, crashes of every kind, and a stuck thread. */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { threadId } from 'node:worker_threads';
import { WorkerCrashedError, WorkerPool, WorkerStuckError } from '../../../src/index.js';
import type { ThreadJob } from '../../fixtures/pool-thread-handler.js';
import { assertBooks, booked, checkBooks } from '../../helpers/pool.js';

afterEach(checkBooks);

const module = fileURLToPath(new URL('../../fixtures/pool-thread-handler.ts', import.meta.url));

function threadPool(
  options: Partial<ConstructorParameters<typeof WorkerPool<string, ThreadJob, unknown>>[0]> = {},
) {
  return booked(
    new WorkerPool<string, ThreadJob, unknown>({
      workers: 2,
      threads: { module, workerData: { region: 'eu' } },
      ...options,
    }),
  );
}

test('thread workers run the module handler in other threads and return its result', async () => {
  const pool = threadPool();
  assert.deepEqual(await pool.call({ key: 'a', msg: { op: 'echo', value: [1, 'two'] } }), {
    value: [1, 'two'],
    workerData: { region: 'eu' },
  });
  const ids = await Promise.all(
    Array.from({ length: 8 }, (_, i) => pool.call({ key: `k${i}`, msg: { op: 'thread' } })),
  );
  assert.ok(
    ids.every((id) => id !== threadId),
    'ran off the main thread',
  );
  await assert.rejects(pool.call({ key: 'a', msg: { op: 'fail' } }), /handler failed on purpose/);
  assertBooks(pool);
  await pool.close();
});

test('a thread that calls process.exit is replaced and the pool keeps serving', async () => {
  const pool = threadPool({ workers: 1 });
  const replaced: string[] = [];
  pool.on('worker:replaced', (e) => replaced.push(`${e.workerId} ${e.reason}`));
  const before = await pool.call({ key: 'k', msg: { op: 'thread' } });
  await assert.rejects(pool.call({ key: 'k', msg: { op: 'exit' } }), (e: unknown) => {
    assert.ok(e instanceof WorkerCrashedError);
    assert.match(e.message, /thread exited with code 3/);
    return true;
  });
  const after = await pool.call({ key: 'k', msg: { op: 'thread' } });
  assert.notEqual(after, before, 'a new thread');
  assert.deepEqual(replaced, ['0 crashed']);
  assertBooks(pool);
  await pool.close();
});

test('a thread that throws at top level is replaced; a job with retries runs again', async () => {
  const pool = threadPool({ workers: 1 });
  await assert.rejects(
    pool.call({ key: 'k', msg: { op: 'throwAtTopLevel' } }),
    (e: unknown) => e instanceof WorkerCrashedError && /thrown outside any job/.test(e.message),
  );
  assert.deepEqual(await pool.call({ key: 'k', msg: { op: 'echo', value: 'still here' } }), {
    value: 'still here',
    workerData: { region: 'eu' },
  });
  assert.equal(pool.stats().workers[0]!.restarts, 1);
  await pool.close();
});

test('a thread that dies between jobs is replaced before the next job needs it', async () => {
  const pool = threadPool({ workers: 1 });
  const replaced = new Promise<string>((resolve) =>
    pool.on('worker:replaced', (e) => resolve(e.reason)),
  );
  assert.equal(await pool.call({ key: 'k', msg: { op: 'exitAfterReply' } }), 'replied');
  assert.equal(await replaced, 'crashed');
  assert.deepEqual(await pool.call({ key: 'k', msg: { op: 'echo', value: 1 } }), {
    value: 1,
    workerData: { region: 'eu' },
  });
  assertBooks(pool);
  await pool.close();
});

test('a crashed job with retries is re-dispatched to the replacement thread', async () => {
  const pool = threadPool({ workers: 1 });
  // The first attempt exits; attempt 2 runs on the new thread and exits again; attempt 3 too.
  await assert.rejects(
    pool.call({ key: 'k', msg: { op: 'exit' }, retries: 2 }),
    WorkerCrashedError,
  );
  assert.equal(pool.stats().workers[0]!.restarts, 3);
  assertBooks(pool);
  await pool.close();
});

test('a thread stuck in a busy loop is detected within the deadline, terminated and replaced', async () => {
  const pool = threadPool({
    workers: 1,
    deadManSwitch: { intervalMs: 50, timeoutMs: 300, kill: true },
  });
  const stuckAt: number[] = [];
  pool.on('worker:stuck', (e) => stuckAt.push(e.silentMs));
  const started = performance.now();
  await assert.rejects(
    pool.call({ key: 'k', msg: { op: 'spin', ms: 60_000 } }),
    (e: unknown) => e instanceof WorkerStuckError && e.workerId === 0,
  );
  const detectedAfter = performance.now() - started;
  assert.ok(detectedAfter < 2_000, `detected after ${detectedAfter} ms`);
  assert.equal(stuckAt.length, 1);
  assert.equal(
    await pool.call({ key: 'k', msg: { op: 'hash', bytes: 16 } }),
    await pool.call({ key: 'j', msg: { op: 'hash', bytes: 16 } }),
  );
  assert.equal(pool.stats().workers[0]!.restarts, 1);
  assertBooks(pool);
  await pool.close();
});

test('a thread still loading its module is not pinged, so a slow start is not taken for stuck', async () => {
  const slow = fileURLToPath(new URL('../../fixtures/pool-slow-start-handler.ts', import.meta.url));
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 1,
      threads: { module: slow },
      deadManSwitch: { intervalMs: 20, timeoutMs: 100, kill: true },
    }),
  );
  const stuck: number[] = [];
  pool.on('worker:stuck', (e) => stuck.push(e.workerId));
  assert.equal(await pool.call({ key: 'k', msg: 1 }), 2);
  assert.deepEqual(stuck, []);
  await pool.close();
});
