/**
 * postgresSink's insert mode by COPY: rows land exactly as the statement would store them, a
 * batch meeting a known id is written by the statement instead, and a COPY stuck behind a
 * lock gives up in time, as a query would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { ConfigError, type SinkEntry } from '../../../src/index.js';
import { classifyPostgresError, postgresSink } from '../../../src/adapters/postgres/index.js';
import { postgresForFile } from '../../helpers/postgres.js';
import { TcpProxy } from '../../helpers/tcp-proxy.js';
import { refused } from '../../../src/adapters/postgres/client.js';

const db = await postgresForFile();

if (db.skip !== undefined) {
  test('postgresSink COPY', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  let n = 0;

  /** `pool`, counting the statements run through it and the connections taken (COPY). */
  function counted(): { pool: pg.Pool; statements: () => number; copies: () => number } {
    let statements = 0;
    let copies = 0;
    const proxy = new Proxy(pool, {
      get(target, name) {
        if (name === 'query') {
          return (...args: Parameters<pg.Pool['query']>) => {
            statements++;
            return (target.query as (...a: unknown[]) => unknown)(...args);
          };
        }
        if (name === 'connect') {
          return () => {
            copies++;
            return target.connect();
          };
        }
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    return { pool: proxy, statements: () => statements, copies: () => copies };
  }

  async function table(): Promise<string> {
    const name = `copy_${++n}`;
    await pool.query(
      `CREATE TABLE ${schema}.${name} (sluice_id text UNIQUE, note text, amount numeric(12,2), doc jsonb, raw bytea, flag boolean, big bigint)`,
    );
    return name;
  }

  type Row = Record<string, unknown>;
  const columns = ['note', 'amount', 'doc', 'raw', 'flag', 'big'];
  const entry = (id: string, value: Row): SinkEntry<Row> => ({ id, key: id, version: 1, value });
  const tricky: SinkEntry<Row>[] = [
    entry('e1', {
      note: 'tab\there, newline\nthere, back\\slash, \\N, \r, "quoted", é, 𝄞',
      amount: 12.5,
      doc: { tags: ['x', 'y"z', 'a\tb'], nested: { n: null } },
      raw: new Uint8Array([0, 9, 10, 92, 255]),
      flag: true,
      big: 9_007_199_254_740_991,
    }),
    entry('e2', { note: '', amount: null, doc: null, raw: null, flag: false, big: -1 }),
    entry('e3', { note: undefined, amount: '0.10', doc: [1, 'two'], flag: null }),
  ];

  const read = async (name: string): Promise<Record<string, unknown>[]> =>
    (
      await pool.query<Record<string, unknown>>(
        `SELECT sluice_id, note, amount::text, doc, raw, flag, big::text FROM ${schema}.${name} ORDER BY sluice_id`,
      )
    ).rows;

  test('insert mode streams a batch with COPY, and the rows are what the statement stores', async () => {
    const byCopy = await table();
    const byStatement = await table();
    const c = counted();
    const copying = await postgresSink<Row>({
      pool: c.pool,
      schema,
      table: byCopy,
      columns,
      mode: 'insert',
    });
    const plain = await postgresSink<Row>({
      pool,
      schema,
      table: byStatement,
      columns,
      mode: 'insert',
      copy: false,
    });
    const before = c.statements();
    assert.deepEqual(await copying.writeBatch(tricky), {});
    assert.equal(c.statements(), before, 'no statement: the batch went by COPY');
    assert.equal(c.copies(), 1);
    await plain.writeBatch(tricky);
    assert.deepEqual(await read(byCopy), await read(byStatement));
  });

  test('a batch meeting a known id is written by the statement, skipping it; the next batches too, then COPY again', async () => {
    const name = await table();
    const c = counted();
    const sink = await postgresSink<Row>({
      pool: c.pool,
      schema,
      table: name,
      columns,
      mode: 'insert',
    });
    const e = (i: number) => entry(`id${i}`, { note: `n${i}` });
    await sink.writeBatch([e(1), e(2)]);
    const copies = c.copies();
    const statements = c.statements();
    // A redelivery: e2 is in the table already.
    assert.deepEqual(await sink.writeBatch([e(2), e(3)]), { duplicates: 1 });
    assert.equal(c.copies(), copies + 1, 'COPY was tried');
    assert.equal(c.statements(), statements + 1, 'and the statement wrote the batch');
    for (let i = 4; i < 4 + 16; i++) await sink.writeBatch([e(i)]);
    assert.equal(c.copies(), copies + 1, 'the batches after a conflict go by the statement');
    await sink.writeBatch([e(100)]);
    assert.equal(c.copies(), copies + 2, 'then COPY again');
    const { rows } = await pool.query<{ count: string }>(`SELECT count(*) FROM ${schema}.${name}`);
    assert.equal(Number(rows[0]?.count), 2 + 1 + 16 + 1);
  });

  test('a batch holding a Date goes by the statement (node-postgres writes it in local time); a bad row is refused as the statement refuses it', async () => {
    await pool.query(
      `CREATE TABLE ${schema}.dated (sluice_id text UNIQUE, at timestamp, n integer NOT NULL)`,
    );
    const c = counted();
    const sink = await postgresSink<Row>({
      pool: c.pool,
      schema,
      table: 'dated',
      columns: ['at', 'n'],
      mode: 'insert',
    });
    const copies = c.copies();
    await sink.writeBatch([entry('d1', { at: new Date(0), n: 1 })]);
    assert.equal(c.copies(), copies, 'no COPY for a Date');
    const bad = sink.writeBatch([entry('d2', { at: null, n: null })]);
    await assert.rejects(bad, (e: unknown) => (e as { code?: string }).code === '23502');
    assert.equal(classifyPostgresError(await bad.catch((e: unknown) => e)), 'rejected');
  });

  test('a COPY stuck behind a lock gives up within the query timeout, as a retryable failure, and the next one lands', async () => {
    const name = await table();
    const sink = await postgresSink<Row>({
      connectionString: `postgres://postgres@127.0.0.1:5432/test`,
      schema,
      table: name,
      columns,
      mode: 'insert',
      queryTimeoutMs: 300,
    });
    const locker = await pool.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${schema}.${name} IN ACCESS EXCLUSIVE MODE`);
      const started = Date.now();
      const stuck = await sink.writeBatch([entry('l1', { note: 'x' })]).catch((e: unknown) => e);
      const tookMs = Date.now() - started;
      assert.ok(stuck instanceof Error, 'it failed');
      assert.equal(sink.classify(stuck), 'unavailable', String(stuck));
      assert.ok(tookMs < 3_000, `gave up after ${tookMs} ms`);
      // The server session of the COPY that gave up was cancelled, not left behind the lock.
      const lingering = async () =>
        Number(
          (
            await pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active'`,
              [`COPY %${name}%`],
            )
          ).rows[0]?.n,
        );
      for (let tries = 0; (await lingering()) > 0 && tries < 100; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(await lingering(), 0, 'no COPY session left waiting on the lock');
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
    // The retry lands it, or finds it landed (a COPY that got the lock after giving up).
    const retried = await sink.writeBatch([entry('l1', { note: 'x' })]);
    assert.ok(
      JSON.stringify(retried) === '{}' || JSON.stringify(retried) === '{"duplicates":1}',
      JSON.stringify(retried),
    );
    const rows = await read(name);
    assert.deepEqual(
      rows.map((r) => r['sluice_id']),
      ['l1'],
    );
    await sink.close();
  });

  test(
    'a connection dropped under a COPY fails the batch as retryable, and the process lives on',
    { timeout: 20_000 },
    async () => {
      const name = await table();
      const proxy = new TcpProxy(5432);
      await proxy.start();
      const sink = await postgresSink<Row>({
        connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
        schema,
        table: name,
        columns,
        mode: 'insert',
      });
      const locker = await pool.connect();
      try {
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${schema}.${name} IN ACCESS EXCLUSIVE MODE`);
        // The COPY waits on the lock; then the network drops it (no goodbye from the server),
        // which pg reports as an 'error' event on the client that was lent out.
        const writing = sink.writeBatch([entry('t1', { note: 'x' })]).catch((e: unknown) => e);
        await new Promise((resolve) => setTimeout(resolve, 200));
        proxy.down();
        const failed = await writing;
        assert.ok(failed instanceof Error);
        assert.equal(sink.classify(failed), 'unavailable', String(failed));
      } finally {
        await locker.query('ROLLBACK');
        locker.release();
      }
      proxy.heal();
      const retried = await sink.writeBatch([entry('t1', { note: 'x' })]);
      assert.ok(
        ['{}', '{"duplicates":1}'].includes(JSON.stringify(retried)),
        JSON.stringify(retried),
      );
      await sink.close();
      await proxy.stop();
    },
  );

  test('a pool without a query timeout (0) gives COPY the default one, not none', async () => {
    const name = await table();
    const { Pool } = (await import('pg')).default;
    const noTimeout = new Pool({
      connectionString: 'postgres://postgres@127.0.0.1:5432/test',
      query_timeout: 0,
      max: 2,
    });
    try {
      const sink = await postgresSink<Row>({
        pool: noTimeout,
        schema,
        table: name,
        columns,
        mode: 'insert',
      });
      assert.deepEqual(await sink.writeBatch([entry('q1', { note: 'x' })]), {});
      assert.equal((await read(name)).length, 1);
    } finally {
      await noTimeout.end();
    }
  });

  test('a table with row-level security refuses COPY (0A000): the statement writes it, and COPY is not tried again', async () => {
    const name = await table();
    const role = 'sluice_test_rls';
    await pool.query(
      `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} LOGIN; END IF; END $$`,
    );
    await pool.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
    await pool.query(`GRANT SELECT, INSERT ON ${schema}.${name} TO ${role}`);
    await pool.query(`ALTER TABLE ${schema}.${name} ENABLE ROW LEVEL SECURITY`);
    await pool.query(`CREATE POLICY anyone ON ${schema}.${name} USING (true) WITH CHECK (true)`);
    const { Pool } = (await import('pg')).default;
    const asRole = new Pool({ connectionString: `postgres://${role}@127.0.0.1:5432/test`, max: 2 });
    try {
      const c = { connects: 0 };
      const counting = new Proxy(asRole, {
        get(target, key) {
          if (key === 'connect') {
            return () => {
              c.connects++;
              return target.connect();
            };
          }
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        },
      });
      const sink = await postgresSink<Row>({
        pool: counting,
        schema,
        table: name,
        columns,
        mode: 'insert',
      });
      await sink.writeBatch([entry('r1', { note: 'x' })]);
      assert.equal(c.connects, 1, 'COPY tried once');
      await sink.writeBatch([entry('r2', { note: 'y' })]);
      assert.equal(c.connects, 1, 'and not again');
      assert.deepEqual(
        (await read(name)).map((r) => r['sluice_id']),
        ['r1', 'r2'],
      );
    } finally {
      await asRole.end();
      await pool.query(`DROP TABLE ${schema}.${name}`);
      await pool.query(`REVOKE USAGE ON SCHEMA ${schema} FROM ${role}`);
      await pool.query(`DROP ROLE ${role}`);
    }
  });

  test('a lost connection or a server shutting down is not a refusal: the batch is retried, not rewritten', () => {
    for (const code of ['08006', '08003', '57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE']) {
      assert.equal(refused({ code }), false, code);
    }
    for (const code of ['23505', '22P02', '42809', '55P03'])
      assert.equal(refused({ code }), true, code);
    assert.equal(refused(new Error('Connection terminated unexpectedly')), false);
  });

  test('`copy` is only for insert mode without exactlyOnce', async () => {
    await assert.rejects(
      postgresSink<Row>({
        pool,
        schema,
        table: 'x',
        columns: ['a'],
        mode: 'upsert',
        conflict: ['a'],
        copy: true,
      }),
      (e: unknown) => e instanceof ConfigError && e.option === 'copy',
    );
    await assert.rejects(
      postgresSink<Row>({
        pool,
        schema,
        table: 'x',
        columns: ['a'],
        mode: 'insert',
        copy: 'yes' as never,
      }),
      (e: unknown) => e instanceof ConfigError && e.option === 'copy',
    );
  });
}
