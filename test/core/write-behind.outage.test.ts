/**
 * A sink that cannot take writes is an outage, not a flood of bad entries: the batch waits
 * and is retried as it is, `sink:unavailable` / `sink:available` tell when, and nothing is
 * dead-lettered. Bad entries are still found and dead-lettered, alone. A failing
 * dead-letter store is retried and surfaced, never swallowed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryDeadLetters,
  MemoryJournal,
  MemorySink,
  type WriteBehind,
  type DeadLetterInput,
  type SinkFailure,
} from '../../src/index.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

type Row = { account: string; seq: number };
const h = trackedPipelines();
/** A hang becomes a failure. */
const within = { timeout: 10_000 };
const fast = { batch: { maxSize: 50, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 4 } };

/** A sink whose every write fails with `error` while `down` is set. */
function breakable(error: () => Error, classify?: (e: unknown) => SinkFailure) {
  const state = { down: false };
  const sink = new MemorySink<Row>({
    mode: 'insert',
    beforeWrite: () => {
      if (state.down) throw error();
    },
    ...(classify === undefined ? {} : { classify }),
  });
  return { state, sink };
}

async function writeAll(wb: WriteBehind<Row>, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await wb.write(`k${i % 7}`, { account: `k${i % 7}`, seq: i });
}

test(
  "an 'unavailable' sink is waited out: nothing dead-lettered, sink:unavailable then sink:available, everything lands",
  within,
  async () => {
    const { state, sink } = breakable(
      () => Object.assign(new Error('relation "t" does not exist'), { code: '42P01' }),
      (e) => ((e as { code?: string }).code === '42P01' ? 'unavailable' : 'rejected'),
    );
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      workers: 2,
      ...fast,
    });
    const events: string[] = [];
    wb.on('sink:unavailable', () => events.push('unavailable'));
    wb.on('sink:available', ({ downMs }) => events.push(`available after ${downMs >= 0}`));
    await writeAll(wb, 0, 100);
    await h.drive(wb.flush());
    state.down = true;
    await writeAll(wb, 100, 300);
    await h.clock.advance(50);
    assert.equal(wb.metrics().outages, 1);
    assert.ok(wb.metrics().unavailableForMs > 0);
    assert.ok(wb.metrics().backlog > 0, 'the entries wait in the journal');
    state.down = false;
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 300);
    assert.equal(await wb.deadLetters.count(), 0);
    assert.equal(wb.metrics().deadLettered, 0);
    assert.equal(wb.metrics().unavailableForMs, 0);
    assert.deepEqual(events, ['unavailable', 'available after true']);
    await h.drive(wb.close());
  },
);

test(
  "every entry failing alone with one 'unknown' error is the sink failing: waited out, not dead-lettered",
  within,
  async () => {
    const { state, sink } = breakable(() => new Error('socket hang up'));
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      workers: 1,
      ...fast,
    });
    let unavailable = 0;
    wb.on('sink:unavailable', () => unavailable++);
    state.down = true;
    // Written together, so the reader finds them together: batches of several entries.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => wb.write(`k${i % 7}`, { account: `k${i % 7}`, seq: i })),
    );
    await h.clock.advance(50);
    assert.equal(await wb.deadLetters.count(), 0);
    assert.ok(unavailable >= 1);
    state.down = false;
    await h.drive(wb.flush());
    assert.equal(sink.rows.size, 40);
    assert.equal(await wb.deadLetters.count(), 0);
    await h.drive(wb.close());
  },
);

test(
  "'rejected' entries are dead-lettered even when a whole batch is bad; 'unknown' failures that differ are too",
  within,
  async () => {
    const rejected = new MemorySink<Row>({
      mode: 'insert',
      check: () => {
        throw new RangeError('violates check constraint "positive"');
      },
      classify: () => 'rejected',
    });
    const wb = await h.open<Row>({ journal: new MemoryJournal(), sink: rejected, ...fast });
    await writeAll(wb, 0, 20);
    await h.drive(wb.flush());
    assert.equal(await wb.deadLetters.count(), 20, 'the table blames the entries: no outage');
    assert.equal(wb.metrics().outages, 0);
    await h.drive(wb.close());

    const unknown = new MemorySink<Row>({
      mode: 'insert',
      check: (e) => {
        throw new Error(`entry ${e.value.seq} is malformed`); // a different error each
      },
    });
    const wb2 = await h.open<Row>({ journal: new MemoryJournal(), sink: unknown, ...fast });
    await writeAll(wb2, 0, 10);
    await h.drive(wb2.flush());
    assert.equal(await wb2.deadLetters.count(), 10);
    await h.drive(wb2.close());
  },
);

test(
  'a dead-letter store that fails is retried (deadLetters:retry) until it takes the letters; nothing is lost or stalls',
  within,
  async () => {
    let failures = 3;
    const store = new MemoryDeadLetters();
    const add = store.add.bind(store);
    store.add = (letters: readonly DeadLetterInput[]) =>
      failures-- > 0 ? Promise.reject(new Error('dead-letter table is locked')) : add(letters);
    const sink = new MemorySink<Row>({
      mode: 'insert',
      check: (e) => {
        if (e.value.seq === 3) throw new RangeError('bad seq');
      },
      classify: () => 'rejected',
    });
    const wb = await h.open<Row>({
      journal: new MemoryJournal(),
      sink,
      deadLetters: store,
      ...fast,
    });
    const retries: number[] = [];
    wb.on('deadLetters:retry', ({ attempt }) => retries.push(attempt));
    await writeAll(wb, 0, 10);
    await h.drive(wb.flush());
    assert.deepEqual(retries, [1, 2, 3]);
    assert.equal(await store.count(), 1);
    assert.equal(sink.rows.size, 9);
    await h.drive(wb.close());
  },
);

test('a classify() that throws counts as unknown; the pipeline carries on', within, async () => {
  const sink = new MemorySink<Row>({
    mode: 'insert',
    check: (e) => {
      if (e.value.seq === 5) throw new RangeError('bad');
    },
    classify: () => {
      throw new Error('classifier bug');
    },
  });
  const wb = await h.open<Row>({ journal: new MemoryJournal(), sink, ...fast });
  await writeAll(wb, 0, 12);
  await h.drive(wb.flush());
  assert.equal(sink.rows.size, 11);
  assert.equal(await wb.deadLetters.count(), 1);
  await h.drive(wb.close());
});
