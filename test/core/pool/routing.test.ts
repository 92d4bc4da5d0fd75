import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerPool, hashKey, type JobContext, type RoutingMode } from '../../../src/index.js';
import { assertBooks, booked, checkBooks, deferred } from '../../helpers/pool.js';

afterEach(checkBooks);

/** A pool whose handler records (workerId, key, msg) and waits for the test's say-so. */
function recordingPool(routing: RoutingMode, workers = 3) {
  const log: { worker: number; key: string; msg: number }[] = [];
  const gates: (() => void)[] = [];
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers,
      routing,
      handler: async (msg: number, ctx: JobContext) => {
        log.push({ worker: ctx.workerId, key: ctx.key, msg });
        const gate = deferred();
        gates.push(gate.resolve);
        await gate.promise;
        return msg * 2;
      },
    }),
  );
  const release = async (): Promise<void> => {
    while (gates.length > 0) {
      gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { pool, log, release };
}

test("routing 'keyPersistent': a key goes to hash(key) mod workers and stays while queued", async () => {
  const { pool, log, release } = recordingPool('keyPersistent', 3);
  const calls = [1, 2, 3].map((msg) => pool.call({ key: 'acct-7', msg }));
  const other = pool.call({ key: 'acct-8', msg: 10 });
  await release();
  assert.deepEqual(await Promise.all(calls), [2, 4, 6]);
  assert.equal(await other, 20);
  const seven = log.filter((l) => l.key === 'acct-7');
  assert.deepEqual(
    seven.map((l) => l.msg),
    [1, 2, 3],
  );
  assert.ok(seven.every((l) => l.worker === hashKey('acct-7') % 3));
  assertBooks(pool);
  await pool.close();
});

test("routing 'stickyQueuer': a busy key's jobs follow it; other jobs go to idle workers", async () => {
  const { pool, log, release } = recordingPool('stickyQueuer', 2);
  const a1 = pool.call({ key: 'a', msg: 1 });
  const a2 = pool.call({ key: 'a', msg: 2 });
  const b1 = pool.call({ key: 'b', msg: 3 });
  await new Promise((r) => setImmediate(r));
  // a1 runs on one worker, b1 on the other: a2 waits for a's worker, not for a free one.
  assert.deepEqual(log.map((l) => l.msg).sort(), [1, 3]);
  await release();
  await Promise.all([a1, a2, b1]);
  const a = log.filter((l) => l.key === 'a');
  assert.deepEqual(
    a.map((l) => l.msg),
    [1, 2],
  );
  assert.equal(a[0]!.worker, a[1]!.worker);
  assertBooks(pool);
  await pool.close();
});

test("routing 'stickyQueuer': a key's job never overtakes earlier ones still in the shared queue", async () => {
  // Found by the property test: k4 becomes busy on a new worker while another k4 job still
  // waits in the shared queue; a third k4 job must wait behind it, not jump to the worker.
  const { pool, log, release } = recordingPool('stickyQueuer', 1);
  const calls = [
    pool.call({ key: 'k0', msg: 0 }),
    pool.call({ key: 'k1', msg: 1 }),
    pool.call({ key: 'k4', msg: 2 }),
    pool.call({ key: 'k4', msg: 3 }),
  ];
  pool.resize(3);
  calls.push(pool.call({ key: 'k4', msg: 4 }));
  await release();
  await Promise.all(calls);
  assert.deepEqual(
    log.filter((l) => l.key === 'k4').map((l) => l.msg),
    [2, 3, 4],
  );
  await pool.close();
});

test("routing 'queuer': one shared FIFO, the next idle worker takes the next job", async () => {
  const { pool, log, release } = recordingPool('queuer', 2);
  const calls = [1, 2, 3, 4].map((msg) => pool.call({ key: 'same', msg }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    log.map((l) => l.msg),
    [1, 2],
    'two workers take the first two, even for one key',
  );
  assert.notEqual(log[0]!.worker, log[1]!.worker);
  await release();
  await Promise.all(calls);
  assert.deepEqual(
    log.map((l) => l.msg),
    [1, 2, 3, 4],
  );
  assertBooks(pool);
  await pool.close();
});

test("routing 'roundRobin': jobs go to each worker in turn", async () => {
  const { pool, log, release } = recordingPool('roundRobin', 3);
  const calls = [0, 1, 2, 3, 4, 5].map((msg) => pool.call({ key: 'k', msg }));
  await release();
  await Promise.all(calls);
  const byMsg = new Map(log.map((l) => [l.msg, l.worker]));
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((m) => byMsg.get(m)),
    [0, 1, 2, 0, 1, 2],
  );
  await pool.close();
});

test("routing 'random': jobs land on workers at random, spread over all of them", async () => {
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 4,
      routing: 'random',
      handler: (_msg, ctx) => ctx.workerId,
    }),
  );
  const used = await Promise.all(
    Array.from({ length: 400 }, (_, i) => pool.call({ key: `k${i}`, msg: i })),
  );
  const counts = [0, 1, 2, 3].map((w) => used.filter((u) => u === w).length);
  assert.ok(
    counts.every((c) => c > 40),
    `uneven spread: ${counts.join(',')}`,
  );
  assertBooks(pool);
  await pool.close();
});

test('routing { customHash }: the function chooses the worker', async () => {
  const seen: [string, number][] = [];
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 3,
      routing: {
        customHash: (key, workers) => {
          seen.push([key, workers]);
          return key.length;
        },
      },
      handler: (_msg, ctx) => ctx.workerId,
    }),
  );
  assert.equal(await pool.call({ key: 'a', msg: 0 }), 1);
  assert.equal(await pool.call({ key: 'abcd', msg: 0 }), 1, '4 mod 3');
  assert.equal(await pool.call({ key: 'ab', msg: 0 }), 2);
  assert.deepEqual(seen[0], ['a', 3]);
  await pool.close();
  const odd = booked(
    new WorkerPool<string, number, number>({
      workers: 3,
      routing: { customHash: (key) => (key === 'neg' ? -1 : Number.NaN) },
      handler: (_msg, ctx) => ctx.workerId,
    }),
  );
  assert.equal(await odd.call({ key: 'neg', msg: 0 }), 2, 'negative wraps around');
  assert.equal(await odd.call({ key: 'nan', msg: 0 }), 0, 'not an integer: worker 0');
  await odd.close();
});
