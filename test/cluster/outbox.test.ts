/**
 * The outbox: `appendInTransaction(client, records)` inside the application's own
 * transaction, beside its business row. ROLLBACK leaves no entry (a gap in the positions)
 * and nothing reaches the sink, even once a later entry of the same key was delivered;
 * COMMIT gives the business row and exactly one delivery.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { PostgresJournal } from '../../src/adapters/postgres/index.js';
import { postgresForFile } from '../helpers/postgres.js';
import { Checks, openCluster, report, waitDrained } from '../helpers/cluster.js';
import { assertHistory, readInserted, readLatest, type Ack } from '../helpers/history.js';

const db = await postgresForFile();

/** An order and its outbox entry in one transaction, ended by `end`. */
async function order(
  pool: pg.Pool,
  journal: PostgresJournal,
  schema: string,
  n: number,
  end: 'COMMIT' | 'ROLLBACK',
): Promise<Ack> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${schema}.orders (id, amount) VALUES ($1, $2)`, [
      `o-${n}`,
      n * 10,
    ]);
    const key = `order-${n}`;
    const id = `${key}:0`;
    const [position] = await journal.appendInTransaction(client, [
      { key, id, payload: { k: key, seq: 0 } },
    ]);
    await client.query(end);
    return { key, seq: 0, id, position: position as number, node: `outbox ${end}` };
  } finally {
    client.release();
  }
}

if (db.skip !== undefined) {
  test('cluster outbox test', { skip: db.skip }, () => {});
} else {
  const { pool } = db;
  test(
    '.appendInTransaction(): ROLLBACK leaves no entry and nothing in the sink; COMMIT delivers exactly once, with the business row',
    { timeout: 90_000 },
    async (t) => {
      const { cluster, journal, schema } = await openCluster(t, db, {
        partitions: 4,
        leaseMs: 2_000,
      });
      await pool.query(
        `CREATE TABLE ${schema}.orders (id text PRIMARY KEY, amount integer NOT NULL)`,
      );
      cluster.start('a'); // consumes only
      await cluster.ready('a');
      await cluster.covered();

      const rolledBack = await order(pool, journal, schema, 1, 'ROLLBACK');
      // A later entry of the same key: once it is delivered, an earlier one would have been.
      const [markerPosition] = await journal.append([
        { key: 'order-1', id: 'order-1:1', payload: { k: 'order-1', seq: 1 } },
      ]);
      const marker: Ack = {
        key: 'order-1',
        seq: 1,
        id: 'order-1:1',
        position: markerPosition as number,
      };
      const committed = await order(pool, journal, schema, 2, 'COMMIT');
      const acks = [marker, committed];
      const drain = await waitDrained(journal, pool, schema, () => acks, 30_000);
      await cluster.terminate('a');

      const inserted = await readInserted(pool, schema);
      const latest = await readLatest(pool, schema);
      const entries = await pool.query<{ position: string; id: string }>(
        `SELECT position, id FROM ${schema}.entries ORDER BY position`,
      );
      const orders = await pool.query<{ id: string }>(
        `SELECT id FROM ${schema}.orders ORDER BY id`,
      );
      report(
        t,
        `rolled back at position ${rolledBack.position}, marker at ${marker.position}, committed at ${committed.position}\n` +
          `entries: ${JSON.stringify(entries.rows)}\nsink: ${JSON.stringify(inserted)}\norders: ${JSON.stringify(orders.rows)}`,
      );

      const checks = new Checks(t);
      checks.check('history of what was committed: delivered once, in order, latest values', () =>
        assertHistory({ acks, inserted, latest }),
      );
      checks.check('drained', () => assert.ok(drain.drained, JSON.stringify(drain.stats.leases)));
      checks.check(
        'ROLLBACK: no entry, no business row, nothing in the sink (its position is a gap)',
        () => {
          assert.deepEqual(
            entries.rows.filter(
              (r) => r.id === rolledBack.id || Number(r.position) === rolledBack.position,
            ),
            [],
          );
          assert.deepEqual(
            inserted.filter((r) => r.id === rolledBack.id),
            [],
          );
          assert.ok(!orders.rows.some((r) => r.id === 'o-1'));
          assert.ok(
            inserted.some((r) => r.id === marker.id),
            'the later entry of the key was delivered',
          );
        },
      );
      checks.check('COMMIT: the business row and exactly one delivery', () => {
        assert.ok(orders.rows.some((r) => r.id === 'o-2'));
        assert.equal(inserted.filter((r) => r.id === committed.id).length, 1);
        assert.equal(latest.find((r) => r.key === 'order-2')?.seq, 0);
      });
      checks.done();
    },
  );
}
