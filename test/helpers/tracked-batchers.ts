/**
 * Batchers for a test file, each on a fresh ManualClock, closed and checked for leaks after
 * every test: nothing left pending or waiting, no timer left armed.
 */
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import { Batcher, ManualClock, type BatcherOptions } from '../../src/index.js';

export interface TrackedBatchers {
  /** The clock of the batcher made last. */
  readonly clock: ManualClock;
  readonly make: <I, O = void>(
    options: Partial<BatcherOptions<I, O>> & Pick<BatcherOptions<I, O>, 'flush'>,
  ) => Batcher<I, O>;
}

export function trackedBatchers(): TrackedBatchers {
  const batchers: Batcher<unknown, unknown>[] = [];
  let clock = new ManualClock();
  afterEach(async () => {
    for (const b of batchers.splice(0)) {
      const closing = b.close({ deadlineMs: 1000 });
      await clock.advance(1000);
      const result = await closing;
      const s = b.stats();
      assert.equal(s.pending, 0, 'items left pending after close');
      assert.equal(s.waiting, 0, 'submits left waiting after close');
      assert.ok(result.drained || result.abandoned > 0);
    }
    assert.equal(clock.pendingTimers, 0, 'a timer is still armed');
  });
  return {
    get clock() {
      return clock;
    },
    make: (options) => {
      clock = new ManualClock();
      const b = new Batcher({ maxSize: 3, maxDelayMs: 10, clock, ...options });
      batchers.push(b as unknown as Batcher<unknown, unknown>);
      return b;
    },
  };
}
