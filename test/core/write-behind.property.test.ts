/**
 * WriteBehind's delivery promise, for random runs: writes over a few keys (some with ids,
 * some poison the sink refuses), sink outages, clock moves and flushes, and a close (with
 * or without a deadline) and reopen on the same journal in the middle. Afterwards:
 * - every acknowledged write is in the sink or the dead letters, once by sink id, never in
 *   both (after a close that gave up, the next run handles again what finished past the
 *   checkpoint: an idempotent sink keeps one row per id, the dead-letter store one letter
 *   per entry and position);
 * - poison, and only poison, is dead-lettered (an outage never dead-letters anything);
 * - per key, each pipeline run hands the sink increasing versions.
 *
 * Time is a ManualClock, so a run that cannot finish fails instead of hanging.
 *
 * SLUICE_SEED=<n> replays a run: the seed is printed as `seed=<n>` (and fast-check prints
 * it, with the shrunk counterexample, on failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ManualClock,
  MemoryJournal,
  WriteBehind,
  type Sink,
  type SinkContext,
  type SinkEntry,
  type SinkFailure,
} from '../../src/index.js';
import { drive } from '../helpers/tracked-pipelines.js';
import { testSeed } from '../helpers/seed.js';

type Value = { n: number; poison: boolean };

type Command =
  | { kind: 'write'; key: number; id: number | null; poison: boolean }
  | { kind: 'outage'; failures: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'flush' };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      key: fc.integer({ min: 0, max: 3 }),
      id: fc.option(fc.integer({ min: 0, max: 5 })),
      poison: fc.nat({ max: 5 }).map((x) => x === 0),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('outage' as const),
      failures: fc.integer({ min: 1, max: 8 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
);

const config = fc.record({
  workers: fc.integer({ min: 1, max: 3 }),
  maxSize: fc.integer({ min: 1, max: 6 }),
  maxDelayMs: fc.integer({ min: 0, max: 5 }),
  /** Where in the commands the pipeline is closed and opened again. */
  reopenAt: fc.nat(),
  /** The close's deadline: none (it drains), or a few ms (it may leave work behind). */
  closeDeadlineMs: fc.option(fc.integer({ min: 0, max: 5 })),
});

class Unavailable extends Error {}

/** An idempotent sink (one row per id) whose outages are scripted and that refuses poison. */
class ScriptedSink implements Sink<Value> {
  /** Sink writes still to fail as unavailable. */
  outage = 0;
  readonly rows = new Map<string, SinkEntry<Value>>();
  /** The entries of every write that succeeded, by the pipeline that made it (its signal). */
  readonly runs = new Map<AbortSignal | undefined, SinkEntry<Value>[]>();

  async writeBatch(entries: readonly SinkEntry<Value>[], context: SinkContext = {}): Promise<void> {
    await Promise.resolve();
    if (this.outage > 0) {
      this.outage--;
      throw new Unavailable('connection refused');
    }
    const poison = entries.find((e) => e.value.poison);
    if (poison !== undefined) throw new RangeError(`entry ${poison.value.n} violates a constraint`);
    const run = this.runs.get(context.signal) ?? [];
    this.runs.set(context.signal, run);
    for (const entry of entries) {
      run.push(entry);
      if (!this.rows.has(entry.id)) this.rows.set(entry.id, entry);
    }
  }

