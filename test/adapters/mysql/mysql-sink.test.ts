import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { ClosedError, ConfigError, type SinkEntry } from '../../../src/index.js';
import { mysqlSink } from '../../../src/adapters/mysql/index.js';
import { sinkConformance, type BalanceRow } from '../../../src/testing/index.js';
import { databaseUri, entry, failure, mysqlForFile, mysqlUri } from '../../helpers/mysql.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';

const db = await mysqlForFile();

const parsed = (json: unknown): unknown =>
  typeof json === 'string' ? (JSON.parse(json) as unknown) : json;

if (db.skip !== undefined) {
  test('mysqlSink', { skip: db.skip }, () => {});
} else {
  const { pool, database } = db;
  const rows = async (sql: string): Promise<RowDataPacket[]> =>
    (await pool.query<RowDataPacket[]>(sql))[0];
  /** A uri of the test server with this file's database. */
  const uri = databaseUri(database);
  let n = 0;

  sinkConformance('mysqlSink', {
    open: async (mode, options) => {
      const table = `${mode}_${++n}`;
      await pool.query(
        mode === 'upsert'
          ? `CREATE TABLE ${table} (account VARCHAR(64) PRIMARY KEY, balance INT NOT NULL, note TEXT, version BIGINT)`
          : `CREATE TABLE ${table} (sluice_id VARCHAR(191) UNIQUE, account VARCHAR(64) NOT NULL, balance INT NOT NULL, note TEXT, version BIGINT)`,
      );
      const sink = await mysqlSink<BalanceRow>({
        pool,
        table,
        columns: ['account', 'balance', 'note'],
        mode,
        conflict: ['account'],
        ...(options?.versioned === true ? { versionColumn: 'version' } : {}),
      });
      return {
        sink,
        rows: async () =>
          (await rows(`SELECT account, balance, note FROM ${table}`)) as unknown as BalanceRow[],
      };
    },
  });

  test('mysqlSink writes typed columns: DECIMAL, JSON, DATETIME, BLOB, BOOLEAN, BIGINT from a bigint', async () => {
    await pool.query(
      `CREATE TABLE kinds (id VARCHAR(10) PRIMARY KEY, amount DECIMAL(10,2), doc JSON, at DATETIME(3), raw BLOB, flag BOOLEAN, big BIGINT)`,
    );
    const sink = await mysqlSink<Record<string, unknown>>({
      pool,
      table: 'kinds',
      columns: ['id', 'amount', 'doc', 'at', 'raw', 'flag', 'big'],
      mode: 'upsert',
      conflict: ['id'],
    });
    await sink.writeBatch([
      entry(
        '1',
        'a',
        {
          id: 'a',
          amount: 12.5,
          doc: { tags: ['x', 'y"z', "it's", 'back\\slash'] },
          at: new Date(1_700_000_000_123),
          raw: new Uint8Array([0, 39, 92, 255]),
          flag: true,
          big: 2n ** 62n,
        },
        1,
      ),
      entry(
        '2',
        'b',
        { id: 'b', amount: null, doc: null, at: undefined, raw: null, flag: false, big: -1 },
        2,
      ),
    ]);
    const got = await rows(
      'SELECT id, CAST(amount AS CHAR) AS amount, doc, at, raw, flag, CAST(big AS CHAR) AS big FROM kinds ORDER BY id',
    );
    assert.deepEqual(
      // mysql2 parses a column the server marks as JSON, and hands back text otherwise.
      { ...got[0], doc: parsed(got[0]?.['doc']) },
      {
        id: 'a',
        amount: '12.50',
        doc: { tags: ['x', 'y"z', "it's", 'back\\slash'] },
        at: new Date(1_700_000_000_123),
        raw: Buffer.from([0, 39, 92, 255]),
        flag: 1,
        big: String(2n ** 62n),
      },
    );
    assert.deepEqual(
      { ...got[1] },
      { id: 'b', amount: null, doc: null, at: null, raw: null, flag: 0, big: '-1' },
    );
    await sink.close();
    await assert.rejects(sink.writeBatch([]), ClosedError);
  });

  test('mysqlSink stores any string as written, whatever the sql_mode (NO_BACKSLASH_ESCAPES too)', async () => {
    await pool.query('CREATE TABLE texts (id VARCHAR(10) PRIMARY KEY, body TEXT)');
    const hostile = [
      "it's",
      'back\\slash',
      "\\'); DROP TABLE texts; -- ",
      "'' OR 1=1",
      'nul\0byte',
      'é 😀 \n\t\u001a',
    ];
    for (const mode of ['default', 'NO_BACKSLASH_ESCAPES'] as const) {
      // One connection, so the session's mode is the one the sink writes through.
      const single = createPool({ uri, connectionLimit: 1 });
      if (mode !== 'default') {
        await single.query(`SET SESSION sql_mode = CONCAT(@@sql_mode, ',${mode}')`);
      }
      const sink = await mysqlSink<{ id: string; body: string }>({
        pool: single,
        table: 'texts',
        columns: ['id', 'body'],
        mode: 'upsert',
        conflict: ['id'],
      });
      await sink.writeBatch(
        hostile.map((body, i) => entry(`${mode}${i}`, String(i), { id: String(i), body }, i + 1)),
      );
      const got = await rows('SELECT id, body FROM texts ORDER BY id');
      assert.deepEqual(
        got.map((r) => r['body'] as string),
        hostile,
        mode,
      );
      await pool.query('DELETE FROM texts');
      await single.end();
    }
  });

  test('versioned upsert: an older entry never overwrites, a replayed batch is all superseded, and a row from before the column (NULL) takes the entry', async () => {
    await pool.query(
      'CREATE TABLE narrow (account VARCHAR(64) PRIMARY KEY, balance INT, version INT)',
    );
    await assert.rejects(
      mysqlSink({
        pool,
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
      'CREATE TABLE wide (account VARCHAR(64) PRIMARY KEY, balance INT, note TEXT, version BIGINT)',
    );
    await pool.query(`INSERT INTO wide VALUES ('old', 1, 'before', NULL)`);
    // The sink's own pool: one-row writes are counted exactly.
    const sink = await mysqlSink<{ account: string; balance: number; note: string }>({
      uri,
      table: 'wide',
      columns: ['account', 'balance', 'note'],
      mode: 'upsert',
      conflict: ['account'],
      versionColumn: 'version',
    });
    const v = Date.now() * 1000;
    const newer = [
      entry('1', 'old', { account: 'old', balance: 2, note: 'n1' }, v + 1),
      entry('2', 'a', { account: 'a', balance: 10, note: 'n2' }, v + 2),
    ];
    assert.deepEqual(await sink.writeBatch(newer), {});
    const older = entry('0', 'a', { account: 'a', balance: 5, note: 'late' }, v);
    assert.deepEqual(await sink.writeBatch([older]), { superseded: 1 });
    assert.deepEqual(await sink.writeBatch(newer), { superseded: 2 });
    assert.deepEqual(await sink.writeBatch([newer[1] as SinkEntry<never>]), { superseded: 1 });
    assert.deepEqual(
      (
        await rows(
          'SELECT account, balance, note, CAST(version AS CHAR) AS v FROM wide ORDER BY account',
        )
      ).map((r) => ({ ...r })),
      [
        { account: 'a', balance: 10, note: 'n2', v: String(v + 2) },
        { account: 'old', balance: 2, note: 'n1', v: String(v + 1) },
      ],
    );
    await sink.close();
  });

  test('insert: a re-delivered entry is a duplicate, in one-row and many-row batches alike', async () => {
    await pool.query(
      'CREATE TABLE events (sluice_id VARCHAR(191) NOT NULL UNIQUE, account VARCHAR(64), seq INT)',
    );
    const sink = await mysqlSink<{ account: string; seq: number }>({
      uri,
      table: 'events',
      columns: ['account', 'seq'],
      mode: 'insert',
    });
    const one = entry('e1', 'a', { account: 'a', seq: 1 }, 1);
    assert.deepEqual(await sink.writeBatch([one]), {});
    assert.deepEqual(await sink.writeBatch([one]), { duplicates: 1 });
    const two = entry('e2', 'a', { account: 'a', seq: 2 }, 2);
    assert.deepEqual(await sink.writeBatch([one, two, one]), { duplicates: 2 });
    assert.equal((await rows('SELECT COUNT(*) AS n FROM events'))[0]?.['n'], 2);
    await sink.close();
  });

  test('a row that collides through another unique key is refused as a duplicate, and that other row is left alone', async () => {
    await pool.query(
      'CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(64) NOT NULL UNIQUE, name TEXT)',
    );
    const users = await mysqlSink<{ id: number; email: string; name: string }>({
      pool,
      table: 'users',
      columns: ['id', 'email', 'name'],
      mode: 'upsert',
      conflict: ['id'],
    });
    await users.writeBatch([entry('1', '1', { id: 1, email: 'a@x', name: 'Ann' }, 1)]);
    const error = await failure(
      users.writeBatch([
        entry('2', '3', { id: 3, email: 'c@x', name: 'Cy' }, 2),
        entry('3', '2', { id: 2, email: 'a@x', name: 'Bob' }, 3),
      ]),
    );
    assert.equal(users.classify(error), 'rejected');
    assert.equal((error as { code?: string }).code, 'ER_DUP_ENTRY');
    assert.match((error as Error).message, /unique key other than \(id\)/);
    assert.deepEqual(
      (await rows('SELECT id, email, name FROM users')).map((r) => ({ ...r })),
      [{ id: 1, email: 'a@x', name: 'Ann' }],
    );

    await pool.query(
      'CREATE TABLE moves (sluice_id VARCHAR(191) UNIQUE, account VARCHAR(64), seq INT, UNIQUE KEY (account, seq))',
    );
    const moves = await mysqlSink<{ account: string; seq: number }>({
      pool,
      table: 'moves',
      columns: ['account', 'seq'],
      mode: 'insert',
    });
    await moves.writeBatch([entry('m1', 'a', { account: 'a', seq: 1 }, 1)]);
    const again = await failure(moves.writeBatch([entry('m2', 'a', { account: 'a', seq: 1 }, 2)]));
    assert.equal(moves.classify(again), 'rejected');
    assert.deepEqual(
      (await rows('SELECT sluice_id FROM moves')).map((r) => r['sluice_id'] as string),
      ['m1'],
    );
  });

  test('a batch past maxStatementBytes is written as several statements in one transaction', async () => {
    await pool.query(
      'CREATE TABLE bulk (sluice_id VARCHAR(191) UNIQUE, account VARCHAR(64) NOT NULL, note TEXT NOT NULL)',
    );
    const sink = await mysqlSink<{ account: string; note: string | null }>({
      pool,
      table: 'bulk',
      columns: ['account', 'note'],
      mode: 'insert',
      maxStatementBytes: 4096,
    });
    const batch = Array.from({ length: 60 }, (_, i) =>
      entry(`b${i}`, 'a', { account: 'a', note: 'x'.repeat(200) }, i + 1),
    );
    assert.deepEqual(await sink.writeBatch(batch), {});
    assert.deepEqual(await sink.writeBatch(batch), { duplicates: 60 });
    assert.equal((await rows('SELECT COUNT(*) AS n FROM bulk'))[0]?.['n'], 60);

    // A refused row in the last statement takes back the statements before it.
    const poisoned = [
      ...Array.from({ length: 60 }, (_, i) =>
        entry(`p${i}`, 'a', { account: 'a', note: 'y'.repeat(200) }, 100 + i),
      ),
      entry('poison', 'a', { account: 'a', note: null }, 200),
    ];
    assert.equal(sink.classify(await failure(sink.writeBatch(poisoned))), 'rejected');
    assert.equal((await rows('SELECT COUNT(*) AS n FROM bulk'))[0]?.['n'], 60);

    // A row that no statement can carry blames itself, before anything is sent.
    const huge = await failure(
      sink.writeBatch([entry('h', 'a', { account: 'a', note: 'z'.repeat(5000) }, 300)]),
    );
    assert.equal((huge as { code?: string }).code, 'ER_NET_PACKET_TOO_LARGE');
    assert.equal(sink.classify(huge), 'rejected');
  });

  test('classify(): bad values, a trigger SIGNAL and a too-long string are the entry’s fault', async () => {
    await pool.query(
      'CREATE TABLE checked (account VARCHAR(4) PRIMARY KEY, amount DOUBLE, balance INT)',
    );
    await pool.query(
      `CREATE TRIGGER checked_balance BEFORE INSERT ON checked FOR EACH ROW
         IF NEW.balance < 0 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'negative balance'; END IF`,
    );
    const sink = await mysqlSink<{ account: string; amount: number; balance: number }>({
      pool,
      table: 'checked',
      columns: ['account', 'amount', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
    });
    const refused = async (value: { account: string; amount: number; balance: number }) => {
      const error = await failure(sink.writeBatch([entry('1', 'a', value, 1)]));
      assert.equal(sink.classify(error), 'rejected', String(error));
      return error as { code?: string; message: string };
    };
    assert.equal(
      (await refused({ account: 'a', amount: NaN, balance: 1 })).code,
      'ER_WARN_DATA_OUT_OF_RANGE',
    );
    assert.equal(
      (await refused({ account: 'a', amount: Infinity, balance: 1 })).code,
      'ER_WARN_DATA_OUT_OF_RANGE',
    );
    assert.equal(
      (await refused({ account: 'toolong', amount: 1, balance: 1 })).code,
      'ER_DATA_TOO_LONG',
    );
    assert.match(
      (await refused({ account: 'a', amount: 1, balance: -1 })).message,
      /negative balance/,
    );
    await sink.writeBatch([entry('1', 'a', { account: 'a', amount: 1.5, balance: 1 }, 1)]);
    assert.equal((await rows('SELECT COUNT(*) AS n FROM checked'))[0]?.['n'], 1);
  });

  test('classify(): a connection that drops or hangs is unavailable, and the sink writes again once it is back', async () => {
    await pool.query('CREATE TABLE flaky (account VARCHAR(64) PRIMARY KEY, balance INT)');
    const target = new URL(mysqlUri);
    const proxy = new TcpProxy(Number(target.port || 3306), target.hostname);
    await proxy.start();
    const through = new URL(uri);
    through.host = `127.0.0.1:${proxy.port}`;
    const sink = await mysqlSink<{ account: string; balance: number }>({
      uri: through.toString(),
      table: 'flaky',
      columns: ['account', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
      maxConnections: 1,
      queryTimeoutMs: 1500,
    });
    let version = 0;
    const write = (balance: number) =>
      sink.writeBatch([entry(String(++version), 'a', { account: 'a', balance }, version)]);
    try {
      await write(1);
      proxy.down();
      assert.equal(sink.classify(await failure(write(2))), 'unavailable');
      proxy.heal();
      await write(3);
      proxy.blackhole();
      const hung = await failure(write(4));
      assert.equal((hung as { code?: string }).code, 'PROTOCOL_SEQUENCE_TIMEOUT');
      assert.equal(sink.classify(hung), 'unavailable');
      // The hung connection was dropped, not handed to the next write.
      proxy.heal();
      await write(5);
      assert.deepEqual(
        (await rows('SELECT balance FROM flaky')).map((r) => r['balance'] as number),
        [5],
      );
    } finally {
      await sink.close();
      await proxy.stop();
    }
  });

  test('classify(): a row lock held past the lock wait timeout, and a connection killed mid-write, are unavailable', async () => {
    await pool.query('CREATE TABLE locked (account VARCHAR(64) PRIMARY KEY, balance INT)');
    await pool.query(`INSERT INTO locked VALUES ('a', 0)`);
    // One connection, so the session's setting is the sink's, and its thread is known.
    const single = createPool({ uri, connectionLimit: 1 });
    await single.query('SET SESSION innodb_lock_wait_timeout = 1');
    const [[{ id }]] = (await single.query('SELECT CONNECTION_ID() AS id')) as unknown as [
      [{ id: number }],
    ];
    const sink = await mysqlSink<{ account: string; balance: number }>({
      pool: single,
      table: 'locked',
      columns: ['account', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
    });
    const write = (balance: number) =>
      sink.writeBatch([entry(String(balance), 'a', { account: 'a', balance }, balance)]);
    // A migration, say, holds the row.
    const holder = await pool.getConnection();
    try {
      await holder.query('START TRANSACTION');
      await holder.query(`SELECT * FROM locked WHERE account = 'a' FOR UPDATE`);
      const waited = await failure(write(1));
      assert.equal((waited as { code?: string }).code, 'ER_LOCK_WAIT_TIMEOUT');
      assert.equal(sink.classify(waited), 'unavailable');

      // An operator (or a failover) ends the session while the write waits on the lock.
      const blocked = failure(write(2));
      for (;;) {
        const [[row]] = (await pool.query(
          `SELECT INFO AS info FROM information_schema.PROCESSLIST WHERE ID = ${id}`,
        )) as unknown as [[{ info: string | null } | undefined]];
        if (row?.info?.startsWith('INSERT') === true) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await pool.query(`KILL ${id}`);
      assert.equal(sink.classify(await blocked), 'unavailable');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await write(3);
    assert.deepEqual(
      (await rows('SELECT balance FROM locked')).map((r) => r['balance'] as number),
      [3],
    );
    await single.end();
  });

  test('mysqlSink commits its writes on a pool whose sessions do not autocommit', async () => {
    await pool.query('CREATE TABLE manual (account VARCHAR(64) PRIMARY KEY, balance INT)');
    const single = createPool({ uri, connectionLimit: 1 });
    await single.query('SET SESSION autocommit = 0');
    const sink = await mysqlSink({
      pool: single,
      table: 'manual',
      columns: ['account', 'balance'],
      mode: 'upsert',
      conflict: ['account'],
    });
    await sink.writeBatch([entry('1', 'a', { account: 'a', balance: 1 }, 1)]);
    assert.equal((await rows('SELECT COUNT(*) AS n FROM manual'))[0]?.['n'], 1);
    await single.end();
  });
}
