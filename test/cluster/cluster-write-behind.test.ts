import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClusterWriteBehind,
  ConfigError,
  DeadLetteredError,
  LeaseLostError,
  WriteBehind,
  type ClusterWriteBehindEvents,
  type Sink,
  type SinkEntry,
} from '../../src/index.js';
import { PostgresJournal, postgresSink } from '../../src/adapters/postgres/index.js';
import { assign } from '../../src/cluster/coordinator.js';
import { connectionString, postgresForFile } from '../helpers/postgres.js';

describe('assign (rendezvous, bounded to an even share)', () => {
  test('every partition has exactly one owner among the live nodes; shares differ by one at most', () => {
    for (const [nodes, partitions] of [
      [['a', 'b', 'c'], 64],
      [['a', 'b', 'c'], 16],
      [['n1', 'n2'], 16],
      [['x'], 8],
    ] as const) {
      const shares = nodes.map((node) => assign(nodes, partitions, node));
      const all = shares.flatMap((s) => [...s]).sort((x, y) => x - y);
      assert.deepEqual(
        all,
        Array.from({ length: partitions }, (_, i) => i),
      );
      const sizes = shares.map((s) => s.size);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `shares ${sizes.join('/')}`);
    }
  });

  test('a node leaving moves its own partitions and few others', () => {
    const nodes = ['a', 'b', 'c', 'd'];
    const before = nodes.map((node) => assign(nodes, 64, node));
    const rest = ['a', 'b', 'c'];
    const after = rest.map((node) => assign(rest, 64, node));
    let kept = 0;
    for (let i = 0; i < rest.length; i++) {
      for (const p of before[i] as Set<number>) if ((after[i] as Set<number>).has(p)) kept++;
    }
    // 48 partitions were on a, b and c; an unbounded rendezvous keeps all of them.
    assert.ok(kept >= 40, `${kept} of 48 stayed put`);
  });
});

const db = await postgresForFile();

