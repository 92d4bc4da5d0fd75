/**
 * `journal: 'memory'`: the pipeline on a bounded in-memory queue, on the system clock (the
 * one users run it with), so versions and append times are what a sink and a replay see.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  ClosedError,
  MemorySink,
  WriteBehind,
  type Sink,
  type SinkEntry,
} from '../../src/index.js';
import { hashKey } from '../../src/core/pool/routing.js';

type Row = { n: number };

/**
 * A memory-mode pipeline of two lanes whose sink holds each batch with the key 'stuck' until
 * `release()`, and hands every entry it writes to `wrote`; the other lane writes at once.
 */
async function holdingStuck(
  maxSize: number,
  wrote: (entry: SinkEntry<Row>) => void,
): Promise<{ wb: WriteBehind<Row>; release: () => void }> {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const sink: Sink<Row> = {
    async writeBatch(entries) {
      if (entries.some((e) => e.key === 'stuck')) await held;
      for (const e of entries) wrote(e);
      return {};
    },
    classify: () => 'rejected',
    close: () => Promise.resolve(),
  };
  const wb = await WriteBehind.open<Row>({
    journal: 'memory',
    sink,
    workers: 2,
    batch: { maxSize, maxDelayMs: 0 },
  });
  return { wb, release };
}

/** `count` keys of the lane 'stuck' is not on (a key's lane is hashKey(key) % workers). */
function otherLane(count: number): string[] {
  return Array.from({ length: 1_000 }, (_, i) => `k${i}`)
    .filter((k) => hashKey(k) % 2 !== hashKey('stuck') % 2)
    .slice(0, count);
}

test("journal: 'memory' gives integer versions that grow with wall time, counts every write", async () => {
  const seen: SinkEntry<Row>[] = [];
  const sink = new MemorySink<Row>({ check: (e) => void seen.push(e) });
  const wb = await WriteBehind.open<Row>({ journal: 'memory', sink, batch: { maxDelayMs: 0 } });
  const before = Date.now() * 1000;
  await Promise.all(Array.from({ length: 100 }, (_, i) => wb.write(`k${i % 7}`, { n: i })));
  await wb.flush();
  assert.equal(seen.length, 100);
  for (const e of seen) {
    assert.ok(Number.isSafeInteger(e.version), `version ${e.version} is an integer`);
    assert.ok(e.version >= before, `version ${e.version} is from the wall clock`);
  }
  const m = wb.metrics();
  assert.equal(m.written, 100);
  assert.equal(m.endToEndLatencyMs.count, 100);
  assert.equal(m.backlog, 0);
  assert.equal(m.backlogBytes, 0);
  const stats = await wb.stats();
  assert.equal(stats.head, 100);
  assert.equal(stats.entries, 0);
  assert.equal(wb.journal, undefined);
  await wb.close();
});

test("journal: 'memory' hands the sink the value written, and an id deduplicates while pending", async () => {
  const sink = new MemorySink<Row>();
  const wb = await WriteBehind.open<Row>({ journal: 'memory', sink, batch: { maxDelayMs: 50 } });
  const value = { n: 1 };
  const [a, b] = await Promise.all([
    wb.write('k', value, { id: 'once' }),
    wb.write('k', { n: 2 }, { id: 'once' }),
  ]);
  assert.equal(a, b);
  await wb.flush();
  assert.equal(sink.rows.get('k')?.value, value);
  assert.equal(wb.metrics().persisted, 1);
  await wb.close();
});

test("journal: 'memory' forgets an id a generation after the watermark passed it", async () => {
  const sink = new MemorySink<Row>();
  const wb = await WriteBehind.open<Row>({ journal: 'memory', sink, batch: { maxDelayMs: 0 } });
  const first = await wb.write('k', { n: 1 }, { id: 'a' });
  await wb.flush();
  await wb.write('j', { n: 2 }, { id: 'b' }); // the watermark passed 'a': a new generation
  await wb.flush(); // and it passed that one's head too: 'a' is forgotten
  const again = await wb.write('k', { n: 3 }, { id: 'a' });
  assert.ok(again > first, `written anew at ${again}, not deduplicated to ${first}`);
  await wb.flush();
  assert.deepEqual(sink.rows.get('k')?.value, { n: 3 });
  assert.equal(wb.metrics().persisted, 3);
  await wb.close();
});

