import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSqlite, type SqliteDatabase } from '../../../src/adapters/sqlite/driver.js';
import { ClosedError, ConfigError } from '../../../src/index.js';
import { sqliteSink, type SqliteSinkOptions } from '../../../src/adapters/sqlite/index.js';
import { sinkConformance, type BalanceRow } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/temp.js';
import { balancesDatabase, sqliteBalancesHarness } from '../../helpers/sqlite-balances.js';

const dir = tempDir();

const freshDatabase = (): SqliteDatabase => balancesDatabase(dir);

sinkConformance('sqliteSink', sqliteBalancesHarness(dir));

test('sqliteSink() refuses a table name with SQL in it, naming the option', () => {
  const db = freshDatabase();
  assert.throws(
    () =>
      sqliteSink({
        database: db,
        table: 'balances; DROP TABLE ledger',
        columns: ['account'],
        mode: 'upsert',
        conflict: ['account'],
      }),
    (e: unknown) =>
      e instanceof ConfigError && e.option === 'table' && /SQL identifier/.test(e.message),
  );
  assert.throws(
    () =>
      sqliteSink({
        database: db,
        table: 'balances',
        columns: ['account', 'balance"--'],
        mode: 'upsert',
        conflict: ['account'],
      }),
    (e: unknown) => e instanceof ConfigError && e.option === 'columns[1]',
  );
  const ledger = db
    .prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'ledger'")
    .get() as { n: number };
  assert.equal(ledger.n, 1, 'nothing was run');
});

test('sqliteSink() refuses a missing table, column or unique index with a clear ConfigError', () => {
  const db = freshDatabase();
  db.exec('CREATE TABLE plain (account TEXT, balance INTEGER)');
  const base = {
    database: db,
    columns: ['account', 'balance'],
    mode: 'upsert' as const,
    conflict: ['account'],
  };
  assert.throws(
    () => sqliteSink({ ...base, table: 'nowhere' }),
    /Expected `table` to be an existing table, got `"nowhere"`/,
  );
  assert.throws(
    () => sqliteSink({ ...base, table: 'balances', columns: ['account', 'credit'] }),
    /it has no credit/,
  );
  assert.throws(
    () => sqliteSink({ ...base, table: 'plain' }),
    /unique index or primary key on table plain/,
  );
  assert.throws(
    () => sqliteSink({ ...base, table: 'plain', mode: 'insert' }),
    /it has no sluice_id/,
  );
  assert.throws(() => sqliteSink({ ...base, table: 'balances', conflict: ['note'] }), /`conflict`/);
  assert.throws(
    () => sqliteSink({ ...base, table: 'balances', conflict: [] }),
    /`conflict` to be a non-empty array/,
  );
});

test('sqliteSink binds values: booleans, dates, bytes, objects, undefined', async () => {
  const db = freshDatabase();
  db.exec('CREATE TABLE kinds (id TEXT PRIMARY KEY, flag, at, bytes, doc, missing)');
  const sink = sqliteSink<Record<string, unknown>>({
    database: db,
    table: 'kinds',
    columns: ['id', 'flag', 'at', 'bytes', 'doc', 'missing'],
    mode: 'upsert',
    conflict: ['id'],
  });
  await sink.writeBatch([
    {
      id: 'e1',
      key: 'k',
      version: 1,
      value: {
        id: 'k',
        flag: true,
        at: new Date(0),
        bytes: new Uint8Array([1, 2]),
        doc: { a: [1] },
        missing: undefined,
      },
    },
  ]);
  const row = db.prepare('SELECT * FROM kinds').get() as Record<string, unknown>;
  assert.deepEqual(
    { ...row, bytes: [...(row['bytes'] as Buffer)] },
    {
      id: 'k',
      flag: 1,
      at: '1970-01-01T00:00:00.000Z',
      bytes: [1, 2],
      doc: '{"a":[1]}',
      missing: null,
    },
  );
  await sink.close();
  await assert.rejects(sink.writeBatch([]), ClosedError);
});

