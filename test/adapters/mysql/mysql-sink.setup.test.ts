import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { ConfigError, SinkError } from '../../../src/index.js';
import {
  classifyMysqlError,
  mysqlSink,
  type MysqlSinkOptions,
} from '../../../src/adapters/mysql/index.js';
import { databaseUri, entry, failure, mysqlForFile, mysqlUri } from '../../helpers/mysql.js';

const db = await mysqlForFile();

if (db.skip !== undefined) {
  test('mysqlSink', { skip: db.skip }, () => {});
} else {
  const { pool, database } = db;
  const rows = async (sql: string): Promise<RowDataPacket[]> =>
    (await pool.query<RowDataPacket[]>(sql))[0];
  /** A uri of the test server with this file's database. */
  const uri = databaseUri(database);

  test('mysqlSink() refuses a table or database name with SQL in it, before touching the server', async () => {
    const base = { pool, columns: ['a'], mode: 'upsert' as const, conflict: ['a'] };
    await assert.rejects(
      mysqlSink({ ...base, table: 'x; DROP DATABASE test' }),
      (e: unknown) => e instanceof ConfigError && e.option === 'table',
    );
    await assert.rejects(
      mysqlSink({ ...base, table: 't', database: 'test`' }),
      (e: unknown) => e instanceof ConfigError && e.option === 'database',
    );
  });

  test('mysqlSink() refuses a missing database, table, column or unique index, a prefix index and a MyISAM table', async () => {
    await pool.query('CREATE TABLE plain (account VARCHAR(64), balance INT)');
    await pool.query(
      'CREATE TABLE plain_ids (sluice_id VARCHAR(64), account VARCHAR(64), balance INT)',
    );
    await pool.query(
      'CREATE TABLE prefixed (account VARCHAR(64), balance INT, UNIQUE KEY (account(4)))',
    );
    await pool.query(
      'CREATE TABLE legacy (account VARCHAR(64) PRIMARY KEY, balance INT) ENGINE=MyISAM',
    );
    const base = {
      pool,
      columns: ['account', 'balance'],
      mode: 'upsert' as const,
      conflict: ['account'],
    };
    await assert.rejects(
      mysqlSink({ ...base, table: 'plain', database: 'sluice_no_such_database' }),
      (e: unknown) => e instanceof ConfigError && e.option === 'database',
    );
    await assert.rejects(
      mysqlSink({ ...base, table: 'nowhere' }),
      /an existing table, got `".*\.nowhere"`/,
    );
    await assert.rejects(
      mysqlSink({ ...base, table: 'plain', columns: ['account', 'credit'] }),
      /it has no credit/,
    );
    await assert.rejects(mysqlSink({ ...base, table: 'plain' }), /unique index or primary key/);
    await assert.rejects(mysqlSink({ ...base, table: 'prefixed' }), /on the whole columns/);
    await assert.rejects(
      mysqlSink({ ...base, table: 'plain_ids', mode: 'insert' }),
      (e: unknown) => e instanceof ConfigError && e.option === 'idColumn',
    );
    await assert.rejects(
      mysqlSink({ ...base, table: 'legacy' }),
      (e: unknown) =>
        e instanceof ConfigError && e.option === 'table' && /transactional.*MyISAM/.test(e.message),
    );
  });

  test('mysqlSink() refuses a session that is not strict, which would store bad values mangled', async () => {
    await pool.query('CREATE TABLE lax (account VARCHAR(64) PRIMARY KEY, balance INT)');
    const single = createPool({ uri, connectionLimit: 1 });
    await single.query(`SET SESSION sql_mode = ''`);
    const error = await failure(
      mysqlSink({
        pool: single,
        table: 'lax',
        columns: ['account', 'balance'],
        mode: 'upsert',
        conflict: ['account'],
      }),
    );
    assert.ok(error instanceof SinkError, String(error));
    assert.match(error.message, /sql_mode \(empty\) is not strict/);
    await single.end();
  });

  test('mysqlSink with its own pool from `connection` options, closed by close(); idle, it lets the process exit', async () => {
    await pool.query('CREATE TABLE idle (account VARCHAR(64) PRIMARY KEY, balance INT)');
    const url = new URL(mysqlUri);
    const sink = await mysqlSink({
      connection: {
        host: url.hostname,
        port: Number(url.port || 3306),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database,
      },
      table: 'idle',
      columns: ['account', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
    });
    await sink.writeBatch([entry('1', 'b', { account: 'b', balance: 2 }, 1)]);
    await sink.close();
    await sink.close();
    await assert.rejects(sink.pool.query('SELECT 1'), /Pool is closed/);

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('../../fixtures/mysql-idle-child.ts', import.meta.url)),
        mysqlUri,
        database,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
    assert.equal(out, 'written\n');
    assert.equal((await rows('SELECT COUNT(*) AS n FROM idle'))[0]?.['n'], 2);
  });
}

