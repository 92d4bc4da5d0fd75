/**
 * Gap-free reading: positions are taken when a transaction appends, not when it commits,
 * so an append held open (the outbox, inside a slow business transaction) commits after
 * entries with higher positions were committed, read and delivered. Its entry must still be
 * delivered, exactly once. Two shapes: `appendInTransaction` first, then 3 s until COMMIT;
 * and a transaction that took its transaction id first (a business write), appends 1 s
 * later and commits 1 s after that. Meanwhile a node appends and consumes other entries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import type { PostgresJournal } from '../../src/adapters/postgres/index.js';
import { postgresForFile } from '../helpers/postgres.js';
import { Checks, openCluster, report, waitDrained } from '../helpers/cluster.js';
import {
  assertHistory,
  readInserted,
  readLatest,
  watchLatest,
  type Ack,
} from '../helpers/history.js';

const db = await postgresForFile();

/** BEGIN; [take an xid; wait `beforeMs`]; appendInTransaction; wait `holdMs`; COMMIT. */
async function heldAppend(
  pool: pg.Pool,
  journal: PostgresJournal,
  key: string,
  holdMs: number,
  beforeMs?: number,
): Promise<Ack & { committedAt: number }> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (beforeMs !== undefined) {
      await client.query('SELECT pg_current_xact_id()');
      await delay(beforeMs);
    }
    const id = `${key}:0`;
    const [position] = await journal.appendInTransaction(client, [
      { key, id, payload: { k: key, seq: 0 } },
    ]);
    await delay(holdMs);
    await client.query('COMMIT');
    return {
      key,
      seq: 0,
      id,
      position: position as number,
      node: 'held transaction',
      committedAt: Date.now(),
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

if (db.skip !== undefined) {
  test('cluster late commit test', { skip: db.skip }, () => {});
} else {
  const { pool } = db;
  test(
    'an entry whose transaction commits seconds late is still delivered, exactly once, while a node appends and consumes others',
    { timeout: 120_000 },
    async (t) => {
      const { cluster, journal, schema } = await openCluster(t, db, {
        partitions: 4,
        leaseMs: 2_000,
      });
      cluster.start('a', { writer: { keys: 20, intervalMs: 50 } });
      await cluster.ready('a');
      await cluster.covered();
      const latest = watchLatest(pool, schema);
      await delay(500);

      const started = Date.now();
      const held = await Promise.all([
        heldAppend(pool, journal, 'late-0', 3_000),
        heldAppend(pool, journal, 'late-1', 1_000, 1_000),
      ]);
      const deliveredAt = new Map<string, number>();
      const deadline = Date.now() + 30_000;
      while (deliveredAt.size < held.length && Date.now() < deadline) {
        const { rows } = await pool.query<{ sluice_id: string; at: Date }>(
          `SELECT sluice_id, at FROM ${schema}.ledger WHERE sluice_id = ANY($1::text[])`,
          [held.map((h) => h.id)],
        );
        for (const r of rows) deliveredAt.set(r.sluice_id, r.at.getTime());
        await delay(100);
      }
      await cluster.stopWriters();
      const heldAcks: Ack[] = held.map(({ committedAt: _, ...ack }) => ack);
      const drain = await waitDrained(
        journal,
        pool,
        schema,
        () => [...cluster.acks(), ...heldAcks],
        60_000,
      );
      await cluster.terminate('a');
      const monotonic = [await latest.stop()];
      const acks = [...cluster.acks(), ...heldAcks];
      const inserted = await readInserted(pool, schema);
      const latestRows = await readLatest(pool, schema);

      // Entries appended after each held one (higher positions) and acknowledged, so
      // committed, before it committed: the reader had to wait for the held one.
      const passed = held.map(
        (h) =>
          acks.filter((a) => a.position > h.position && a.t !== undefined && a.t < h.committedAt)
            .length,
      );
      report(
        t,
        held
          .map(
            (h, i) =>
              `${h.id}: position ${h.position}, committed ${h.committedAt - started} ms after the start, ` +
              `delivered ${(deliveredAt.get(h.id) ?? NaN) - h.committedAt} ms after its commit; ` +
              `${passed[i]} entries with higher positions were committed before it`,
          )
          .join('\n') +
          `\n${acks.length} acknowledged writes; drained: ${drain.drained} in ${drain.ms} ms`,
      );

      const checks = new Checks(t);
      checks.check(
        'history: every acknowledged write once, in order, latest values, no regression',
        () => assertHistory({ acks, inserted, latest: latestRows, monotonic }),
      );
      checks.check('each late entry delivered exactly once', () => {
        for (const h of held) {
          assert.equal(inserted.filter((r) => r.id === h.id).length, 1, h.id);
        }
      });
      checks.check('drained', () => assert.ok(drain.drained, JSON.stringify(drain.stats.leases)));
      checks.check(
        'the run tested something: entries with higher positions committed before each late one',
        () => {
          for (const [i, n] of passed.entries()) assert.ok(n > 0, `${held[i]?.id}: ${n}`);
          assert.ok(monotonic[0] !== undefined && monotonic[0].looks > 20);
        },
      );
      checks.done();
    },
  );
}
