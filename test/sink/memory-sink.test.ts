import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  MemorySink,
  functionSink,
  type FunctionSinkOptions,
  type SinkEntry,
} from '../../src/index.js';
import { sinkConformance, type BalanceRow } from '../../src/testing/index.js';

sinkConformance('MemorySink', {
  open: (mode, options) => {
    const sink = new MemorySink<BalanceRow>({
      mode,
      versioned: options?.versioned === true,
      check: (e) => {
        if (typeof e.value.balance !== 'number')
          throw new TypeError(`balance of ${e.key} must not be null`);
      },
      classify: (e) => (e instanceof TypeError ? 'rejected' : 'unknown'),
    });
    return Promise.resolve({
      sink,
      rows: () => Promise.resolve([...sink.rows.values()].map((e) => e.value)),
    });
  },
});

sinkConformance('functionSink over a Map', {
  open: (mode, options) => {
    const rows = new Map<string, { value: BalanceRow; version: number }>();
    const sink = functionSink<BalanceRow>(
      (entries) => {
        if (entries.some((e) => e.value.balance === null))
          throw new TypeError('balance must not be null');
        let superseded = 0;
        let duplicates = 0;
        for (const e of entries) {
          const row = rows.get(mode === 'upsert' ? e.key : e.id);
          if (mode === 'insert' && row !== undefined) duplicates++;
          else if (options?.versioned === true && row !== undefined && row.version > e.version)
            superseded++;
          else rows.set(mode === 'upsert' ? e.key : e.id, { value: e.value, version: e.version });
        }
        return { superseded, duplicates };
      },
      { classify: (e) => (e instanceof TypeError ? 'rejected' : 'unknown') },
    );
    return Promise.resolve({
      sink,
      rows: () => Promise.resolve([...rows.values()].map((r) => r.value)),
    });
  },
});

test('MemorySink.beforeWrite can fail a write, which then writes nothing', async () => {
  let down = true;
  const sink = new MemorySink<number>({
    beforeWrite: () => {
      if (down) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    },
    classify: (e) =>
      (e as { code?: string }).code === 'ECONNREFUSED' ? 'unavailable' : 'rejected',
  });
  const batch: SinkEntry<number>[] = [{ id: '1', key: 'a', value: 1, version: 1 }];
  const failure = await sink.writeBatch(batch).catch((e: unknown) => e);
  assert.equal(sink.classify(failure), 'unavailable');
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
  await sink.writeBatch([{ id: '1', key: 'a', value: 1, version: 1 }], { attempt: 2 });
  assert.deepEqual(seen, [1, 2]);
  assert.equal(sink.classify(new Error('x')), 'unknown');
  await sink.close();
  await sink.close();
  assert.equal(closes, 1);
  assert.throws(() => functionSink('nope' as never), /Expected `write` to be a function/);
});

test('new MemorySink() options: a misspelled name is refused naming the nearest known one; wrong types are refused', () => {
  const refuses = (options: Record<string, unknown>, pattern: RegExp): void =>
    assert.throws(
      () => new MemorySink(options),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  refuses(
    { versiond: true },
    /Unknown option `versiond` in MemorySink options; did you mean `versioned`\?/,
  );
  refuses({ versioned: 'yes' }, /Expected `versioned` to be a boolean, got `"yes"`/);
  refuses({ check: 'balance > 0' }, /Expected `check` to be a function/);
  refuses({ beforeWrite: true }, /Expected `beforeWrite` to be a function/);
  refuses({ classify: 'rejected' }, /Expected `classify` to be a function/);
  refuses({ mode: 'merge' }, /Expected `mode` to be one of 'insert' \| 'upsert'/);
});

test('functionSink() options: a misspelled name is refused naming the nearest known one; callbacks must be functions', () => {
  const write = (): void => {};
  assert.throws(
    () => functionSink(write, { clasify: () => 'rejected' } as FunctionSinkOptions),
    (e: unknown) =>
      e instanceof ConfigError &&
      /Unknown option `clasify` in functionSink\(\) options; did you mean `classify`\?/.test(
        e.message,
      ),
  );
  assert.throws(
    () => functionSink(write, { close: true } as unknown as FunctionSinkOptions),
    /Expected `close` to be a function, got `true`/,
  );
  assert.throws(
    () => functionSink(write, { classify: 'unknown' } as unknown as FunctionSinkOptions),
    /Expected `classify` to be a function/,
  );
});