test('mysqlSink() against an unreachable server or an unknown database rejects with a SinkError (the driver error as cause) and leaves no pool open', async () => {
  const base = { table: 't', columns: ['a'], mode: 'upsert' as const, conflict: ['a'] };
  const refused = await failure(
    mysqlSink({ ...base, uri: 'mysql://root@127.0.0.1:1/test', connectTimeoutMs: 1_000 }),
  );
  assert.ok(refused instanceof SinkError, String(refused));
  assert.equal(refused.code, 'ERR_SLUICE_SINK');
  assert.equal((refused.cause as { code?: string }).code, 'ECONNREFUSED');
  assert.equal(classifyMysqlError(refused.cause), 'unavailable');
  if (db.skip !== undefined) return;
  const url = new URL(mysqlUri);
  url.pathname = '/sluice_no_such_database';
  const unknown = await failure(mysqlSink({ ...base, uri: url.toString() }));
  assert.ok(unknown instanceof SinkError, String(unknown));
  assert.equal((unknown.cause as { code?: string }).code, 'ER_BAD_DB_ERROR');
});

test('mysqlSink() options: a misspelled name is refused naming the nearest known one, before any connection', async () => {
  const base = { table: 't', columns: ['a'], mode: 'upsert' as const, conflict: ['a'] };
  const uri = 'mysql://root@127.0.0.1:1/test';
  const refuses = (options: Record<string, unknown>, pattern: RegExp): Promise<void> =>
    assert.rejects(
      mysqlSink(options as unknown as MysqlSinkOptions<unknown>),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  await refuses(
    { ...base, urii: uri },
    /Unknown option `urii` in mysqlSink\(\) options; did you mean `uri`\?/,
  );
  await refuses({ ...base, uri, maxConnection: 2 }, /did you mean `maxConnections`\?/);
  await refuses({ ...base, uri, databse: 'x' }, /did you mean `database`\?/);
  await refuses({ ...base, uri, versionColum: 'v' }, /did you mean `versionColumn`\?/);
  await refuses(
    { ...base, uri, queryTimeoutMs: 0 },
    /Expected `queryTimeoutMs` to be an integer >= 1/,
  );
  await refuses(
    { ...base, uri, maxStatementBytes: 10 },
    /`maxStatementBytes` to be an integer >= 4096/,
  );
  await refuses({ ...base, uri: '' }, /Expected `uri` to be a non-empty string/);
  await refuses(
    base,
    /Expected `pool` to be a mysql2 Pool, or `uri` or `connection` instead \(exactly one\)/,
  );
  await refuses(
    { ...base, uri, connection: {} },
    /`connection` to be a mysql2 Pool.*exactly one.*uri and connection given/,
  );
  await refuses(
    { ...base, connection: { host: '127.0.0.1', connectionLimit: 2 } },
    /`connection.connectionLimit` to be unset \(the sink's `maxConnections` sets it\)/,
  );
  await refuses({ ...base, pool: 'mysql://x' }, /Expected `pool` to be an object with query\(\)/);
  const callbackPool = createPool({ uri });
  try {
    await refuses({ ...base, pool: callbackPool.pool }, /a pool from mysql2\/promise/);
    await refuses(
      { ...base, pool: callbackPool, maxConnections: 2 },
      /`maxConnections` to be unset when `pool` is given/,
    );
  } finally {
    await callbackPool.end();
  }
});
