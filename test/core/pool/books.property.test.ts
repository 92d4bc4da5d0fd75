import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock, WorkerPool, sleep, type RoutingMode } from '../../../src/index.js';
import { assertBooks, runUntilIdle } from '../../helpers/pool.js';

type Step =
  | {
      kind: 'cast' | 'call';
      key: number;
      priority: number;
      ttlMs: number | undefined;
      delayMs: number;
      fail: boolean;
    }
  | { kind: 'advance'; ms: number }
  | { kind: 'resize'; workers: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom('cast' as const, 'call' as const),
      key: fc.integer({ min: 0, max: 6 }),
      priority: fc.integer({ min: 0, max: 2 }),
      ttlMs: fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
      delayMs: fc.integer({ min: 0, max: 20 }),
      fail: fc.boolean(),
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
      workers: fc.integer({ min: 1, max: 4 }),
    }),
  },
);

const options = fc.record({
  routing: fc.constantFrom<RoutingMode>(
    'keyPersistent',
    'stickyQueuer',
    'queuer',
    'roundRobin',
    'random',
    {
      customHash: (key: string, n: number) => key.length % n,
    },
  ),
  workers: fc.integer({ min: 1, max: 4 }),
  limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
  discard: fc.constantFrom('oldest' as const, 'newest' as const),
  rate: fc.option(
    fc.record({
      limit: fc.integer({ min: 1, max: 5 }),
      mode: fc.constantFrom('reject' as const, 'delay' as const),
    }),
    {
      nil: undefined,
    },
  ),
});

test('WorkerPool books balance and every call settles, whatever the options and the load', async () => {
  await fc.assert(
    fc.asyncProperty(options, fc.array(step, { maxLength: 60 }), async (o, steps) => {
      const clock = new ManualClock();
      let discardReports = 0;
      const pool = new WorkerPool<string, { delayMs: number; fail: boolean }, string>({
        workers: o.workers,
        routing: o.routing,
        clock,
        priorities: 3,
        ...(o.limit === undefined ? {} : { queue: { limit: o.limit, discard: o.discard } }),
        ...(o.rate === undefined
          ? {}
          : { rateLimit: { limit: o.rate.limit, intervalMs: 10, mode: o.rate.mode } }),
        onDiscard: () => void discardReports++,
        handler: async ({ delayMs, fail }, ctx) => {
          await sleep(clock, delayMs);
          if (fail) throw new Error(`job of ${ctx.key} failed`);
          return ctx.key;
        },
      });
      const calls: { settled: boolean }[] = [];
      for (const s of steps) {
        if (s.kind === 'cast' || s.kind === 'call') {
          const spec = {
            key: `k${s.key}`,
            msg: { delayMs: s.delayMs, fail: s.fail },
            priority: s.priority,
            ...(s.ttlMs === undefined ? {} : { ttlMs: s.ttlMs }),
          };
          if (s.kind === 'cast') pool.cast(spec);
          else {
            const c = { settled: false };
            calls.push(c);
            pool.call(spec).then(
              () => (c.settled = true),
              () => (c.settled = true),
            );
          }
        } else if (s.kind === 'advance') {
          await clock.advance(s.ms);
        } else if (s.kind === 'resize') {
          pool.resize(s.workers);
        }
        assertBooks(pool);
      }
      await runUntilIdle(pool, clock, 2_000);
      await clock.tick();
      const s = pool.stats();
      assert.equal(s.queued + s.inFlight, 0, 'everything ran or was discarded');
      assert.ok(
        calls.every((c) => c.settled),
        'every call settled',
      );
      const discarded = Object.values(s.discarded).reduce((a, b) => a + b, 0);
      assert.equal(discardReports, discarded, 'every discard was reported');
      assertBooks(pool);
      await pool.close();
    }),
    { numRuns: 300 },
  );
});
