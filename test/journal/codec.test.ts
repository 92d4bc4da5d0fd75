/**
 * What a value looks like when it reaches the sink: every kind the README lists goes
 * through a real SQLite journal and the whole pipeline into a sink, and arrives exactly as
 * documented; every kind JSON would change is refused at `write()` with an EncodeError
 * naming its place in the value, and nothing of it is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  EncodeError,
  EntryTooLargeError,
  InputError,
  MemorySink,
  SluiceError,
  WriteBehind,
  type Payload,
} from '../../src/index.js';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { jsonLength } from '../../src/journal/codec.js';
import { tempDir } from '../helpers/temp.js';
import fc from 'fast-check';

const dir = tempDir();

/** [what, written, what the sink receives] */
const carried: [string, unknown, unknown][] = [
  ['null', null, null],
  ['booleans', [true, false], [true, false]],
  ['integers and floats', [0, 1, -1, 0.1, 1e300, -2.5e-300], [0, 1, -1, 0.1, 1e300, -2.5e-300]],
  ['integers past 2^53 (as doubles)', 2 ** 60, 2 ** 60],
  ['Number.MAX_VALUE', Number.MAX_VALUE, Number.MAX_VALUE],
  ['strings', 'héllo wörld ✓ 🎉', 'héllo wörld ✓ 🎉'],
  ['a string with a lone surrogate', 'a\uD800b', 'a\uD800b'],
  ['control characters', '\u0000\n\t"\\', '\u0000\n\t"\\'],
  ['nested objects and arrays', { a: [1, { b: [[]] }], c: {} }, { a: [1, { b: [[]] }], c: {} }],
  [
    'an object with a null prototype',
    Object.assign(Object.create(null) as object, { a: 1 }),
    { a: 1 },
  ],
  ['an object key with a lone surrogate', { 'k\uDC00': 1 }, { 'k\uDC00': 1 }],
  ['a property set to undefined (absent)', { a: 1, gone: undefined }, { a: 1 }],
  ['a Date (as its ISO string)', new Date(0), '1970-01-01T00:00:00.000Z'],
  [
    'a Date inside (as its ISO string)',
    { at: new Date(86_400_000) },
    { at: '1970-01-02T00:00:00.000Z' },
  ],
  ['an object with toJSON (as what it returns)', { toJSON: () => ({ x: 1 }) }, { x: 1 }],
  ['bytes as the whole payload', new Uint8Array([0, 1, 255]), new Uint8Array([0, 1, 255])],
];

/** [what, written, the EncodeError's message] */
const refused: [string, unknown, RegExp][] = [
  ['undefined', undefined, /^value: undefined is not supported/],
  ['NaN', { n: NaN }, /^value\.n: NaN is not supported/],
  ['Infinity', [1, Infinity], /^value\[1\]: Infinity is not supported/],
  ['-Infinity', -Infinity, /^value: -Infinity is not supported/],
  ['-0', { balance: -0 }, /^value\.balance: -0 is not supported/],
  ['a bigint', { big: 10n }, /^value\.big: bigint is not supported/],
  ['a function', { f: () => 1 }, /^value\.f: function is not supported/],
  ['a symbol', { s: Symbol('x') }, /^value\.s: symbol is not supported/],
  ['a Map', { tags: new Map([['a', 1]]) }, /^value\.tags: Map is not supported/],
  ['a Set', { tags: new Set([1]) }, /^value\.tags: Set is not supported/],
  ['bytes inside a value', { raw: new Uint8Array([1]) }, /^value\.raw: bytes inside a value/],
  ['a Buffer inside a value', [Buffer.from('x')], /^value\[0\]: bytes inside a value/],
  [
    'a class instance',
    {
      p: new (class Point {
        x = 1;
      })(),
    },
    /^value\.p: an instance of Point/,
  ],
  ['undefined in an array', [1, undefined], /^value\[1\]: undefined in an array/],
  ['a hole in an array', [1, , 3], /^value\[1\]: undefined in an array/], // eslint-disable-line no-sparse-arrays
  ['an invalid Date', { at: new Date(NaN) }, /^value\.at: an invalid Date/],
  ['a property name that needs quoting', { 'a b': NaN }, /^value\["a b"\]: NaN/],
  ['a cycle', cyclic(), /^value\.self: a cycle/],
  [
    'a toJSON that throws',
    {
      at: {
        toJSON: () => {
          throw new Error('no date yet');
        },
      },
    },
    /^value\.at: its toJSON\(\) threw: no date yet$/,
  ],
];

async function closeAll(wb: WriteBehind<Payload>, journal: SqliteJournal): Promise<void> {
  await wb.close({ deadlineMs: 1_000 });
  await journal.close();
}

function cyclic(): object {
  const o: Record<string, unknown> = { a: 1 };
  o['self'] = o;
  return o;
}

test('every value kind the README lists arrives in the sink exactly as documented', async (t) => {
  const journal = await SqliteJournal.open(join(dir, 'carried.db'));
  const sink = new MemorySink<Payload>({ mode: 'insert' });
  const wb = await WriteBehind.open<Payload>({ journal, sink });
  t.after(() => closeAll(wb, journal));
  for (const [what, value] of carried) await wb.write(what, value as Payload, { id: what });
  await wb.close();
  for (const [what, , expected] of carried) {
    const got = sink.rows.get(what)?.value;
    if (expected instanceof Uint8Array) {
      assert.ok(got instanceof Uint8Array, what);
      assert.deepEqual([...got], [...expected], what);
    } else {
      assert.deepEqual(got, expected, what);
    }
  }
  await journal.close();
});

