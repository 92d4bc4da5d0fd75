import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteJournal } from '../../../src/adapters/sqlite/index.js';
import {
  ENTRY_COLUMNS,
  ENTRY_INSERT,
  ENTRY_SELECT,
  EntryStatements,
  decodeEntry,
  entryRow,
} from '../../../src/adapters/sqlite/entry-row.js';
import { regionQuery } from '../../../src/adapters/sqlite/read-query.js';
import { jsonCodec, type Codec } from '../../../src/index.js';
import { type EncodedRecord } from '../../../src/backend.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir();
let n = 0;
const open = (): Promise<SqliteJournal> => SqliteJournal.open(join(dir, `rows-${++n}.db`));

const record = (over: Partial<EncodedRecord> = {}): EncodedRecord => ({
  key: 'acct-1',
  type: undefined,
  id: undefined,
  payload: '{"balance":10}',
  version: undefined,
  origin: undefined,
  ...over,
});

test('ENTRY_COLUMNS is the table the migrations create: names, types, NOT NULL, primary key, in order', async () => {
  const journal = await open();
  const info = journal.database.prepare('PRAGMA table_info(sluice_entries)').all() as {
    name: string;
    type: string;
    notnull: number;
    pk: number;
  }[];
  assert.deepEqual(
    info.map((c) => ({ name: c.name, type: c.type, notNull: c.notnull === 1, pk: c.pk > 0 })),
    ENTRY_COLUMNS.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.notNull,
      pk: c.primaryKey,
    })),
  );
  await journal.close();
});

test('ENTRY_INSERT lists every column in table order; ENTRY_SELECT reads each into its EntryRow field', () => {
  const names = ENTRY_COLUMNS.map((c) => c.name).join(', ');
  const marks = ENTRY_COLUMNS.map(() => '?').join(', ');
  assert.ok(ENTRY_INSERT.includes(`(${names}) VALUES (${marks})`), ENTRY_INSERT);
  for (const c of ENTRY_COLUMNS) assert.match(ENTRY_SELECT, new RegExp(`\\b${c.field}\\b`));
  assert.match(ENTRY_SELECT, /coalesce\(version, position\) AS version/);
  assert.match(ENTRY_SELECT, /appended_at AS appendedAt/);
});

test('entryRow() then EntryStatements.insert(): the row read is the row written; a known id is not written again', async () => {
  const journal = await open();
  const statements = new EntryStatements(journal.database);
  const row = entryRow(record({ type: 'set', id: 'e1', origin: '7' }), 1, 1_700_000, 42);
  assert.equal(statements.insert(row), true);
  assert.equal(statements.insert({ ...row, position: 2 }), false);
  assert.equal(statements.positionOfId('e1'), 1);
  // node:sqlite's rows have no prototype: compare the fields.
  assert.deepEqual(
    statements.all(regionQuery(undefined), 0, 10).map((r) => ({ ...r })),
    [row],
  );
  const plain = entryRow(record(), 2, 1_700_001, 43);
  assert.deepEqual([plain.type, plain.id, plain.origin], [null, null, null]);
  assert.equal(statements.first(), 1);
  await journal.close();
});

test('EntryStatements.insertMany(): all rows of a statement or none; a known or repeated id is false, a size not offered and any other error throw', async () => {
  const journal = await open();
  const statements = new EntryStatements(journal.database);
  const rows = (from: number, ids: (string | undefined)[]) =>
    ids.map((id, i) => entryRow(record({ id }), from + i, 1_700_000, from + i));
  const stored = () => statements.all(regionQuery(undefined), 0, 100).map((r) => r.position);
  const eight = Array.from({ length: 8 }, (_, i) => `e${i}`);
  assert.equal(statements.insertMany(rows(1, eight)), true);
  assert.deepEqual(stored(), [1, 2, 3, 4, 5, 6, 7, 8]);
  // e3 is stored: nothing of the statement is.
  assert.equal(
    statements.insertMany(rows(9, ['n1', 'n2', 'e3', 'n4', 'n5', 'n6', 'n7', 'n8'])),
    false,
  );
  // n1 twice in one statement, neither stored: nothing either.
  assert.equal(
    statements.insertMany(rows(9, ['n1', 'n2', 'n3', 'n1', 'n5', 'n6', 'n7', 'n8'])),
    false,
  );
  assert.deepEqual(stored(), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.throws(
    () => statements.insertMany(rows(9, ['a', 'b'])),
    /insertMany\(\) takes 32, 8, 1 rows, got 2/,
  );
  // Not a constraint (a value no driver binds): thrown, for the group commit to judge.
  const unbindable = rows(9, [undefined]).map((r) => ({ ...r, payload: {} as never }));
  assert.throws(
    () => statements.insertMany(unbindable),
    (e: unknown) => e instanceof Error && !e.message.startsWith('insertMany() takes'),
  );
  assert.deepEqual(stored(), [1, 2, 3, 4, 5, 6, 7, 8]);
  await journal.close();
});

test('a row from before schema v3 (no version) reads its position as its version', async () => {
  const journal = await open();
  journal.database
    .prepare(
      "INSERT INTO sluice_entries (position, key, payload, appended_at) VALUES (5, 'old', '1', 0)",
    )
    .run();
  const [row] = new EntryStatements(journal.database).all(regionQuery(undefined), 0, 10);
  assert.equal(row?.version, 5);
  await journal.close();
});

test('decodeEntry() turns a row into an entry; a payload the codec refuses is kept as undecodable', () => {
  const row = entryRow(record({ type: 't', id: 'i' }), 3, 99, 1000);
  assert.deepEqual(decodeEntry(row, jsonCodec), {
    position: 3,
    key: 'acct-1',
    type: 't',
    id: 'i',
    payload: { balance: 10 },
    appendedAt: 99,
    bytes: 14,
    version: 1000,
    origin: undefined,
  });
  const broken: Codec = {
    encode: (p) => JSON.stringify(p),
    decode: () => {
      throw new Error('damaged');
    },
  };
  const entry = decodeEntry(row, broken);
  assert.equal(entry.payload, null);
  assert.deepEqual(entry.undecodable, { stored: '{"balance":10}', error: 'Error: damaged' });
});

test('SqliteJournal prepares its statements once: a second round of every call prepares none', async () => {
  const journal = await open();
  const db = journal.database;
  const prepare = db.prepare.bind(db);
  let prepared = 0;
  db.prepare = (...args: Parameters<typeof prepare>) => {
    prepared++;
    return prepare(...args);
  };
  const round = async (i: number): Promise<void> => {
    await journal.append([{ key: `k${i}`, id: `id${i}`, payload: i }]);
    await journal.read(0);
    await journal.read(0, { region: { keys: ['k1', 'k2'] }, maxBytes: 100 });
    await journal.read(0, { region: { keyPrefix: 'k' }, maxBytes: 100 });
    await journal.commit('c', 1);
    await journal.committed('c');
    await journal.stats();
    await journal.truncate(1);
    const hold = await journal.acquire('c');
    await hold.release();
    const store = journal.deadLetters();
    const [id] = await store.add([
      { position: 1, entryId: 'e', key: 'k', payload: 1, version: 1, error: 'x', attempts: 1 },
    ]);
    await store.list();
    await store.get([id as number]);
    await store.count();
    await store.remove([id as number]);
  };
  await round(1);
  prepared = 0;
  await round(2);
  await round(3);
  assert.equal(prepared, 0);
  await journal.close();
});
