/**
 * WriteBehind against a real PostgreSQL: poison entries isolated by a real constraint, and
 * an outage through a TCP proxy that first refuses connections, then black-holes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MemoryJournal, WriteBehind } from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { postgresSink } from '../../src/adapters/postgres/index.js';
import { postgresForFile } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

type Row = { account: string; seq: number; amount: number };
const db = await postgresForFile();

if (db.skip !== undefined) {
  test('WriteBehind on PostgreSQL', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;

  test('poison: entries that violate a constraint are dead-lettered, the rest land, replay lands them after the fix', async () => {
    await pool.query(
      `CREATE TABLE ${schema}.payments (sluice_id text UNIQUE, account text NOT NULL, seq integer NOT NULL,
         amount integer NOT NULL CONSTRAINT positive CHECK (amount > 0))`,
    );
    const sink = await postgresSink<Row>({
      pool,
      schema,
      table: 'payments',
      columns: ['account', 'seq', 'amount'],
      mode: 'insert',
    });
    const journal = await SqliteJournal.open(join(tempDir(), 'poison.db'));
    const wb = await WriteBehind.open<Row>({
      journal,
      sink,
      workers: 4,
      batch: { maxSize: 200, maxDelayMs: 5 },
    });
    const bad = new Set([13, 1_500, 2_999, 4_001]);
    for (let i = 0; i < 5_000; i++) {
      await wb.write(`acct-${i % 50}`, {
        account: `acct-${i % 50}`,
        seq: i,
        amount: bad.has(i) ? -5 : 10,
      });
    }
    await wb.flush();
    const landed = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.payments`);
    assert.equal(Number(landed.rows[0]?.n), 5_000 - bad.size);
    const letters = await wb.deadLetters.list();
    assert.deepEqual(
      letters.map((l) => (l.payload as Row).seq).sort((a, b) => a - b),
      [...bad].sort((a, b) => a - b),
    );
    assert.ok(letters.every((l) => /violates check constraint "positive"/.test(l.error)));
    await pool.query(`ALTER TABLE ${schema}.payments DROP CONSTRAINT positive`);
    await wb.deadLetters.replay(letters.map((l) => l.id));
    await wb.flush();
    const after = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.payments`);
    assert.equal(Number(after.rows[0]?.n), 5_000);
    assert.equal(await wb.deadLetters.count(), 0);
    await wb.close();
    await journal.close();
  });

  test('in-memory journal into PostgreSQL upsert: the last write per key wins', async () => {
    await pool.query(
      `CREATE TABLE ${schema}.latest (account text PRIMARY KEY, seq integer NOT NULL, amount integer NOT NULL)`,
    );
    const sink = await postgresSink<Row>({
      pool,
      schema,
      table: 'latest',
      columns: ['account', 'seq', 'amount'],
      mode: 'upsert',
      conflict: ['account'],
    });
    const wb = await WriteBehind.open<Row>({
      journal: new MemoryJournal(),
      sink,
      workers: 3,
      batch: { maxSize: 100, maxDelayMs: 2 },
    });
    for (let i = 0; i < 3_000; i++)
      await wb.write(`acct-${i % 30}`, { account: `acct-${i % 30}`, seq: i, amount: 1 });
    await wb.flush();
    const { rows } = await pool.query<{ account: string; seq: number }>(
      `SELECT account, seq FROM ${schema}.latest ORDER BY account`,
    );
    assert.equal(rows.length, 30);
    for (const r of rows) assert.equal(r.seq, 2_970 + Number(r.account.slice(5)), r.account);
    await wb.close();
  });
}

if (db.skip === undefined) {
  const { pool, schema } = db;

  test(
    'outage: connections dropped, then black-holed; writes wait at maxBacklog; after healing everything lands once',
    { timeout: 120_000 },
    async (t) => {
      const { TcpProxy } = await import('../helpers/tcp-proxy.js');
      const proxy = new TcpProxy(5432);
      await proxy.start();
      // Cleanup runs even when an assertion fails, so a failure cannot hang the run.
      const cleanups: (() => Promise<unknown> | void)[] = [() => proxy.stop()];
      t.after(async () => {
        for (const cleanup of cleanups.reverse()) await cleanup();
      });
      await pool.query(
        `CREATE TABLE ${schema}.outage (sluice_id text UNIQUE, account text NOT NULL, seq integer NOT NULL, amount integer NOT NULL)`,
      );
      const sink = await postgresSink<Row>({
        connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
        schema,
        table: 'outage',
        columns: ['account', 'seq', 'amount'],
        mode: 'insert',
        maxConnections: 2,
        queryTimeoutMs: 500,
        connectTimeoutMs: 500,
      });
      const journal = await SqliteJournal.open(join(tempDir(), 'outage.db'));
      cleanups.push(
        () => sink.close(),
        () => journal.close(),
      );
      const MAX_BACKLOG = 1_000;
      const wb = await WriteBehind.open<Row>({
        journal,
        sink,
        workers: 2,
        maxBacklog: MAX_BACKLOG,
        batch: { maxSize: 100, maxDelayMs: 5 },
        retry: { minDelayMs: 20, maxDelayMs: 200 },
      });
      cleanups.push(() => wb.close({ deadlineMs: 0 }));
      let maxBacklogSeen = 0;
      const sampler = setInterval(
        () => (maxBacklogSeen = Math.max(maxBacklogSeen, wb.metrics().backlog)),
        5,
      );
      cleanups.push(() => clearInterval(sampler));
      const TOTAL = 6_000;
      let next = 0;
      let acknowledged = 0;
      const writers = Promise.all(
        Array.from({ length: 10 }, async () => {
          while (next < TOTAL) {
            const i = next++;
            await wb.write(`acct-${i % 40}`, { account: `acct-${i % 40}`, seq: i, amount: 1 });
            acknowledged++;
          }
        }),
      );
      const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
      while (wb.metrics().persisted < 1_000) await pause(10);
      proxy.down();
      await pause(1_500);
      const duringDown = acknowledged;
      await pause(500);
      assert.equal(acknowledged, duringDown, 'writes wait once the backlog is full');
      assert.ok(wb.metrics().backlog <= MAX_BACKLOG);
      proxy.blackhole();
      await pause(2_000);
      assert.ok(wb.metrics().retried > 0, 'the sink was retried');
      proxy.heal();
      await writers;
      await wb.flush();
      clearInterval(sampler);
      const { rows } = await pool.query<{ n: string; d: string }>(
        `SELECT count(*) AS n, count(DISTINCT sluice_id) AS d FROM ${schema}.outage`,
      );
      assert.equal(Number(rows[0]?.n), TOTAL, 'nothing lost, nothing duplicated');
      assert.equal(Number(rows[0]?.d), TOTAL);
      assert.ok(maxBacklogSeen <= MAX_BACKLOG, `backlog reached ${maxBacklogSeen}`);
      assert.equal(await wb.deadLetters.count(), 0, 'an outage is not poison');
    },
  );
}
