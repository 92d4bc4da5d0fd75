import assert from 'node:assert/strict';
import type { WorkerPool, PoolKey } from '../../src/index.js';

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
    s.inFlight <= Math.max(s.workers.length, 0) || s.state !== 'open',
    'more in flight than workers',
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
