import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClosedError, ConfigError, SinkError } from '../../../src/index.js';
import {
  classifyPostgresError,
  postgresSink,
  type PostgresSinkOptions,
} from '../../../src/adapters/postgres/index.js';
import { sinkConformance, type BalanceRow } from '../../../src/testing/index.js';
import { connectionString, postgresForFile } from '../../helpers/postgres.js';

const db = await postgresForFile();

if (db.skip !== undefined) {
  test('postgresSink', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  let n = 0;

  sinkConformance('postgresSink', {
    open: async (mode, options) => {
      const table = `${mode}_${++n}`;
      await pool.query(
        mode === 'upsert'
          ? `CREATE TABLE ${schema}.${table} (account text PRIMARY KEY, balance integer NOT NULL, note text, version bigint)`
          : `CREATE TABLE ${schema}.${table} (sluice_id text UNIQUE, account text NOT NULL, balance integer NOT NULL, note text, version bigint)`,
      );
      const sink = await postgresSink<BalanceRow>({
        pool,
        schema,
        table,
        columns: ['account', 'balance', 'note'],
        mode,
        conflict: ['account'],
        ...(options?.versioned === true ? { versionColumn: 'version' } : {}),
      });
      return {
        sink,
        rows: async () =>
          (await pool.query<BalanceRow>(`SELECT account, balance, note FROM ${schema}.${table}`))
            .rows,
      };
    },
  });

  test('postgresSink() refuses a table name with SQL in it, before touching the database', async () => {
    await assert.rejects(
      postgresSink({
        pool,
        schema,
        table: 'x; DROP SCHEMA public',
        columns: ['a'],
        mode: 'upsert',
        conflict: ['a'],
      }),
      (e: unknown) => e instanceof ConfigError && e.option === 'table',
    );
    await assert.rejects(
      postgresSink({
        pool,
        schema: 'public"',
        table: 't',
        columns: ['a'],
        mode: 'upsert',
        conflict: ['a'],
      }),
      (e: unknown) => e instanceof ConfigError && e.option === 'schema',
    );
  });

  test('postgresSink() refuses a missing table, column or unique index', async () => {
    await pool.query(`CREATE TABLE ${schema}.plain (account text, balance integer)`);
    const base = {
      pool,
      schema,
      columns: ['account', 'balance'],
      mode: 'upsert' as const,
      conflict: ['account'],
    };
    await assert.rejects(
      postgresSink({ ...base, table: 'nowhere' }),
      /an existing table, got `".*\.nowhere"`/,
    );
    await assert.rejects(
      postgresSink({ ...base, table: 'plain', columns: ['account', 'credit'] }),
      /it has no credit/,
    );
    await assert.rejects(postgresSink({ ...base, table: 'plain' }), /unique index or primary key/);
    const { pool: _pool, ...withoutPool } = base;
    await assert.rejects(postgresSink({ ...withoutPool, table: 'plain' }), /exactly one/);
  });

  test('postgresSink writes typed columns through one unnest statement: numeric, jsonb, timestamptz, bytea', async () => {
    await pool.query(
      `CREATE TABLE ${schema}.kinds (id text PRIMARY KEY, amount numeric(10,2), doc jsonb, at timestamptz, raw bytea, flag boolean)`,
    );
    const sink = await postgresSink<Record<string, unknown>>({
      pool,
      schema,
      table: 'kinds',
      columns: ['id', 'amount', 'doc', 'at', 'raw', 'flag'],
      mode: 'upsert',
      conflict: ['id'],
    });
    await sink.writeBatch([
      {
        id: '1',
        key: 'a',
        version: 1,
        value: {
          id: 'a',
          amount: 12.5,
          doc: { tags: ['x', 'y"z'] },
          at: new Date(0),
          raw: new Uint8Array([0, 255]),
          flag: true,
        },
      },
      {
        id: '2',
        key: 'b',
        version: 2,
        value: { id: 'b', amount: null, doc: null, at: undefined, raw: null, flag: false },
      },
    ]);
    const { rows } = await pool.query(
      `SELECT id, amount::text, doc, at, raw, flag FROM ${schema}.kinds ORDER BY id`,
    );
    assert.deepEqual(rows[0], {
      id: 'a',
      amount: '12.50',
      doc: { tags: ['x', 'y"z'] },
      at: new Date(0),
      raw: Buffer.from([0, 255]),
      flag: true,
    });
    assert.deepEqual(rows[1], {
      id: 'b',
      amount: null,
      doc: null,
      at: null,
      raw: null,
      flag: false,
    });
    await sink.close();
    await assert.rejects(sink.writeBatch([]), ClosedError);
  });

  test('versionColumn: a 32-bit column is refused; a row from before the column (NULL) takes the entry', async () => {
    await pool.query(
      `CREATE TABLE ${schema}.narrow (account text PRIMARY KEY, balance integer, version integer)`,
    );
    await assert.rejects(
      postgresSink({
        pool,
        schema,
        table: 'narrow',
        columns: ['account', 'balance'],
        mode: 'upsert',
        conflict: ['account'],
        versionColumn: 'version',
      }),
      (e: unknown) =>
        e instanceof ConfigError && e.option === 'versionColumn' && /64 bits/.test(e.message),
    );
    await pool.query(
      `CREATE TABLE ${schema}.wide (account text PRIMARY KEY, balance integer, version bigint)`,
    );
    await pool.query(`INSERT INTO ${schema}.wide VALUES ('a', 1, NULL)`);
    const sink = await postgresSink({
      pool,
      schema,
      table: 'wide',
      columns: ['account', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
      versionColumn: 'version',
    });
    const version = Date.now() * 1000;
    await sink.writeBatch([{ id: 'e', key: 'a', value: { account: 'a', balance: 2 }, version }]);
    const { rows } = await pool.query(`SELECT balance, version FROM ${schema}.wide`);
    assert.deepEqual(rows, [{ balance: 2, version: String(version) }]);
  });

  test('postgresSink with its own pool from a connection string, closed by close()', async () => {
    await pool.query(`CREATE TABLE ${schema}.own (account text PRIMARY KEY, balance integer)`);
    const sink = await postgresSink({
      connectionString,
      schema,
      table: 'own',
      columns: ['account', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
    });
    await sink.writeBatch([{ id: '1', key: 'a', value: { account: 'a', balance: 1 }, version: 1 }]);
    await sink.close();
    assert.equal(sink.pool.ended, true);
    assert.equal(
      (await pool.query<{ balance: number }>(`SELECT balance FROM ${schema}.own`)).rows[0]?.balance,
      1,
    );
  });
}

test('postgresSink() against an unreachable server rejects with a SinkError (the driver error as cause) and leaves no pool open', async () => {
  const error = await postgresSink({
    connectionString: 'postgres://postgres@127.0.0.1:1/test',
    table: 't',
    columns: ['a'],
    mode: 'upsert',
    conflict: ['a'],
    connectTimeoutMs: 1_000,
  }).catch((e: unknown) => e);
  assert.ok(error instanceof SinkError, String(error));
  assert.equal(error.code, 'ERR_SLUICE_SINK');
  assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED');
  assert.equal(classifyPostgresError(error.cause), 'unavailable');
});

test('classifyPostgresError() blames the entry only for data, constraint and limit errors', () => {
  const err = (code: string): Error => Object.assign(new Error(code), { code });
  for (const code of [
    '08006', // connection failure
    '08001',
    '40001', // serialization failure
    '40P01', // deadlock
    '57P01', // admin shutdown
    '53300', // too many connections
    '53100', // disk full
    '55P03', // lock_timeout during a migration
    '57014', // statement_timeout
    '42P01', // table renamed away
    '42703', // column renamed away
    '42501', // privilege revoked
    '25006', // read-only transaction
    '3D000', // database missing
    'ECONNREFUSED',
    'ECONNRESET',
    'ENOTFOUND',
  ]) {
    assert.equal(classifyPostgresError(err(code)), 'unavailable', code);
  }
  for (const code of ['23505', '23502', '23514', '22P02', '22001', '54000', 'P0001']) {
    assert.equal(classifyPostgresError(err(code)), 'rejected', code);
  }
  for (const message of [
    'Connection terminated unexpectedly',
    'timeout exceeded when trying to connect', // pg-pool: no connection freed up in time
  ]) {
    assert.equal(classifyPostgresError(new Error(message)), 'unavailable', message);
  }
  assert.equal(classifyPostgresError(new TypeError('toRow failed')), 'unknown');
  assert.equal(classifyPostgresError('nope'), 'unknown');
});

test('postgresSink() options: a misspelled name is refused naming the nearest known one, before any connection', async () => {
  const base = { table: 't', columns: ['a'], mode: 'upsert' as const, conflict: ['a'] };
  const refuses = (options: Record<string, unknown>, pattern: RegExp): Promise<void> =>
    assert.rejects(
      postgresSink(options as unknown as PostgresSinkOptions<unknown>),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  await refuses(
    { ...base, connectionStrng: connectionString },
    /Unknown option `connectionStrng` in postgresSink\(\) options; did you mean `connectionString`\?/,
  );
  await refuses({ ...base, connectionString, maxConnection: 2 }, /did you mean `maxConnections`\?/);
  await refuses({ ...base, connectionString, versionColum: 'v' }, /did you mean `versionColumn`\?/);
  await refuses({ ...base, connectionString, toRow: {} }, /Expected `toRow` to be a function/);
  await refuses({ ...base, connectionString: '' }, /Expected `connectionString` to be a non-empty/);
  await refuses(
    { ...base, pool: 'postgres://x' },
    /Expected `pool` to be an object with query\(\)/,
  );
  const pool = { query: () => {}, connect: () => {}, end: () => {} };
  await refuses(
    { ...base, pool, queryTimeoutMs: 500 },
    /`queryTimeoutMs` to be unset when `pool` is given/,
  );
});