  classify(error: unknown): SinkFailure {
    return error instanceof Unavailable ? 'unavailable' : 'rejected';
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Acknowledged {
  readonly n: number;
  readonly key: string;
  readonly id: string | undefined;
}

test(
  'WriteBehind: every acknowledged write lands once (sink or dead letters), per-key order kept, across a reopen',
  { timeout: 60_000 },
  async (t) => {
    const seed = testSeed(t);
    await fc.assert(
      fc.asyncProperty(
        config,
        fc.array(command, { minLength: 10, maxLength: 60 }),
        async (cfg, commands) => {
          const clock = new ManualClock();
          const journal = new MemoryJournal();
          const sink = new ScriptedSink();
          const open = (): Promise<WriteBehind<Value>> =>
            WriteBehind.open<Value>({
              journal,
              sink,
              clock,
              workers: cfg.workers,
              batch: { maxSize: cfg.maxSize, maxDelayMs: cfg.maxDelayMs },
              retry: { minDelayMs: 1, maxDelayMs: 4 },
            });
          const acknowledged: Acknowledged[] = [];
          let wb = await open();
          const reopenAt = cfg.reopenAt % (commands.length + 1);
          for (let i = 0; i <= commands.length; i++) {
            if (i === reopenAt) {
              const deadline =
                cfg.closeDeadlineMs === null ? {} : { deadlineMs: cfg.closeDeadlineMs };
              const closed = await drive(clock, wb.close(deadline), 'the first close');
              if (cfg.closeDeadlineMs === null)
                assert.deepEqual(closed, { drained: true, remaining: 0 });
              wb = await open();
            }
            const c = commands[i];
            switch (c?.kind) {
              case 'write': {
                const n = acknowledged.length;
                const key = `k${c.key}`;
                const id = c.id === null ? undefined : `id-${c.id}`;
                await drive(
                  clock,
                  wb.write(key, { n, poison: c.poison }, id === undefined ? {} : { id }),
                  `write ${n}`,
                );
                acknowledged.push({ n, key, id });
                break;
              }
              case 'outage':
                sink.outage += c.failures;
                break;
              case 'advance':
                await clock.advance(c.ms);
                break;
              case 'flush':
                await drive(clock, wb.flush(), 'flush');
                break;
              case undefined:
                break;
            }
          }
          await drive(clock, wb.flush(), 'the last flush');
          assert.deepEqual(await drive(clock, wb.close(), 'the last close'), {
            drained: true,
            remaining: 0,
          });
          assert.equal(clock.pendingTimers, 0, 'no timer left after close');

          const letters = await journal.deadLetters().list({ limit: 100_000 });
          const lettered = new Map<string, Value>();
          for (const l of letters) {
            assert.ok(!lettered.has(l.entryId), `${l.entryId} dead-lettered twice`);
            assert.ok(!sink.rows.has(l.entryId), `${l.entryId} both in the sink and dead-lettered`);
            lettered.set(l.entryId, l.payload as Value);
          }
          for (const [id, value] of lettered)
            assert.ok(value.poison, `${id} dead-lettered, not poison`);
          for (const [id, row] of sink.rows)
            assert.ok(!row.value.poison, `${id}: poison in the sink`);

          // Ids deduplicate: the journal keeps the first write of an id; later ones are that one.
          const firstOfId = new Map<string, number>();
          for (const w of acknowledged) {
            if (w.id !== undefined && !firstOfId.has(w.id)) firstOfId.set(w.id, w.n);
          }
          const landed = new Map<number, number>();
          for (const v of [...[...sink.rows.values()].map((r) => r.value), ...lettered.values()]) {
            landed.set(v.n, (landed.get(v.n) ?? 0) + 1);
          }
          for (const w of acknowledged) {
            const n = w.id === undefined ? w.n : (firstOfId.get(w.id) as number);
            assert.equal(landed.get(n), 1, `write ${w.n} (as ${n}) landed once`);
          }
          const expected = new Set(
            acknowledged
              .filter((w) => w.id === undefined || firstOfId.get(w.id) === w.n)
              .map((w) => w.n),
          );
          assert.deepEqual(
            [...landed.keys()].sort((a, b) => a - b),
            [...expected].sort((a, b) => a - b),
          );
          assert.ok(sink.runs.size <= 2, 'writes came from the two pipelines only');
          for (const [signal, entries] of sink.runs) {
            const run =
              signal === undefined ? '?' : signal === sink.runs.keys().next().value ? 1 : 2;
            const last = new Map<string, number>();
            for (const entry of entries) {
              const before = last.get(entry.key) ?? -Infinity;
              assert.ok(
                entry.version > before,
                `run ${run}, ${entry.key}: ${entry.version} after ${before}`,
              );
              last.set(entry.key, entry.version);
            }
          }
        },
      ),
      { numRuns: 50, seed },
    );
  },
);