if (db.skip !== undefined) {
  test('ClusterWriteBehind', { skip: db.skip }, () => {});
} else {
  const { pool, schema: base } = db;
  let n = 0;

  interface Row {
    key: string;
    n: number;
  }
  /** A fresh journal schema and an insert table with one row per delivered entry. */
  async function setUp(partitions = 8) {
    const schema = `${base}_c${++n}`;
    await pool.query(
      `CREATE TABLE ${base}.rows_${n} (sluice_id text UNIQUE, key text NOT NULL, n integer NOT NULL, at bigserial)`,
    );
    const journals: PostgresJournal[] = [];
    const open = async () => {
      const j = await PostgresJournal.open({ connectionString, schema, partitions });
      journals.push(j);
      return j;
    };
    const sink = await postgresSink<Row>({
      pool,
      schema: base,
      table: `rows_${n}`,
      columns: ['key', 'n'],
      mode: 'insert',
    });
    const table = `${base}.rows_${n}`;
    after(async () => {
      for (const j of journals) await j.close();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
    return { open, sink, table };
  }

  /** Every row, by key in delivery order. */
  async function delivered(table: string): Promise<Map<string, number[]>> {
    const { rows } = await pool.query<{ key: string; n: number }>(
      `SELECT key, n FROM ${table} ORDER BY at`,
    );
    const byKey = new Map<string, number[]>();
    for (const r of rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r.n]);
    return byKey;
  }

  function record<E extends keyof ClusterWriteBehindEvents>(
    wb: ClusterWriteBehind<Row>,
    event: E,
  ): ClusterWriteBehindEvents[E][] {
    const seen: ClusterWriteBehindEvents[E][] = [];
    wb.on(event, (e) => seen.push(e));
    return seen;
  }

  describe('ClusterWriteBehind', () => {
    test('WriteBehind.open over a shared journal gives this node its pipeline; bad options are ConfigErrors', async () => {
      const { open, sink } = await setUp(4);
      const journal = await open();
      await assert.rejects(WriteBehind.open({ journal, sink, leaseMs: 10 }), ConfigError);
      await assert.rejects(WriteBehind.open({ journal, sink, leasMs: 1000 } as never), /leaseMs/);
      const wb = await WriteBehind.open({ journal, sink, leaseMs: 5_000, node: 'solo' });
      try {
        assert.ok(wb instanceof ClusterWriteBehind);
        assert.equal(wb.node, 'solo');
        assert.deepEqual(wb.owned(), [0, 1, 2, 3], 'alone, it works every partition');
      } finally {
        await wb.close();
      }
    });

    test('two nodes share the partitions; every write from either reaches the sink once, in per-key order', async () => {
      const { open, sink, table } = await setUp(8);
      const a = await WriteBehind.open({ journal: await open(), sink, leaseMs: 5_000, node: 'a' });
      const b = await WriteBehind.open({ journal: await open(), sink, leaseMs: 5_000, node: 'b' });
      try {
        // b joined after a took everything: a hands b its share.
        await waitFor(() => a.owned().length + b.owned().length === 8 && b.owned().length > 0);
        assert.equal(new Set([...a.owned(), ...b.owned()]).size, 8, 'no partition held twice');
        const writes: Promise<number>[] = [];
        for (let key = 0; key < 40; key++) {
          const node = key % 2 === 0 ? a : b;
          writes.push(
            (async () => {
              for (let i = 0; i < 25; i++) await node.write(`k${key}`, { key: `k${key}`, n: i });
              return 0;
            })(),
          );
        }
        await Promise.all(writes);
        await a.flush();
        const rows = await delivered(table);
        assert.equal(rows.size, 40);
        for (const [key, ns] of rows) {
          assert.deepEqual(
            ns,
            Array.from({ length: 25 }, (_, i) => i),
            `key ${key}`,
          );
        }
        assert.equal(a.metrics().persisted + b.metrics().persisted, 1000);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('close hands the partitions over at once: the other node has them in well under a second', async () => {
      const { open, sink } = await setUp(8);
      const a = await WriteBehind.open({ journal: await open(), sink, leaseMs: 30_000, node: 'a' });
      const b = await WriteBehind.open({ journal: await open(), sink, leaseMs: 30_000, node: 'b' });
      await waitFor(() => b.owned().length > 0 && a.owned().length + b.owned().length === 8);
      const acquired = record(a, 'partition:acquired');
      const released = record(b, 'partition:released');
      const started = Date.now();
      await b.close();
      await waitFor(() => a.owned().length === 8);
      const tookMs = Date.now() - started;
      await a.close();
      assert.ok(released.every((r) => r.reason === 'close'));
      assert.equal(acquired.length, released.length);
      // The lease lasts 30 s: only the release can explain a handover this fast.
      assert.ok(tookMs < 1_000, `handover took ${tookMs} ms`);
    });

    test("a lease taken over behind a node's back: its next commit is refused and it lets the partition go", async () => {
      const { open, sink } = await setUp(1);
      const journal = await open();
      const wb = await WriteBehind.open({ journal, sink, leaseMs: 30_000, node: 'a' });
      const released = record(wb, 'partition:released');
      const failed = record(wb, 'checkpoint:failed');
      try {
        await wb.write('k', { key: 'k', n: 1 });
        await wb.flush();
        // Another node takes the partition (as after a pause past the lease).
        await pool.query(
          `UPDATE ${base}_c${n}.leases SET owner = 'b', epoch = epoch + 1, expires_at = now() + interval '1 minute'`,
        );
        await wb.write('k', { key: 'k', n: 2 });
        await waitFor(() => released.length === 1);
        assert.equal(released[0]?.reason, 'lost');
        assert.match(String(failed[0]?.error), /no longer held/);
        assert.deepEqual(wb.owned(), []);
      } finally {
        await wb.close();
      }
    });

    test('retention: handled entries are deleted behind the checkpoint, so the journal stays small', async () => {
      const { open, sink } = await setUp(1);
      const journal = await open();
      const wb = await WriteBehind.open({ journal, sink, leaseMs: 5_000, retain: 100 });
      try {
        for (let round = 0; round < 6; round++) {
          await wb.writeMany(
            Array.from({ length: 1_000 }, (_, i) => ({
              key: `k${i % 50}`,
              value: { key: `k${i % 50}`, n: round * 1_000 + i },
            })),
          );
          await wb.flush();
        }
        const { entries } = await journal.stats();
        // Trims start once 1,000 handled entries are past the 100 retained, 10,000 at most.
        assert.ok(entries <= 1_100 + 1_000, `${entries} entries kept of 6,000`);
        assert.ok(entries >= 100, `${entries} entries kept: the newest 100 stay`);
      } finally {
        await wb.close();
      }
    });

    test('exactly once into PostgreSQL: no id column, and a re-delivery from an old checkpoint writes nothing twice', async () => {
      const { open } = await setUp(4);
      const journal = await open();
      const table = `plain_${n}`;
      await pool.query(`CREATE TABLE ${base}.${table} (key text NOT NULL, n integer NOT NULL)`);
      const options = {
        pool,
        schema: base,
        table,
        columns: ['key', 'n'],
        mode: 'insert',
        idColumn: null,
      } as const;
      await assert.rejects(
        postgresSink<Row>(options),
        /exactlyOnce/,
        'no id column needs exactlyOnce',
      );
      await assert.rejects(
        postgresSink<Row>({ ...options, exactlyOnce: {} as never }),
        ConfigError,
      );
      const sink = await postgresSink<Row>({ ...options, exactlyOnce: journal });
      const count = async () =>
        Number(
          (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${base}.${table}`)).rows[0]
            ?.n,
        );

      let wb = await WriteBehind.open({ journal, sink, leaseMs: 5_000, node: 'a' });
      await wb.writeMany(
        Array.from({ length: 200 }, (_, i) => ({
          key: `k${i % 20}`,
          value: { key: `k${i % 20}`, n: i },
        })),
      );
      await wb.flush();
      await wb.close();
      assert.equal(await count(), 200);

      // Every checkpoint back to the start: the next owner delivers all 200 again.
      await pool.query(`UPDATE ${base}_c${n}.leases SET cp_tx = '0', cp_pos = 0`);
      wb = await WriteBehind.open({ journal, sink, leaseMs: 5_000, node: 'b' });
      await wb.flush();
      const { duplicates, persisted } = wb.metrics();
      await wb.close();
      assert.equal(persisted, 200, 'delivered again');
      assert.equal(duplicates, 200, 'and known as already written');
      assert.equal(await count(), 200, 'no row twice');

      // A write under a lease the node no longer holds writes nothing.
      const { leases } = await journal.clusterStats();
      const lease = leases[0] as { partition: number; epoch: number };
      const entry = { id: 'fresh-1', key: 'k', value: { key: 'k', n: -1 }, version: 1 };
      const stale = {
        journalId: journal.id,
        consumer: 'write-behind',
        partition: lease.partition,
        node: 'b',
        epoch: lease.epoch - 1,
      };
      await assert.rejects(sink.writeBatch([entry], { fence: stale }), LeaseLostError);
      await assert.rejects(sink.writeBatch([entry]), /only for a pipeline over its journal/);
      assert.equal(sink.classify(new LeaseLostError('c', 0, 1)), 'unavailable');
      assert.equal(await count(), 200);
    });

    test('the journal table renamed mid-run: the partition pipelines fail, are let go, and start again once it is back', async () => {
      const { open, sink, table } = await setUp(2);
      const journal = await open();
      const wb = await WriteBehind.open({ journal, sink, leaseMs: 2_000, node: 'a' });
      const released = record(wb, 'partition:released');
      const acquired = record(wb, 'partition:acquired');
      try {
        await wb.write('k1', { key: 'k1', n: 1 });
        await wb.flush();
        const entries = `${base}_c${n}.entries`;
        await pool.query(`ALTER TABLE ${entries} RENAME TO entries_away`);
        // Reads fail, are retried with backoff, then the pipelines stop and are let go.
        await waitFor(() => released.filter((r) => r.reason === 'failed').length >= 2, 20_000);
        await pool.query(`ALTER TABLE ${base}_c${n}.entries_away RENAME TO entries`);
        await waitFor(() => wb.owned().length === 2 && acquired.length >= 4, 10_000);
        await wb.write('k1', { key: 'k1', n: 2 });
        await wb.flush();
        assert.deepEqual((await delivered(table)).get('k1'), [1, 2]);
      } finally {
        await wb.close();
      }
    });

    test('an exactly-once sink refuses coalesce: true (an entry coalesced away would never be marked)', async () => {
      const { open } = await setUp(1);
      const journal = await open();
      await pool.query(`CREATE TABLE ${base}.eo_${n} (key text PRIMARY KEY, n integer NOT NULL)`);
      const sink = await postgresSink<Row>({
        pool,
        schema: base,
        table: `eo_${n}`,
        columns: ['key', 'n'],
        mode: 'upsert',
        conflict: ['key'],
        exactlyOnce: journal,
      });
      await assert.rejects(WriteBehind.open({ journal, sink, coalesce: true }), /coalesce/);
    });

    test('writeAndWait resolves once delivered, and rejects with DeadLetteredError for an entry the sink refuses', async () => {
      const { open } = await setUp(2);
      const seen: SinkEntry<Row>[] = [];
      const refusing: Sink<Row> = {
        writeBatch(entries) {
          if (entries.some((e) => e.value.n < 0)) return Promise.reject(new Error('negative n'));
          seen.push(...entries);
          return Promise.resolve();
        },
        classify: () => 'rejected',
        close: async () => {},
      };
      const wb = await WriteBehind.open({ journal: await open(), sink: refusing, leaseMs: 5_000 });
      try {
        const position = await wb.writeAndWait('k', { key: 'k', n: 1 });
        assert.ok(seen.some((e) => e.value.n === 1));
        assert.ok(position > 0);
        await assert.rejects(wb.writeAndWait('k', { key: 'k', n: -1 }), DeadLetteredError);
        const letters = await wb.deadLetters.list();
        assert.equal(letters.length, 1);
        assert.ok((letters[0]?.position as number) > position, 'the real journal position');
      } finally {
        await wb.close();
      }
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