test('a value JSON would change is refused at write() with an EncodeError naming where; nothing is written', async (t) => {
  const journal = await SqliteJournal.open(join(dir, 'refused.db'));
  const sink = new MemorySink<Payload>({ mode: 'insert' });
  const wb = await WriteBehind.open<Payload>({ journal, sink });
  t.after(() => closeAll(wb, journal));
  for (const [what, value, message] of refused) {
    await assert.rejects(
      wb.write('k', value as Payload),
      (e: unknown) =>
        e instanceof EncodeError &&
        e instanceof SluiceError &&
        e.code === 'ERR_SLUICE_ENCODE' &&
        message.test(e.message),
      what,
    );
  }
  assert.equal((await journal.stats()).head, 0, 'nothing of a refused write reaches the journal');
  await wb.write('k', { fine: true });
  await wb.close();
  assert.equal(sink.rows.size, 1);
  await journal.close();
});

test('a key, id, type or origin that is empty, not a string or holds a lone surrogate is an InputError naming it', async () => {
  const journal = await SqliteJournal.open(join(dir, 'keys.db'));
  await assert.rejects(
    journal.append([{ key: 'a\uD800', payload: 1 }]),
    /record 0: key holds a lone surrogate/,
  );
  await assert.rejects(journal.append([{ key: 'k', id: '\uDFFFx', payload: 1 }]), InputError);
  await assert.rejects(journal.append([{ key: 'k', type: '\uD800', payload: 1 }]), InputError);
  // Each field is named with its record's index; optional ones may be left out, not empty.
  const ok = { key: 'k', payload: 1 };
  for (const [bad, message] of [
    [{ ...ok, key: '' }, 'record 1: key must be a non-empty string, got `""`'],
    [{ ...ok, id: '' }, 'record 1: id must be a non-empty string when given, got `""`'],
    [{ ...ok, type: 7 }, 'record 1: type must be a non-empty string when given, got `7`'],
    [{ ...ok, origin: '\uD800' }, 'record 1: origin holds a lone surrogate'],
  ] as const) {
    await assert.rejects(
      journal.append([ok, bad as unknown as typeof ok]),
      (e: unknown) => e instanceof InputError && e.message.startsWith(message),
      message,
    );
  }
  assert.equal((await journal.stats()).head, 0, 'nothing of a refused append is written');
  // A well-formed pair is fine, and comes back as it went in.
  await journal.append([{ key: 'emoji-🎉', id: 'id-🎉', payload: 1 }]);
  const [entry] = await journal.read(0);
  assert.equal(entry?.key, 'emoji-🎉');
  assert.equal(entry?.id, 'id-🎉');
  await journal.close();
});

test('in memory mode the same values are refused with the same messages, and nothing is queued', async (t) => {
  const sink = new MemorySink<Payload>({ mode: 'insert' });
  const wb = await WriteBehind.open<Payload>({ journal: 'memory', sink });
  t.after(() => wb.close({ deadlineMs: 1_000 }));
  for (const [what, value, message] of refused) {
    await assert.rejects(
      wb.write('k', value as Payload),
      (e: unknown) => e instanceof EncodeError && message.test(e.message),
      what,
    );
  }
  assert.equal((await wb.stats()).head, 0, 'nothing of a refused write is queued');
  await wb.write('k', { fine: true });
  await wb.close();
  assert.equal(sink.rows.size, 1);
});

/** Any UTF-16 text: control characters, quotes, backslashes, pairs and lone surrogates. */
const anyText = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0xd7f0, max: 0xe010 }), // around the surrogates
      fc.integer({ min: 0, max: 0xffff }),
    ),
    { maxLength: 12 },
  )
  .map((codes) => String.fromCharCode(...codes));
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
    anyText,
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value')),
    fc.dictionary(anyText, fc.option(tie('value'), { nil: undefined })),
  ),
})).value;

test('jsonLength() is the length of JSON.stringify for any value the codec takes (property)', () => {
  fc.assert(
    fc.property(jsonish, (value) => {
      assert.equal(jsonLength(value), JSON.stringify(value).length);
    }),
    { numRuns: 2_000 },
  );
});

test('memory mode measures a value as the journal stores it: maxEntryBytes refuses at the same length', async (t) => {
  // Escapes (quote, backslash, newline, a control character, a lone surrogate) and a pair.
  const value = { text: 'a"b\\c\nd\u0001e\uD800f🎉', n: [12, -3.5, 1e21, true, null] };
  const length = JSON.stringify(value).length;
  for (const [maxEntryBytes, accepted] of [
    [length, true],
    [length - 1, false],
  ] as const) {
    const sink = new MemorySink<Payload>({ mode: 'insert' });
    const memory = await WriteBehind.open<Payload>({ journal: 'memory', sink, maxEntryBytes });
    const journal = await SqliteJournal.open(join(dir, `measured-${maxEntryBytes}.db`));
    const durable = await WriteBehind.open<Payload>({
      journal,
      sink: new MemorySink<Payload>({ mode: 'insert' }),
      maxEntryBytes,
    });
    t.after(() => closeAll(durable, journal));
    for (const wb of [memory, durable]) {
      if (accepted) await wb.write('k', value);
      else await assert.rejects(wb.write('k', value), EntryTooLargeError);
    }
    await memory.close();
  }
});