test('sqliteSink says a locked database is unavailable, not a bad entry', async () => {
  const path = join(dir, 'locked.db');
  const setup = openSqlite(path);
  setup.pragma('journal_mode = WAL');
  setup.exec(
    'CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, note TEXT)',
  );
  const db = openSqlite(path, { timeoutMs: 0 });
  const sink = sqliteSink<BalanceRow>({
    database: db,
    table: 'balances',
    columns: ['account', 'balance', 'note'],
    mode: 'upsert',
    conflict: ['account'],
  });
  setup.exec('BEGIN IMMEDIATE');
  const failure = await sink
    .writeBatch([{ id: '1', key: 'a', value: { account: 'a', balance: 1, note: '' }, version: 1 }])
    .catch((e: unknown) => e);
  assert.match(String((failure as { code?: string }).code), /^SQLITE_BUSY/);
  assert.equal(sink.classify(failure), 'unavailable');
  setup.exec('ROLLBACK');
  await sink.writeBatch([
    { id: '1', key: 'a', value: { account: 'a', balance: 1, note: '' }, version: 1 },
  ]);
  assert.equal((db.prepare('SELECT count(*) AS n FROM balances').get() as { n: number }).n, 1);
  setup.close();
  db.close();
});

test('sqliteSink versionColumn: a row from before the column (NULL) takes the entry; an older one does not', async () => {
  const db = freshDatabase();
  db.prepare("INSERT INTO balances VALUES ('a', 1, 'old', NULL)").run();
  const sink = sqliteSink<BalanceRow>({
    database: db,
    table: 'balances',
    columns: ['account', 'balance', 'note'],
    mode: 'upsert',
    conflict: ['account'],
    versionColumn: 'version',
  });
  await sink.writeBatch([
    { id: '1', key: 'a', value: { account: 'a', balance: 2, note: 'v5' }, version: 5 },
  ]);
  const older = await sink.writeBatch([
    { id: '2', key: 'a', value: { account: 'a', balance: 3, note: 'v4' }, version: 4 },
  ]);
  assert.deepEqual(older, { superseded: 1 });
  assert.deepEqual(
    db
      .prepare<[], object>('SELECT balance, note, version FROM balances')
      .all()
      .map((r) => ({ ...r })),
    [{ balance: 2, note: 'v5', version: 5 }],
  );
});

test('sqliteSink opens a file path itself and closes it', async () => {
  const path = join(dir, 'own.db');
  const setup = openSqlite(path);
  setup.exec(
    'CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, note TEXT)',
  );
  setup.close();
  const sink = sqliteSink<BalanceRow>({
    database: path,
    table: 'balances',
    columns: ['account', 'balance', 'note'],
    mode: 'upsert',
    conflict: ['account'],
  });
  await sink.writeBatch([
    { id: '1', key: 'a', value: { account: 'a', balance: 5, note: 'x' }, version: 1 },
  ]);
  assert.equal(sink.database.pragma('journal_mode', { simple: true }), 'wal');
  await sink.close();
  assert.equal(sink.database.open, false);
});

test('sqliteSink() options: a misspelled name is refused naming the nearest known one; wrong types are refused', () => {
  const db = freshDatabase();
  const base = { database: db, table: 'balances', columns: ['account'], conflict: ['account'] };
  const refuses = (options: Record<string, unknown>, pattern: RegExp): void =>
    assert.throws(
      () => sqliteSink(options as unknown as SqliteSinkOptions<unknown>),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  refuses(
    { ...base, conflcit: ['account'] },
    /Unknown option `conflcit` in sqliteSink\(\) options; did you mean `conflict`\?/,
  );
  refuses({ ...base, databse: db }, /did you mean `database`\?/);
  refuses({ ...base, synchronus: 'normal' }, /did you mean `synchronous`\?/);
  refuses({ ...base, toRow: 'account' }, /Expected `toRow` to be a function/);
  refuses(
    { ...base, database: 42 },
    /Expected `database` to be a file path, a better-sqlite3 Database or a node:sqlite DatabaseSync/,
  );
  refuses(
    { ...base, database: join(dir, 'x.db'), synchronous: 'off' },
    /`synchronous` to be one of/,
  );
  refuses(
    { ...base, synchronous: 'normal' },
    /`synchronous` to be unset when `database` is an open/,
  );
  refuses({ ...base, mode: 'insert', idColumn: 7 }, /`idColumn` to be a SQL identifier/);
});
