import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { PostgresDeadLetters, deadLetterTableSql } from '../../../src/adapters/postgres/index.js';
import {
  ConfigError,
  EncodeError,
  InputError,
  MemoryJournal,
  jsonCodec,
  type Codec,
  type DeadLetterInput,
} from '../../../src/index.js';
import { deadLetterView } from '../../../src/backend.js';
import { deadLetterConformance } from '../../../src/testing/index.js';
import { misbehavingCodec, misbehavingCodecRefusal } from '../../helpers/codecs.js';
import { connectionString, postgresForFile } from '../../helpers/postgres.js';

const db = await postgresForFile();

const letter = (n: number, extra: Partial<DeadLetterInput> = {}): DeadLetterInput => ({
  position: n,
  entryId: `e${n}`,
  key: `k${n}`,
  payload: { n },
  version: 100 + n,
  error: `refused ${n}`,
  attempts: 1,
  ...extra,
});

if (db.skip !== undefined) {
  test('PostgresDeadLetters', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  let n = 0;

  /** A schema of its own with the table in it, dropped by `drop()`. */
  const freshSchema = async (): Promise<{ name: string; drop: () => Promise<void> }> => {
    const name = `${schema}_${++n}`;
    await pool.query(`CREATE SCHEMA "${name}"`);
    await pool.query(deadLetterTableSql(`"${name}"`));
    return { name, drop: async () => void (await pool.query(`DROP SCHEMA "${name}" CASCADE`)) };
  };

  deadLetterConformance('PostgresDeadLetters', {
    open: async () => {
      const { name, drop } = await freshSchema();
      return {
        store: new PostgresDeadLetters(pool, name),
        journal: new MemoryJournal(),
        close: drop,
      };
    },
  });

  // A second node: its own pool on the same database.
  const other = new pg.Pool({ connectionString, max: 2 });
  after(() => other.end());

  test('two stores on two pools share one table: one adds, the other lists, replays and purges', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const a = new PostgresDeadLetters(pool, name);
    const b = new PostgresDeadLetters(other, name);
    const ids = await a.add([letter(1), letter(2), letter(3)]);
    assert.deepEqual(
      (await b.list()).map((l) => [l.id, l.key, l.payload]),
      [
        [ids[0], 'k1', { n: 1 }],
        [ids[1], 'k2', { n: 2 }],
        [ids[2], 'k3', { n: 3 }],
      ],
    );
    const journal = new MemoryJournal();
    const view = deadLetterView(b, journal);
    const replayed = await view.replay([ids[0]!, ids[1]!]);
    assert.equal(replayed.replayed, 2);
    assert.deepEqual(
      (await journal.read(0)).map((e) => [e.key, e.origin, e.version]),
      [
        ['k1', 'e1', 101],
        ['k2', 'e2', 102],
      ],
    );
    assert.equal(await view.purge([ids[2]!]), 1);
    assert.equal(await a.count(), 0);
    assert.deepEqual(await a.list(), []);
  });

  test('.add() of the same letters by two stores at once, in opposite orders, keeps one of each: both get its id', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const a = new PostgresDeadLetters(pool, name);
    const b = new PostgresDeadLetters(other, name);
    for (let round = 0; round < 10; round++) {
      // Without one add at a time, these two would deadlock on the unique index.
      const letters = Array.from({ length: 30 }, (_, i) => letter(round * 100 + i));
      const [fromA, fromB] = await Promise.all([a.add(letters), b.add([...letters].reverse())]);
      assert.deepEqual(fromA, [...(fromB ?? [])].reverse());
    }
    assert.equal(await a.count(), 300);
  });

  test('.remove() of the same letter by two stores at once gives it back to one of them', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const a = new PostgresDeadLetters(pool, name);
    const b = new PostgresDeadLetters(other, name);
    const ids = await a.add([letter(1), letter(2)]);
    const [fromA, fromB] = await Promise.all([a.remove(ids), b.remove(ids)]);
    assert.deepEqual(
      [...(fromA ?? []), ...(fromB ?? [])].map((l) => l.id).sort((x, y) => x - y),
      ids,
    );
    assert.equal(await b.count(), 0);
  });

  test('.add() keeps one letter for an entry named twice in one call, and ids in call order', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const store = new PostgresDeadLetters(pool, name);
    // Entry ids sort the other way from the call order: ids still follow the call.
    const ids = await store.add([
      letter(3, { entryId: 'z' }),
      letter(1, { entryId: 'a' }),
      letter(3, { entryId: 'z' }),
    ]);
    assert.equal(ids[0], ids[2]);
    assert.ok(ids[0]! < ids[1]!);
    assert.equal(await store.count(), 2);
    assert.deepEqual(await store.add([]), []);
  });

  test('payloads are stored through the codec: JSON as text, bytes as bytea', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const store = new PostgresDeadLetters(pool, name);
    await store.add([
      letter(1, { payload: { a: [1, 'x'] } }),
      letter(2, { payload: Buffer.from([0, 255]).subarray(1) }),
      letter(3, { payload: 'text' }),
    ]);
    const { rows } = await pool.query<{
      payload_text: string | null;
      payload_bytes: Buffer | null;
    }>(`SELECT payload_text, payload_bytes FROM "${name}".dead_letters ORDER BY id`);
    assert.deepEqual(
      rows.map((r) => [r.payload_text, r.payload_bytes === null ? null : [...r.payload_bytes]]),
      [
        ['{"a":[1,"x"]}', null],
        [null, [255]],
        ['"text"', null],
      ],
    );
    const listed = await store.list();
    assert.deepEqual(listed[0]?.payload, { a: [1, 'x'] });
    assert.deepEqual([...(listed[1]?.payload as Uint8Array)], [255]);
    assert.equal(listed[2]?.payload, 'text');
  });

  test('.add() with a codec whose encode() returns what PostgreSQL cannot keep is an EncodeError; nothing is written', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const store = new PostgresDeadLetters(pool, name, { codec: misbehavingCodec });
    for (const [payload, message] of [
      ['as a number', misbehavingCodecRefusal.number('letter', 1)],
      ['as broken text', misbehavingCodecRefusal.brokenText('letter', 1)],
    ] as const) {
      await assert.rejects(
        store.add([letter(1, { payload: 'fine' }), letter(2, { payload })]),
        (e: unknown) => e instanceof EncodeError && message.test(e.message),
      );
    }
    assert.equal(await store.count(), 0);
  });

  test('.add() refuses what it cannot keep before writing anything; an error text is made storable', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const store = new PostgresDeadLetters(pool, name);
    await assert.rejects(
      store.add([letter(1), letter(2, { payload: { x: Number.NaN } })]),
      EncodeError,
    );
    await assert.rejects(
      store.add([letter(1), letter(2, { key: 'a\0b' })]),
      (e: unknown) => e instanceof InputError && /letter 1: key holds a NUL/.test(e.message),
    );
    await assert.rejects(store.add([letter(1, { position: -1 })]), InputError);
    await assert.rejects(store.add([letter(1, { entryId: '' })]), InputError);
    await assert.rejects(store.list({ limit: 1.5 }), InputError);
    assert.equal(await store.count(), 0, 'nothing of a refused call is written');
    // The error message is for people: a NUL or a lone surrogate in it must not refuse the letter.
    await store.add([letter(1, { error: 'bad \0 byte \uD800 here' })]);
    assert.equal((await store.list())[0]?.error, 'bad \uFFFD byte \uFFFD here');
  });

  test('new PostgresDeadLetters() refuses a schema that is not an identifier, a misspelled option and a bad codec', () => {
    assert.throws(
      () => new PostgresDeadLetters(pool, 'x"; DROP TABLE y'),
      (e: unknown) => e instanceof ConfigError && e.option === 'schema',
    );
    assert.throws(
      () => new PostgresDeadLetters(pool, schema, { codek: jsonCodec } as { codec?: Codec }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /Unknown option `codek` in PostgresDeadLetters options; did you mean `codec`\?/.test(
          e.message,
        ),
    );
    assert.throws(
      () => new PostgresDeadLetters(pool, schema, { codec: 'json' as unknown as Codec }),
      /Expected `codec` to be an object with encode\(\), decode\(\)/,
    );
    assert.throws(
      () => new PostgresDeadLetters({} as pg.Pool, schema),
      (e: unknown) => e instanceof ConfigError && e.option === 'pool',
    );
  });

  test('deadLetterTableSql() can run again on a schema that has the table', async (t) => {
    const { name, drop } = await freshSchema();
    t.after(drop);
    const store = new PostgresDeadLetters(pool, name);
    await store.add([letter(1)]);
    await pool.query(deadLetterTableSql(`"${name}"`));
    assert.equal(await store.count(), 1);
  });
}
