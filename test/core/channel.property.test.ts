import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Channel, ManualClock, type OverflowPolicy } from '../../src/index.js';
import { settle } from '../helpers/flush-double.js';

type Op =
  | { kind: 'send'; abortLater: boolean }
  | { kind: 'trySend' }
  | { kind: 'receiveBatch'; max: number; waitMs: number }
  | { kind: 'abort' }
  | { kind: 'advance'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('send' as const), abortLater: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('trySend' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('receiveBatch' as const),
      max: fc.integer({ min: 1, max: 5 }),
      waitMs: fc.integer({ min: 0, max: 10 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 12 }),
    }),
  },
);

test('Channel: FIFO, bounded, nothing lost or duplicated, every drop reported (random operations)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.constantFrom<OverflowPolicy>('wait', 'reject', 'dropOldest', 'dropNewest'),
      fc.array(op, { maxLength: 60 }),
      async (capacity, overflow, ops) => {
        const clock = new ManualClock();
        const dropped: number[] = [];
        const ch = new Channel<number>({
          capacity,
          overflow,
          clock,
          onDiscard: (n) => dropped.push(n),
        });
        const accepted: number[] = []; // in the order they entered the buffer
        const notAccepted = new Set<number>();
        const received: number[] = [];
        const aborters: AbortController[] = [];
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'send') {
            const n = next++;
            const ac = new AbortController();
            if (o.abortLater) aborters.push(ac);
            ch.send(n, { signal: ac.signal }).then(
              (ok) => (ok ? accepted.push(n) : notAccepted.add(n)),
              () => notAccepted.add(n),
            );
          } else if (o.kind === 'trySend') {
            const n = next++;
            if (ch.trySend(n)) accepted.push(n);
            else notAccepted.add(n);
          } else if (o.kind === 'receiveBatch') {
            void ch.receiveBatch(o.max, o.waitMs).then((items) => {
              assert.ok(items.length <= o.max);
              received.push(...items);
            });
          } else if (o.kind === 'abort') {
            aborters.shift()?.abort(new Error('gave up'));
          } else {
            await clock.advance(o.ms);
          }
          await settle();
          assert.ok(ch.length <= capacity, 'over capacity');
        }
        const closed = ch.close();
        for (;;) {
          const rest = await ch.receiveBatch(100, 0);
          if (rest.length === 0) break;
          received.push(...rest);
        }
        assert.deepEqual(await closed, { drained: true, remaining: 0 });
        await clock.advance(100);
        await settle();
        const droppedSet = new Set(dropped);
        assert.equal(droppedSet.size, dropped.length, 'an item dropped twice');
        assert.deepEqual(new Set(received).size, received.length, 'an item received twice');
        // Everything accepted and not dropped was received, in acceptance order.
        const survivors = accepted.filter((n) => !droppedSet.has(n));
        assert.deepEqual(received, survivors);
        // Every send ended one way or the other, and the books agree with stats.
        assert.equal(accepted.length + notAccepted.size, next, 'a send never ended');
        const s = ch.stats();
        assert.equal(s.dropped.dropOldest + s.dropped.dropNewest, dropped.length);
        if (overflow === 'wait' || overflow === 'reject') assert.equal(dropped.length, 0);
      },
    ),
    { numRuns: 300 },
  );
});
