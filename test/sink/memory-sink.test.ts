import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemorySink, functionSink, type SinkEntry } from '../../src/index.js';
import { sinkConformance, type BalanceRow } from '../../src/testing/index.js';

sinkConformance('MemorySink', {
  open: (mode) => {
    const sink = new MemorySink<BalanceRow>({
      mode,
      check: (e) => {
        if (typeof e.value.balance !== 'number')
          throw new TypeError(`balance of ${e.key} must not be null`);
      },
    });
    return Promise.resolve({
      sink,
      rows: () => Promise.resolve([...sink.rows.values()].map((e) => e.value)),
    });
  },
});

sinkConformance('functionSink over a Map', {
  open: (mode) => {
    const rows = new Map<string, BalanceRow>();
    const sink = functionSink<BalanceRow>((entries) => {
      if (entries.some((e) => e.value.balance === null))
        throw new TypeError('balance must not be null');
      for (const e of entries) {
        if (mode === 'upsert') rows.set(e.key, e.value);
        else if (!rows.has(e.id)) rows.set(e.id, e.value);
      }
    });
    return Promise.resolve({ sink, rows: () => Promise.resolve([...rows.values()]) });
  },
});

test('MemorySink.beforeWrite can fail a write, which then writes nothing', async () => {
  let down = true;
  const sink = new MemorySink<number>({
    beforeWrite: () => {
      if (down) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    },
    isTransient: (e) => (e as { code?: string }).code === 'ECONNREFUSED',
  });
  const batch: SinkEntry<number>[] = [{ id: '1', key: 'a', value: 1 }];
  const failure = await sink.writeBatch(batch).catch((e: unknown) => e);
  assert.equal(sink.isTransient(failure), true);
  assert.equal(sink.rows.size, 0);
  down = false;
  await sink.writeBatch(batch);
  assert.equal(sink.rows.get('a')?.value, 1);
  assert.equal(sink.batches.length, 1);
});

test('functionSink passes the context and calls close once', async () => {
  const seen: unknown[] = [];
  let closes = 0;
  const sink = functionSink<number>((entries, ctx) => void seen.push(entries.length, ctx.attempt), {
    close: () => void closes++,
  });
  await sink.writeBatch([{ id: '1', key: 'a', value: 1 }], { attempt: 2 });
  assert.deepEqual(seen, [1, 2]);
  assert.equal(sink.isTransient(new Error('x')), false);
  await sink.close();
  await sink.close();
  assert.equal(closes, 1);
  assert.throws(() => functionSink('nope' as never), /Expected `write` to be a function/);
});
