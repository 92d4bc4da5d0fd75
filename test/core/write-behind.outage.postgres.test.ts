/**
 * What migrations and operators do to a live table, on a real PostgreSQL, while a pipeline
 * writes into it: the table renamed away, a column renamed away, INSERT revoked, a lock held
 * past the writer's `lock_timeout`, or past its `statement_timeout`, or past the sink pool's
 * wait for a free connection. Each lasts a second or more mid-run; none of it is the entries' fault: 0 dead letters, `sink:unavailable` seen,
 * and once healed every acknowledged write is in the table exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { WriteBehind } from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { postgresSink } from '../../src/adapters/postgres/index.js';
import { connectionString, postgresForFile } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

type Row = { account: string; seq: number };
const db = await postgresForFile();
const dir = tempDir();
const WRITES = 2_000;

interface Scenario {
  name: string;
  /** Server settings of the sink's connections. */
  options?: string;
  /** The sink pool's size and connection wait, when not 4 and pg's (none). */
  pool?: { max: number; connectionTimeoutMillis: number };
  /** The sink connects as a role of its own (to have a privilege revoked). */
  ownRole?: boolean;
  break(table: string, role: string): Promise<void>;
  heal(table: string, role: string): Promise<void>;
  /** The SQLSTATE the sink meets while broken (the message, for an error without one). */
  code: string;
}

if (db.skip !== undefined) {
  test('WriteBehind through PostgreSQL outages', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  const q = (sql: string) => pool.query(sql);
  let locker: pg.PoolClient | undefined;
  const holdLock = async (table: string): Promise<void> => {
    locker = await pool.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE ${schema}.${table} IN ACCESS EXCLUSIVE MODE`);
  };
  const releaseLock = async (): Promise<void> => {
    await locker?.query('COMMIT');
    locker?.release();
    locker = undefined;
  };

  const scenarios: Scenario[] = [
    {
      name: 'the table renamed away (42P01)',
      code: '42P01',
      break: async (t) => void (await q(`ALTER TABLE ${schema}.${t} RENAME TO ${t}_away`)),
      heal: async (t) => void (await q(`ALTER TABLE ${schema}.${t}_away RENAME TO ${t}`)),
    },
    {
      name: 'a column renamed away (42703)',
      code: '42703',
      break: async (t) =>
        void (await q(`ALTER TABLE ${schema}.${t} RENAME COLUMN seq TO seq_away`)),
      heal: async (t) => void (await q(`ALTER TABLE ${schema}.${t} RENAME COLUMN seq_away TO seq`)),
    },
    {
      name: 'INSERT revoked (42501)',
      code: '42501',
      ownRole: true,
      break: async (t, role) => void (await q(`REVOKE INSERT ON ${schema}.${t} FROM ${role}`)),
      heal: async (t, role) => void (await q(`GRANT INSERT ON ${schema}.${t} TO ${role}`)),
    },
    {
      name: "a migration's lock past lock_timeout (55P03)",
      code: '55P03',
      options: '-c lock_timeout=100',
      break: (t) => holdLock(t),
      heal: () => releaseLock(),
    },
    {
      name: "a migration's lock past statement_timeout (57014)",
      code: '57014',
      options: '-c statement_timeout=150',
      break: (t) => holdLock(t),
      heal: () => releaseLock(),
    },
    {
      // The pool's one connection waits on the lock; the other lanes' writes wait for it
      // and time out in pg-pool, with an error that has no code.
      name: "a migration's lock past the sink pool's wait for a connection",
      code: 'timeout exceeded when trying to connect',
      pool: { max: 1, connectionTimeoutMillis: 200 },
      break: (t) => holdLock(t),
      heal: () => releaseLock(),
    },
  ];

  let n = 0;
  for (const scenario of scenarios) {
    test(
      `outage: ${scenario.name} for a while mid-run: 0 dead letters, everything lands once`,
      { timeout: 60_000 },
      async (t) => {
        const table = `outage_${++n}`;
        const role = `${schema}_w${n}`;
        await q(
          `CREATE TABLE ${schema}.${table} (sluice_id text UNIQUE, account text NOT NULL, seq integer NOT NULL)`,
        );
        let url = connectionString;
        if (scenario.ownRole === true) {
          await q(`CREATE ROLE ${role} LOGIN`);
          await q(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
          await q(`GRANT SELECT, INSERT ON ${schema}.${table} TO ${role}`);
          url = connectionString.replace(/\/\/[^@/]*@/, `//${role}@`);
          t.after(async () => {
            await q(`DROP OWNED BY ${role}`);
            await q(`DROP ROLE ${role}`);
          });
        }
        const sinkPool = new pg.Pool({
          connectionString: url,
          max: 4,
          ...scenario.pool,
          ...(scenario.options === undefined ? {} : { options: scenario.options }),
        });
        t.after(() => sinkPool.end());
        const sink = await postgresSink<Row>({
          pool: sinkPool,
          schema,
          table,
          columns: ['account', 'seq'],
          mode: 'insert',
        });
        const journal = await SqliteJournal.open(join(dir, `${table}.db`));
        const wb = await WriteBehind.open<Row>({
          journal,
          sink,
          workers: 4,
          batch: { maxSize: 100, maxDelayMs: 5 },
          retry: { minDelayMs: 20, maxDelayMs: 200 },
        });
        t.after(async () => {
          await releaseLock();
          await wb.close({ deadlineMs: 1_000 });
          await journal.close();
        });
        const codes = new Set<string>();
        let unavailable = 0;
        wb.on('sink:unavailable', () => unavailable++);
        wb.on('sink:retry', ({ error }) => {
          const { code, message } = error as { code?: string; message?: string };
          codes.add(String(code ?? message));
        });

        // Writers keep going through the outage, as a service's requests would.
        const writing = (async () => {
          for (let i = 0; i < WRITES; i += 10) {
            await Promise.all(
              Array.from({ length: 10 }, (_, j) =>
                wb.write(`acct-${(i + j) % 40}`, { account: `acct-${(i + j) % 40}`, seq: i + j }),
              ),
            );
            await delay(2);
          }
        })();
        await delay(200);
        await scenario.break(table, role);
        await delay(1_500);
        assert.ok(unavailable >= 1, 'the outage was reported');
        await scenario.heal(table, role);
        await writing;
        await wb.flush();

        assert.ok(codes.has(scenario.code), `saw ${[...codes].join(', ')}`);
        assert.equal(await wb.deadLetters.count(), 0);
        assert.equal(wb.metrics().deadLettered, 0);
        const { rows } = await pool.query<{ n: string; distinct: string }>(
          `SELECT count(*) AS n, count(DISTINCT sluice_id) AS distinct FROM ${schema}.${table}`,
        );
        assert.equal(Number(rows[0]?.n), WRITES);
        assert.equal(Number(rows[0]?.distinct), WRITES);
      },
    );
  }
}
