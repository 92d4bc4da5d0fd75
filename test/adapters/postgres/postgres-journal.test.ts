import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import {
  ConfigError,
  InputError,
  type PartitionCursor,
  type PartitionLease,
} from '../../../src/index.js';
import { PARTITION_START } from '../../../src/backend.js';
import { PostgresJournal } from '../../../src/adapters/postgres/index.js';
import { partitionedJournalConformance } from '../../../src/testing/index.js';
import { connectionString, postgresForFile } from '../../helpers/postgres.js';

const db = await postgresForFile();

if (db.skip !== undefined) {
  test('PostgresJournal', { skip: db.skip }, () => {});
} else {
  const { pool, schema: base } = db;
  let n = 0;
  const opened: PostgresJournal[] = [];
  after(async () => {
    for (const j of opened) await j.close();
  });
  /** A journal in a schema of its own, dropped when the file's tests end. */
  async function journal(partitions = 4, schema = `${base}_${++n}`): Promise<PostgresJournal> {
    const j = await PostgresJournal.open({ connectionString, schema, partitions });
    opened.push(j);
    after(async () => {
      await j.close();
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });
    return j;
  }
  partitionedJournalConformance('PostgresJournal', {
    open: () => journal(4),
    connect: async (j) => {
      const other = await PostgresJournal.open({
        connectionString,
        schema: (j as PostgresJournal).schema,
      });
      opened.push(other);
      return other;
    },
    expire: async (j, consumer) => {
      const s = (j as PostgresJournal).schema;
      await pool.query(
        `UPDATE ${s}.leases SET expires_at = now() - interval '1 millisecond' WHERE consumer = $1 AND owner IS NOT NULL`,
        [consumer],
      );
      await pool.query(
        `UPDATE ${s}.nodes SET expires_at = now() - interval '1 millisecond' WHERE consumer = $1`,
        [consumer],
      );
    },
    begin: async (j) => {
      const client = await pool.connect();
      await client.query('BEGIN');
      const end = async (how: string) => {
        try {
          await client.query(how);
        } finally {
          client.release();
        }
      };
      return {
        append: (records) => (j as PostgresJournal).appendInTransaction(client, records),
        commit: () => end('COMMIT'),
        rollback: () => end('ROLLBACK'),
      };
    },
  });

  /** Every entry of every partition, in delivery order per partition. */
  async function readAll(
    j: PostgresJournal,
    partition: number,
    after: PartitionCursor = PARTITION_START,
  ) {
    return j.readPartition(partition, after, { limit: 10_000 });
  }

  describe('PostgresJournal: appending', () => {
    test('positions grow in the order of the records; versions grow with them; a key keeps its partition', async () => {
      const j = await journal();
      const first = await j.append([
        { key: 'a', payload: { n: 1 } },
        { key: 'b', payload: { n: 2 } },
      ]);
      const [third] = await j.append([{ key: 'a', payload: { n: 3 } }]);
      assert.ok(
        (first[0] as number) < (first[1] as number) && (first[1] as number) < (third as number),
      );
      const pa = j.partitionOf('a');
      assert.equal(pa, j.partitionOf('a'));
      const { entries } = await readAll(j, pa);
      const mine = entries.filter((e) => e.key === 'a');
      assert.deepEqual(
        mine.map((e) => e.payload),
        [{ n: 1 }, { n: 3 }],
      );
      assert.ok((mine[0]?.version as number) < (mine[1]?.version as number));
      assert.ok(
        (mine[0]?.version as number) > Date.now() * 1000 - 60_000_000,
        'versions follow the clock',
      );
    });

    test('an id already in the journal is not written again, within one append or across appends', async () => {
      const j = await journal(1);
      const [p1, p2, p3] = await j.append([
        { key: 'k', id: 'x', payload: 1 },
        { key: 'k', payload: 2 },
        { key: 'k', id: 'x', payload: 3 },
      ]);
      assert.equal(p1, p3);
      const [again] = await j.append([{ key: 'k', id: 'x', payload: 4 }]);
      assert.equal(again, p1);
      const { entries } = await readAll(j, 0);
      assert.deepEqual(
        entries.map((e) => [e.position, e.payload]),
        [
          [p1, 1],
          [p2, 2],
        ],
      );
    });

    test('nodes racing to append the same ids: each id is written once, and every caller gets its position', async () => {
      const schema = `${base}_${++n}`;
      const nodes = [await journal(2, schema), await journal(2, schema), await journal(2, schema)];
      // Every node appends ids 0..199 in its own order, in turns of 20, all at once.
      const results = await Promise.all(
        nodes.map(async (j, node) => {
          const got = new Map<string, number>();
          for (let turn = 0; turn < 10; turn++) {
            const ids = Array.from(
              { length: 20 },
              (_, i) => `id-${(turn * 20 + i + node * 67) % 200}`,
            );
            const positions = await Promise.all(
              ids.map((id) => j.append([{ key: `k${id.length}`, id, payload: { id, node } }])),
            );
            ids.forEach((id, i) => got.set(id, (positions[i] as number[])[0] as number));
          }
          return got;
        }),
      );
      const all = [
        ...(await readAll(nodes[0] as PostgresJournal, 0)).entries,
        ...(await readAll(nodes[0] as PostgresJournal, 1)).entries,
      ];
      assert.equal(all.length, 200, 'one entry per id');
      const stored = new Map(all.map((e) => [e.id as string, e.position]));
      for (const got of results) {
        for (const [id, position] of got) assert.equal(position, stored.get(id), id);
      }
    });

    test('bytes come back as bytes; the appends of one turn share one transaction', async () => {
      const j = await journal(1);
      const bytes = new Uint8Array([0, 1, 2, 255]);
      const [a, b] = await Promise.all([
        j.append([{ key: 'k', payload: bytes }]),
        j.append([{ key: 'k', payload: 'text' }]),
      ]);
      const { entries, cursors } = await readAll(j, 0);
      assert.deepEqual(new Uint8Array(entries[0]?.payload as Uint8Array), bytes);
      assert.deepEqual([entries[0]?.position, entries[1]?.position], [a?.[0], b?.[0]]);
      assert.equal(cursors[0]?.tx, cursors[1]?.tx, 'one group commit, one transaction');
    });

    test('bad input is refused at the call, and the other appends of the turn still land', async () => {
      const j = await journal(1);
      const good = j.append([{ key: 'k', payload: 1 }]);
      await assert.rejects(j.append([{ key: 'a\u0000b', payload: 1 }]), InputError);
      await assert.rejects(j.append([{ key: '', payload: 1 }]), InputError);
      await assert.rejects(
        j.append([{ key: 'k', payload: 'x'.repeat(100) }], { maxRecordBytes: 10 }),
        /maxEntryBytes/,
      );
      // Ids are indexed, and measured in UTF-8 bytes: 1,000 CJK characters are 3,000 bytes,
      // past what an index entry holds, which would fail the whole group's INSERT.
      const longest = j.append([{ key: 'k', id: 'i'.repeat(2_000), payload: 2 }]);
      await assert.rejects(
        j.append([{ key: 'k', id: '漢'.repeat(1_000), payload: 3 }]),
        (e: unknown) =>
          e instanceof InputError &&
          e.message === "record 0: id is 3000 bytes in UTF-8; at most 2000 fit the journal's index",
      );
      await assert.rejects(
        j.append([{ key: 'k', origin: 'é'.repeat(1_001), payload: 4 }]),
        /record 0: origin is 2002 bytes in UTF-8/,
      );
      assert.equal((await good).length, 1);
      assert.equal((await longest).length, 1);
    });

    test('the partition count is fixed at creation: another one is a ConfigError; none takes the stored one', async () => {
      const schema = `${base}_fixed`;
      await journal(8, schema);
      await assert.rejects(
        PostgresJournal.open({ connectionString, schema, partitions: 4 }),
        ConfigError,
      );
      const again = await PostgresJournal.open({ connectionString, schema });
      assert.equal(again.partitions, 8);
      await again.close();
      await assert.rejects(
        PostgresJournal.open({ connectionString, schema, partition: 4 } as never),
        ConfigError,
      );
    });
  });

  describe('PostgresJournal: reading below the transaction horizon', () => {
    test('an entry whose transaction commits late is read, and nothing past it is read before it', async () => {
      const j = await journal(1);
      const slow = await pool.connect();
      try {
        await slow.query('BEGIN');
        // The slow transaction takes its transaction id (and position) first...
        const [late] = await j.appendInTransaction(slow, [{ key: 'k', payload: 'late' }]);
        // ...then another append commits.
        const [quick] = await j.append([{ key: 'k', payload: 'quick' }]);
        assert.ok((late as number) < (quick as number));
        assert.deepEqual((await readAll(j, 0)).entries, [], 'held back while the slow one is open');
        await slow.query('COMMIT');
        const { entries } = await readAll(j, 0);
        assert.deepEqual(
          entries.map((e) => e.payload),
          ['late', 'quick'],
        );
      } finally {
        slow.release();
      }
    });

    test('transaction ids are ordered as numbers, not as text: 9 before 10, whatever the limit', async () => {
      const j = await journal(1);
      const schema = `${base}_${n}`;
      // Rows as transactions 10 and 9 would have written them (ids long gone: below the horizon).
      await pool.query(
        `INSERT INTO ${schema}.entries (position, part, tx, key, payload_text, appended_at) ` +
          `VALUES (1, 0, '10', 'k', '"second"', 0), (2, 0, '9', 'k', '"first"', 0)`,
      );
      const all = await readAll(j, 0);
      assert.deepEqual(
        all.entries.map((e) => e.payload),
        ['first', 'second'],
      );
      const [one, two] = await Promise.all([
        j.readPartition(0, PARTITION_START, { limit: 1 }),
        j.readPartition(0, PARTITION_START, { limit: 1 }), // the same turn: one LATERAL read
      ]);
      assert.deepEqual(
        one.entries.map((e) => e.payload),
        ['first'],
      );
      assert.deepEqual(
        two.entries.map((e) => e.payload),
        ['first'],
      );
      const next = await j.readPartition(0, one.cursors[0] as PartitionCursor, { limit: 1 });
      assert.deepEqual(
        next.entries.map((e) => e.payload),
        ['second'],
      );
      const single = await j.readPartition(0, PARTITION_START, { limit: 1 });
      assert.deepEqual(
        single.entries.map((e) => e.payload),
        ['first'],
        'the single read too',
      );
    });

    test('the outbox: a rolled-back transaction leaves no entry; a committed one exactly one', async () => {
      const j = await journal(1);
      await pool.query(`CREATE TABLE ${base}.orders_${n} (id int primary key)`);
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO ${base}.orders_${n} VALUES (1)`);
        await j.appendInTransaction(client, [
          { key: 'order:1', id: 'order:1', payload: { id: 1 } },
        ]);
        await client.query('ROLLBACK');
        assert.deepEqual((await readAll(j, 0)).entries, []);
        await client.query('BEGIN');
        await client.query(`INSERT INTO ${base}.orders_${n} VALUES (1)`);
        await j.appendInTransaction(client, [
          { key: 'order:1', id: 'order:1', payload: { id: 1 } },
        ]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const { entries } = await readAll(j, 0);
      assert.deepEqual(
        entries.map((e) => e.id),
        ['order:1'],
      );
    });

    test('reads resume after a cursor, and respect the limit and the byte bound', async () => {
      const j = await journal(1);
      await j.append([1, 2, 3, 4, 5].map((i) => ({ key: 'k', payload: 'x'.repeat(i) })));
      const first = await j.readPartition(0, PARTITION_START, { limit: 2 });
      assert.deepEqual(
        first.entries.map((e) => e.payload),
        ['x', 'xx'],
      );
      // Sizes are characters of JSON text: "xxx" is 5, "xxxx" 6, "xxxxx" 7.
      const rest = await j.readPartition(0, first.cursors[1] as PartitionCursor, {
        limit: 10,
        maxBytes: 11,
      });
      assert.deepEqual(
        rest.entries.map((e) => (e.payload as string).length),
        [3, 4],
      );
    });

    test('a notification names the partitions an append touched, from any connection', async () => {
      const j = await journal(4);
      const seen: number[][] = [];
      const heard = new Promise<void>((resolve) =>
        j.onAppend((parts) => {
          seen.push([...parts]);
          resolve();
        }),
      );
      await j.append([{ key: 'k', payload: 1 }]);
      await heard;
      assert.deepEqual(seen[0], [j.partitionOf('k')]);
    });

    test('the listening connection comes back after the server drops it: readers are woken for everything, then named partitions again', async () => {
      const j = await journal(4);
      const seen: number[][] = [];
      j.onAppend((parts) => seen.push([...parts]));
      const until = async (what: string, check: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!check()) {
          if (Date.now() > deadline) assert.fail(`${what}: not within 10 s`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      const { rows } = await pool.query<{ ok: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE $1`,
        [`%${j.schema}:%`],
      );
      assert.deepEqual(
        rows.map((r) => r.ok),
        [true],
        'one listening connection, dropped',
      );
      // Whatever was notified while it was gone is unknown: [] wakes every partition's reader.
      await until('the reconnect wake-up', () => seen.some((parts) => parts.length === 0));
      const p = j.partitionOf('after');
      await j.append([{ key: 'after', payload: 2 }]);
      await until('a notification after the reconnect', () =>
        seen.some((parts) => parts.length === 1 && parts[0] === p),
      );
    });
  });

  describe('PostgresJournal: leases', () => {
    test('trimming deletes only what every consumer has committed past', async () => {
      const j = await journal(1);
      await j.append([1, 2, 3, 4].map((i) => ({ key: 'k', payload: i })));
      const { cursors } = await readAll(j, 0);
      for (const c of ['fast', 'slow']) await j.heartbeat(c, 'a', 10_000);
      const fast = (await j.takeLease('fast', 0, 'a', 10_000)) as PartitionLease;
      const slow = (await j.takeLease('slow', 0, 'a', 10_000)) as PartitionLease;
      await j.commitPartition('fast', 'a', fast, cursors[3] as PartitionCursor);
      await j.commitPartition('slow', 'a', slow, cursors[1] as PartitionCursor);
      assert.equal(await j.trimPartition(0, cursors[3] as PartitionCursor, 100), 2);
      assert.deepEqual(
        (await readAll(j, 0)).entries.map((e) => e.payload),
        [3, 4],
      );
      assert.equal(await j.pendingUpTo('slow', (cursors[3] as PartitionCursor).position), 1);
      assert.equal(await j.pendingUpTo('fast', (cursors[3] as PartitionCursor).position), 0);
      assert.deepEqual(await j.entryState('fast', (cursors[3] as PartitionCursor).position), {
        state: 'done',
      });
      assert.deepEqual(await j.entryState('slow', (cursors[3] as PartitionCursor).position), {
        state: 'pending',
      });
    });
  });

  test('a journal whose transaction ids are ahead of the server (restored from another) is refused at open', async () => {
    const schema = `${base}_moved`;
    const j = await journal(2, schema);
    await j.append([{ key: 'k', payload: 1 }]);
    await j.heartbeat('c', 'a', 10_000);
    await j.close();
    const again = await PostgresJournal.open({ connectionString, schema });
    await again.close();
    // As if written on a server whose counter was far ahead of this one's.
    await pool.query(`UPDATE ${schema}.leases SET cp_tx = '999999999999'`);
    await assert.rejects(PostgresJournal.open({ connectionString, schema }), (e: unknown) => {
      return e instanceof ConfigError && /transaction ids are ahead/.test(e.message);
    });
  });

  test('a schema name with capitals is kept as written', async () => {
    const schema = `Mixed_${base}`;
    const j = await PostgresJournal.open({ connectionString, schema, partitions: 2 });
    try {
      const [position] = await j.append([{ key: 'k', payload: 1 }]);
      assert.ok((position as number) > 0);
      assert.equal((await j.stats()).entries, 1);
    } finally {
      await j.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  test('a pg client that is not one is refused by appendInTransaction', async () => {
    const j = await journal(1);
    await assert.rejects(
      j.appendInTransaction({} as pg.ClientBase, [{ key: 'k', payload: 1 }]),
      InputError,
    );
  });
}
