import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, type SinkEntry, type TableSinkOptions } from '../../src/index.js';
import { resolveTable } from '../../src/backend.js';

const base = { table: 'balances', columns: ['account', 'balance'], conflict: ['account'] };
const resolve = (options: Record<string, unknown>, also: readonly string[] = []): unknown =>
  resolveTable(options as unknown as TableSinkOptions<unknown>, 'test sink options', also);

test('resolveTable() refuses a misspelled option, naming the nearest known one and the bag', () => {
  assert.throws(
    () => resolve({ ...base, versionColum: 'version' }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.option === 'versionColum' &&
      /Unknown option `versionColum` in test sink options; did you mean `versionColumn`\?/.test(
        e.message,
      ),
  );
  assert.throws(() => resolve({ ...base, colums: ['a'] }), /did you mean `columns`\?/);
});

test("resolveTable() takes the adapter's own names, and only those", () => {
  assert.doesNotThrow(() => resolve({ ...base, database: 'x.db' }, ['database']));
  assert.throws(() => resolve({ ...base, database: 'x.db' }), /Unknown option `database`/);
});

test('resolveTable() checks every field whatever the mode: toRow a function, idColumn and conflict identifiers', () => {
  assert.throws(() => resolve({ ...base, toRow: 'account' }), /Expected `toRow` to be a function/);
  assert.throws(
    () => resolve({ ...base, idColumn: 'id; --' }),
    (e: unknown) => e instanceof ConfigError && e.option === 'idColumn',
  );
  assert.throws(
    () => resolve({ ...base, mode: 'insert', conflict: ['nowhere'] }),
    (e: unknown) => e instanceof ConfigError && e.option === 'conflict',
  );
  const insert = resolveTable({ ...base, mode: 'insert' });
  assert.deepEqual([insert.idColumn, insert.conflict], ['sluice_id', []]);
});

test('rowOf(): the written columns only, id and version filled in; a null value gives NULL columns', () => {
  const table = resolveTable<unknown>(
    { table: 't', columns: ['a', 'b'], mode: 'insert', versionColumn: 'v' },
    'test sink options',
  );
  const entry = (value: unknown): SinkEntry<unknown> => ({ key: 'k', value, id: 'e1', version: 7 });
  assert.deepEqual(table.rowOf(entry({ a: 1, b: 'x', extra: true })), {
    sluice_id: 'e1',
    a: 1,
    b: 'x',
    v: 7,
  });
  assert.deepEqual(table.rowOf(entry(null)), {
    sluice_id: 'e1',
    a: undefined,
    b: undefined,
    v: 7,
  });
});
