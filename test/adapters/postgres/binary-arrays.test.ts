import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binaryArray } from '../../../src/adapters/postgres/binary-arrays.js';
import { postgresSink } from '../../../src/adapters/postgres/index.js';
import { sendsBinary } from '../../../src/adapters/postgres/postgres-sink.js';
import pg from 'pg';
import { connectionString, postgresForFile } from '../../helpers/postgres.js';

const db = await postgresForFile();

/** pg_type OIDs of the element types sent in binary. */
const OID = { text: 25, varchar: 1043, int2: 21, int4: 23, int8: 20, bool: 16, float8: 701 };

test("sendsBinary(): node-postgres's JavaScript client sends Buffers in binary; a client without its COPY support (pg.native's) gets text arrays", async () => {
  const js = new pg.Pool({ connectionString });
  assert.equal(sendsBinary(js), true);
  await js.end();
  // pg.native's Client: a constructor of its own, without the JavaScript client's methods.
  class NativeLike {
    query(): void {}
  }
  assert.equal(sendsBinary({ Client: NativeLike } as unknown as pg.Pool), false);
  assert.equal(sendsBinary({} as pg.Pool), false);
});

test('binaryArray() leaves to text what does not convert exactly, and types it does not know', () => {
  const refused: [number, unknown[]][] = [
    [OID.int4, [1, 1.5]],
    [OID.int4, ['7']],
    [OID.int4, [2 ** 31]],
    [OID.int2, [-32_769]],
    [OID.int8, [2 ** 53]],
    [OID.text, ['a', 5]],
    [OID.text, [{ a: 1 }]],
    [OID.bool, [1]],
    [OID.float8, [Number.NaN]],
    [OID.float8, ['1.5']],
    [OID.text, []],
  ];
  for (const [oid, values] of refused) {
    assert.equal(binaryArray(oid)?.(values), undefined, `${oid}: ${String(values)}`);
  }
  // numeric, jsonb, timestamptz, uuid, bytea: always text.
  for (const oid of [1700, 3802, 1184, 2950, 17]) assert.equal(binaryArray(oid), undefined);
});

/** `pool`, telling `onValues` the parameters of every statement sent as a query config. */
function spy(pool: pg.Pool, onValues: (values: unknown[]) => void): pg.Pool {
  return new Proxy(pool, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (name === 'query') {
        return (...args: unknown[]) => {
          const config = args[0] as { values?: unknown[] };
          if (typeof config === 'object' && config.values !== undefined) onValues(config.values);
          return (target.query as (...a: unknown[]) => unknown)(...args);
        };
      }
      // Methods bound to the pool; the Client class as it is.
      return typeof value === 'function' && name !== 'Client'
        ? (value as () => unknown).bind(target)
        : value;
    },
  });
}

if (db.skip !== undefined) {
  test('binary arrays through PostgreSQL', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;

  test('binary arrays read back from PostgreSQL as the values sent: every type, bounds, NULLs, any text', async () => {
    const cases: [keyof typeof OID, unknown[]][] = [
      ['text', ['', 'plain', 'quote " and \\ and {braces}, commas', '€ 𝄞 ünï', null, 'NULL']],
      ['varchar', ['a', null, 'ünï']],
      ['int2', [-32_768, 0, 32_767, null]],
      ['int4', [-2_147_483_648, -1, 2_147_483_647, null]],
      ['int8', [-(2 ** 53 - 1), -1, 0, 2 ** 32, 2 ** 53 - 1, null]],
      ['bool', [true, false, null]],
      ['float8', [0.1, -5e-324, 1.7976931348623157e308, 0, null]],
    ];
    // -0 goes as 0, as the text path ('0') and COPY send it.
    const zero = await pool.query<{ v: number[] }>({
      text: 'SELECT $1::float8[] AS v',
      values: [binaryArray(OID.float8)?.([-0])],
    });
    assert.ok(Object.is(zero.rows[0]?.v[0], 0));
    for (const [type, values] of cases) {
      const encoded = binaryArray(OID[type])?.(values);
      assert.ok(encoded instanceof Buffer, type);
      // int8 comes back as text from node-postgres: compare it as text.
      const { rows } = await pool.query<{ v: unknown[] }>({
        text: `SELECT $1::${type}[]${type === 'int8' ? '::text[]' : ''} AS v`,
        values: [encoded],
      });
      assert.deepEqual(
        rows[0]?.v,
        type === 'int8' ? values.map((v) => (v === null ? null : String(v as number))) : values,
        type,
      );
    }
  });

  test('postgresSink sends binary arrays where the batch allows and text where it does not: the same rows either way', async () => {
    await pool.query(
      `CREATE TABLE ${schema}.typed (k text PRIMARY KEY, v varchar(5), s smallint, i integer, b bigint, f boolean, d double precision, n numeric, c char(3))`,
    );
    // Which columns went in binary (a Buffer), batch by batch.
    const sent: boolean[][] = [];
    const spied = spy(pool, (values) => sent.push(values.map((v) => v instanceof Buffer)));
    const sink = await postgresSink<Record<string, unknown>>({
      pool: spied,
      schema,
      table: 'typed',
      columns: ['k', 'v', 's', 'i', 'b', 'f', 'd', 'n', 'c'],
      mode: 'upsert',
      conflict: ['k'],
    });
    const entry = (k: string, value: Record<string, unknown>, version: number) => ({
      id: k,
      key: k,
      version,
      value: { k, ...value },
    });
    await sink.writeBatch([
      entry(
        'a',
        { v: 'ünï', s: -3, i: 2 ** 31 - 1, b: 2 ** 40, f: true, d: 0.1, n: 1.5, c: 'ab' },
        1,
      ),
      entry(
        'b',
        { v: null, s: null, i: undefined, b: -7, f: false, d: -2.5, n: null, c: 'xyz' },
        2,
      ),
    ]);
    // Values PostgreSQL converts from text: the batch's column goes as text, as it always did.
    await sink.writeBatch([
      entry('c', { v: 12, s: '4', i: '5', b: '9007199254740993', f: 'yes', d: '1e3', n: 2 }, 3),
    ]);
    // k v s i b f d n c: numeric and char always text; in the second batch only k.
    assert.deepEqual(sent.slice(-2), [
      [true, true, true, true, true, true, true, false, false],
      [true, false, false, false, false, false, false, false, false],
    ]);
    const { rows } = await pool.query(
      `SELECT k, v, s, i, b::text, f, d, n::text, c FROM ${schema}.typed ORDER BY k`,
    );
    assert.deepEqual(rows, [
      {
        k: 'a',
        v: 'ünï',
        s: -3,
        i: 2 ** 31 - 1,
        b: String(2 ** 40),
        f: true,
        d: 0.1,
        n: '1.5',
        c: 'ab ',
      },
      { k: 'b', v: null, s: null, i: null, b: '-7', f: false, d: -2.5, n: null, c: 'xyz' },
      { k: 'c', v: '12', s: 4, i: 5, b: '9007199254740993', f: true, d: 1000, n: '2', c: null },
    ]);
    // A value too long for varchar(5) or char(3) is refused (the entry's fault), in binary
    // as in text, as COPY and INSERT refuse it: never cut short.
    for (const value of [{ v: 'toolong' }, { v: 123456 }, { c: 'abcd' }]) {
      await assert.rejects(
        sink.writeBatch([entry('d', value, 4)]),
        (error: unknown) => sink.classify?.(error) === 'rejected',
      );
    }
    await sink.close();
  });
}