test(
  "journal: 'memory' keeps deduplicating an unfinished id once its generation is the old one",
  { timeout: 10_000 },
  async () => {
    const written: string[] = [];
    const { wb, release } = await holdingStuck(1, (e) => written.push(e.id));
    const [first, second] = otherLane(2) as [string, string];
    // Written together; then the other lane's two finish one after the other: the watermark
    // reaches the first, and its generation, 's' included, becomes the old one; then the
    // second, short of that generation's head.
    const [, , stuck] = await Promise.all([
      wb.write(first, { n: 0 }, { id: 'o0' }),
      wb.write(second, { n: 1 }, { id: 'o1' }),
      wb.write('stuck', { n: -1 }, { id: 's' }),
    ]);
    while (written.length < 2) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await wb.write('stuck', { n: -2 }, { id: 's' }), stuck, 'still deduplicated');
    release();
    await wb.flush();
    assert.equal(written.filter((id) => id === 's').length, 1);
    await wb.close();
  },
);

test("journal: 'memory' dead letters replay while open; after close, replay refuses and keeps them", async () => {
  let refuse = true;
  const sink = new MemorySink<Row>({
    check: () => {
      if (refuse) throw new RangeError('not now');
    },
  });
  const wb = await WriteBehind.open<Row>({ journal: 'memory', sink, batch: { maxDelayMs: 0 } });
  await wb.write('a', { n: 1 });
  await wb.write('b', { n: 2 });
  await wb.flush();
  const letters = await wb.deadLetters.list();
  assert.equal(letters.length, 2);
  refuse = false;
  const [first, second] = letters.map((l) => l.id) as [number, number];
  const { replayed } = await wb.deadLetters.replay([first]);
  assert.equal(replayed, 1);
  await wb.flush();
  assert.deepEqual([...sink.rows.keys()], ['a']);
  await wb.close();
  await assert.rejects(wb.deadLetters.replay([second]), ClosedError);
  assert.equal(await wb.deadLetters.count(), 1, 'the letter is kept when replay is refused');
});

test('drain() and flush() after close() gave up reject instead of claiming the backlog is empty', async () => {
  const sink: Sink<Row> = {
    writeBatch: () => new Promise(() => {}), // a store that never answers
    classify: () => 'unknown',
    close: () => Promise.resolve(),
  };
  const wb = await WriteBehind.open<Row>({ journal: 'memory', sink, batch: { maxDelayMs: 0 } });
  await wb.write('a', { n: 1 });
  const draining = assert.rejects(wb.drain(), ClosedError);
  const flushing = assert.rejects(wb.flush(), ClosedError);
  const closed = await wb.close({ deadlineMs: 10 });
  assert.deepEqual(closed, { drained: false, remaining: 1 });
  await draining;
  await flushing;
});

test("journal: 'memory' lets go of a finished entry's value while an earlier entry is still in the sink, and the reader of the batch it took last", async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const written = new Set<string>();
  // Keys only: no value is kept here.
  const { wb, release } = await holdingStuck(10, (e) => written.add(e.key));
  const keys = otherLane(200);
  await wb.write('stuck', { n: -1 }, { id: 'stuck' }); // the watermark stays below this one
  const refs: WeakRef<Row>[] = [];
  // Not in this async function's frame, which may keep its last local alive across awaits.
  const write = (i: number, key: string): Promise<number> => {
    const value = { n: i };
    refs.push(new WeakRef(value));
    return wb.write(key, value, { id: `id-${i}` });
  };
  for (const [i, key] of keys.entries()) await write(i, key);
  while (written.size < 200) await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.equal(
    alive,
    0,
    `${alive} of 200 finished values are still held: ${refs.flatMap((r, i) => (r.deref() === undefined ? [] : [i])).join(', ')}`,
  );
  assert.equal(wb.metrics().backlog, 201, 'all of them count until the watermark passes');
  release();
  await wb.flush();
  await wb.close();
});
