import assert from 'node:assert/strict';
import type { ManualClock, PoolKey, WorkerPool } from '../../src/index.js';

/** The pool's books balance: every accepted job ended somewhere, in flight within bounds. */
export function assertBooks<K extends PoolKey, M, R>(pool: WorkerPool<K, M, R>): void {
  const s = pool.stats();
  const discarded = Object.values(s.discarded).reduce((a, b) => a + b, 0);
  assert.equal(
    s.accepted,
    s.completed + s.failed + discarded + s.queued + s.inFlight,
    `accepted ${s.accepted} != completed ${s.completed} + failed ${s.failed} + discarded ${discarded} + queued ${s.queued} + in flight ${s.inFlight}`,
  );
  assert.ok(
    s.inFlight <= s.workers.length,
    `${s.inFlight} in flight on ${s.workers.length} workers`,
  );
}

/** A deferred the test settles by hand. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const created = new Set<WorkerPool<PoolKey, unknown, unknown>>();

/** Registers a pool so `checkBooks` (run after each test) checks its accounting. */
export function booked<P>(pool: P): P {
  created.add(pool as unknown as WorkerPool<PoolKey, unknown, unknown>);
  return pool;
}

/** After each test: every pool the test made balances its books. */
export function checkBooks(): void {
  for (const pool of created) assertBooks(pool);
  created.clear();
}

/** Moves a manual clock until the pool has nothing queued or in flight (at most `steps` × 5 ms). */
export async function runUntilIdle<K extends PoolKey, M, R>(
  pool: WorkerPool<K, M, R>,
  clock: ManualClock,
  steps = 2_000,
): Promise<void> {
  for (let i = 0; i < steps && (pool.stats().inFlight > 0 || pool.stats().queued > 0); i++) {
    await clock.advance(5);
  }
}
