import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Batcher, ManualClock } from '../../src/index.js';
import { FlushDouble, settle } from '../helpers/flush-double.js';

type Command =
  | { kind: 'submit'; withSignal: boolean }
  | { kind: 'abort'; pick: number }
  | {
      kind: 'settle';
      pick: number;
      outcome: 'ok' | 'nothing' | 'throw' | 'slotErrors' | 'wrongLength';
    }
  | { kind: 'advance'; ms: number }
  | { kind: 'flush' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('submit' as const), withSignal: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      pick: fc.nat(),
      outcome: fc.constantFrom('ok', 'nothing', 'throw', 'slotErrors', 'wrongLength'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 30 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
);

const config = fc.record({
  maxSize: fc.integer({ min: 1, max: 5 }),
  maxDelayMs: fc.integer({ min: 0, max: 20 }),
  extraPending: fc.integer({ min: 0, max: 8 }),
  maxConcurrentFlushes: fc.integer({ min: 1, max: 3 }),
});

interface Submitted {
  readonly id: number;
  readonly controller: AbortController | undefined;
  settlements: number;
  outcome: 'pending' | 'resolved' | 'rejected';
  value: unknown;
  /** Aborted before any flush call carried it. */
  abortedBeforeFlush: boolean;
}

test('Batcher invariants hold for random submits, aborts, flush outcomes and clock moves', async () => {
  await fc.assert(
    fc.asyncProperty(config, fc.array(command, { maxLength: 60 }), async (cfg, commands) => {
      const clock = new ManualClock();
      const d = new FlushDouble<number, number>();
      const maxPending = cfg.maxSize + cfg.extraPending;
      const b = new Batcher<number, number>({
        maxSize: cfg.maxSize,
        maxDelayMs: cfg.maxDelayMs,
        maxPending,
        maxConcurrentFlushes: cfg.maxConcurrentFlushes,
        clock,
        flush: d.flush,
      });
      const submitted: Submitted[] = [];
      const flushedIds = (): Set<number> => new Set(d.calls.flatMap((c) => c.items));
      const settleCall = (
        pick: number,
        outcome: Extract<Command, { kind: 'settle' }>['outcome'],
      ): void => {
        const open = d.open;
        if (open.length === 0) return;
        const call = open[pick % open.length]!;
        switch (outcome) {
          case 'ok':
            return call.resolve(call.items.map((id) => id * 10));
          case 'nothing':
            return call.resolve();
          case 'throw':
            return call.reject(new Error('flush failed'));
          case 'slotErrors':
            return call.resolve(
              call.items.map((id) => (id % 2 === 0 ? new Error(`bad ${id}`) : id * 10)),
            );
          case 'wrongLength':
            return call.resolve([...call.items.map((id) => id * 10), 0]);
        }
      };

      for (const c of commands) {
        switch (c.kind) {
          case 'submit': {
            const controller = c.withSignal ? new AbortController() : undefined;
            const s: Submitted = {
              id: submitted.length,
              controller,
              settlements: 0,
              outcome: 'pending',
              value: undefined,
              abortedBeforeFlush: false,
            };
            submitted.push(s);
            b.submit(
              s.id,
              controller === undefined ? undefined : { signal: controller.signal },
            ).then(
              (v) => {
                s.settlements++;
                s.outcome = 'resolved';
                s.value = v;
              },
              (e: unknown) => {
                s.settlements++;
                s.outcome = 'rejected';
                s.value = e;
              },
            );
            break;
          }
          case 'abort': {
            const withSignal = submitted.filter(
              (s) => s.controller !== undefined && !s.controller.signal.aborted,
            );
            const s = withSignal[c.pick % Math.max(1, withSignal.length)];
            if (s === undefined) break;
            s.abortedBeforeFlush = !flushedIds().has(s.id);
            s.controller!.abort(new Error(`abort ${s.id}`));
            break;
          }
          case 'settle':
            settleCall(c.pick, c.outcome);
            break;
          case 'advance':
            await clock.advance(c.ms);
            break;
          case 'flush':
            void b.flush();
            break;
        }
        await settle();
        const stats = b.stats();
        assert.ok(
          stats.pending <= maxPending,
          `pending ${stats.pending} > maxPending ${maxPending}`,
        );
        assert.ok(stats.inFlight <= stats.pending);
        assert.ok(d.open.length <= cfg.maxConcurrentFlushes, 'too many concurrent flushes');
      }

      // Close and answer every remaining flush: everything accepted must settle.
      let closed = false;
      void b.close().then(() => (closed = true));
      for (let i = 0; !closed && i < 1000; i++) {
        for (const call of d.open) call.resolve(call.items.map((id) => id * 10));
        await clock.advance(50);
      }
      assert.ok(closed, 'close() never finished');

      const calls = d.calls.map((c) => c.items);
      for (const items of calls)
        assert.ok(items.length >= 1 && items.length <= cfg.maxSize, 'batch size');
      const order = calls.flat();
      for (let i = 1; i < order.length; i++) {
        assert.ok(order[i - 1]! < order[i]!, `submit order broken: ${order.join(',')}`);
      }
      const flushed = new Set(order);
      assert.equal(flushed.size, order.length, 'an item was flushed twice');
      for (const s of submitted) {
        assert.equal(s.settlements, 1, `item ${s.id} settled ${s.settlements} times`);
        if (s.abortedBeforeFlush) {
          assert.ok(!flushed.has(s.id), `aborted item ${s.id} was flushed`);
          assert.equal(s.outcome, 'rejected');
        } else {
          assert.ok(flushed.has(s.id), `item ${s.id} was never flushed`);
        }
        if (s.outcome === 'resolved' && s.value !== undefined) assert.equal(s.value, s.id * 10);
      }
      const stats = b.stats();
      assert.equal(stats.pending, 0);
      assert.equal(stats.flushed + stats.failed + stats.aborted, submitted.length);
    }),
    { numRuns: 150 },
  );
});
