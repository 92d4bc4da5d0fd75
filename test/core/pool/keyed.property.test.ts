import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock, WorkerPool, sleep } from '../../../src/index.js';
import { assertBooks, booked, checkBooks, runUntilIdle } from '../../helpers/pool.js';

afterEach(checkBooks);

type Step =
  | { kind: 'submit'; key: number; delayMs: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'resize'; workers: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('submit' as const),
      key: fc.integer({ min: 0, max: 5 }),
      delayMs: fc.integer({ min: 0, max: 20 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 15 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('resize' as const),
      workers: fc.integer({ min: 1, max: 5 }),
    }),
  },
);

for (const routing of ['keyPersistent', 'stickyQueuer'] as const) {
  test(`${routing}: per key, jobs run in submit order and never two at once (random streams, delays, resizes)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(step, { maxLength: 80 }),
        async (workers, steps) => {
          const clock = new ManualClock();
          const running = new Set<string>();
          const seen = new Map<string, number[]>();
          const violations: string[] = [];
          const pool = booked(
            new WorkerPool<string, { seq: number; delayMs: number }, void>({
              workers,
              routing,
              clock,
              handler: async ({ seq, delayMs }, ctx) => {
                if (running.has(ctx.key)) violations.push(`key ${ctx.key} ran twice at once`);
                running.add(ctx.key);
                seen.set(ctx.key, [...(seen.get(ctx.key) ?? []), seq]);
                await sleep(clock, delayMs);
                running.delete(ctx.key);
              },
            }),
          );
          const submitted = new Map<string, number[]>();
          let seq = 0;
          const calls: Promise<void>[] = [];
          for (const s of steps) {
            if (s.kind === 'submit') {
              const key = `k${s.key}`;
              submitted.set(key, [...(submitted.get(key) ?? []), seq]);
              calls.push(pool.call({ key, msg: { seq: seq++, delayMs: s.delayMs } }));
            } else if (s.kind === 'advance') {
              await clock.advance(s.ms);
            } else {
              pool.resize(s.workers);
            }
            assert.ok(pool.stats().inFlight <= pool.stats().workers.length);
          }
          await runUntilIdle(pool, clock, 10_000);
          await Promise.all(calls);
          assert.deepEqual(violations, []);
          assert.deepEqual(seen, submitted);
          assertBooks(pool);
          await pool.close();
        },
      ),
      { numRuns: 200 },
    );
  });
}
