/**
 * Ids and versions beyond one journal, on real SQLite files: id-less writes from two
 * journals into one insert table are all rows; so are those of a journal deleted and created
 * again; replay keeps ids and versions, so it is idempotent and cannot regress a key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite, type SqliteDatabase } from '../../src/adapters/sqlite/driver.js';
import { WriteBehind } from '../../src/index.js';
import { SqliteJournal, sqliteSink } from '../../src/adapters/sqlite/index.js';
import { tempDir } from '../helpers/temp.js';

type Row = { account: string; seq: number };
const dir = tempDir();

function store(name: string): SqliteDatabase {
  const db = openSqlite(join(dir, name));
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE ledger (sluice_id TEXT UNIQUE, account TEXT NOT NULL, seq INTEGER NOT NULL, version INTEGER);
  `);
  return db;
}

const ledger = (db: SqliteDatabase) =>
  sqliteSink<Row>({
    database: db,
    table: 'ledger',
    columns: ['account', 'seq'],
    mode: 'insert',
    versionColumn: 'version',
  });

async function pipeline(path: string, sink: ReturnType<typeof ledger>) {
  const journal = await SqliteJournal.open(path);
  const wb = await WriteBehind.open<Row>({ journal, sink, batch: { maxSize: 200, maxDelayMs: 2 } });
  return {
    journal,
    wb,
    async writeAll(from: number, to: number): Promise<void> {
      await Promise.all(
        Array.from({ length: 10 }, async (_, p) => {
          for (let i = from + p; i < to; i += 10)
            await wb.write(`acct-${i % 50}`, { account: `acct-${i % 50}`, seq: i });
        }),
      );
    },
    async close(): Promise<void> {
      await wb.close();
      await journal.close();
    },
  };
}

const count = (db: SqliteDatabase, sql: string): number => db.pluck(sql).get() as number;

test('two journals writing id-less entries into one insert table: every acknowledged write is a row', async () => {
  const db = store('two.db');
  const a = await pipeline(join(dir, 'a.db'), ledger(db));
  const b = await pipeline(join(dir, 'b.db'), ledger(db));
  assert.notEqual(a.journal.id, b.journal.id);
  await Promise.all([a.writeAll(0, 5_000), b.writeAll(0, 5_000)]);
  await a.wb.flush();
  await b.wb.flush();
  assert.equal(count(db, 'SELECT count(*) FROM ledger'), 10_000);
  assert.equal(count(db, 'SELECT count(DISTINCT sluice_id) FROM ledger'), 10_000);
  assert.equal(
    count(db, `SELECT count(*) FROM ledger WHERE sluice_id LIKE '${a.journal.id}:%'`),
    5_000,
  );
  assert.equal(a.wb.metrics().duplicates + b.wb.metrics().duplicates, 0);
  await a.close();
  await b.close();
  db.close();
});

test('a journal deleted and created again: its new id-less writes are rows too, not taken for the old ones', async () => {
  const db = store('recreated.db');
  const path = join(dir, 'recreated-journal.db');
  const first = await pipeline(path, ledger(db));
  const oldId = first.journal.id;
  await first.writeAll(0, 3_000);
  await first.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  const second = await pipeline(path, ledger(db));
  assert.notEqual(second.journal.id, oldId);
  await second.writeAll(0, 3_000);
  await second.wb.flush();
  assert.equal(count(db, 'SELECT count(*) FROM ledger'), 6_000);
  // The new journal's versions continue above the old one's: readers ordering by version
  // see the second run after the first.
  assert.ok(
    count(db, `SELECT min(version) FROM ledger WHERE sluice_id LIKE '${second.journal.id}:%'`) >
      count(db, `SELECT max(version) FROM ledger WHERE sluice_id LIKE '${oldId}:%'`),
  );
  await second.close();
  db.close();
});

/** Recreates `table` without its CHECK constraint, keeping its rows (SQLite cannot drop one). */
function relax(db: SqliteDatabase, table: string, columns: string): void {
  db.exec(`
    CREATE TABLE relaxed AS SELECT * FROM ${table};
    DROP TABLE ${table};
    CREATE TABLE ${table} (${columns});
    INSERT INTO ${table} SELECT * FROM relaxed;
    DROP TABLE relaxed;
  `);
}

test('replay into a versioned upsert table after newer writes of the same keys: no key goes back', async () => {
  const db = openSqlite(join(dir, 'replay-upsert.db'));
  db.exec(
    'CREATE TABLE latest (account TEXT PRIMARY KEY, seq INTEGER NOT NULL CHECK (seq < 1000), version INTEGER)',
  );
  const journal = await SqliteJournal.open(join(dir, 'replay-upsert-journal.db'));
  const sink = sqliteSink<Row>({
    database: db,
    table: 'latest',
    columns: ['account', 'seq'],
    mode: 'upsert',
    conflict: ['account'],
    versionColumn: 'version',
  });
  const wb = await WriteBehind.open<Row>({ journal, sink, batch: { maxSize: 100, maxDelayMs: 1 } });
  for (let k = 0; k < 20; k++) await wb.write(`k${k}`, { account: `k${k}`, seq: 1_000 + k }); // refused
  await wb.flush();
  assert.equal(await wb.deadLetters.count(), 20);
  for (let round = 1; round <= 10; round++) {
    for (let k = 0; k < 20; k++) await wb.write(`k${k}`, { account: `k${k}`, seq: round * 20 + k });
  }
  await wb.flush();
  relax(db, 'latest', 'account TEXT PRIMARY KEY, seq INTEGER NOT NULL, version INTEGER');
  // The old entries come back after the newer ones of their keys.
  const letters = await wb.deadLetters.list();
  assert.equal((await wb.deadLetters.replay(letters.map((l) => l.id))).replayed, 20);
  await wb.flush();
  const rows = db.prepare('SELECT account, seq FROM latest ORDER BY account').all() as Row[];
  assert.equal(rows.length, 20);
  for (const r of rows)
    assert.equal(r.seq, 200 + Number(r.account.slice(1)), `${r.account} went back`);
  assert.equal(wb.metrics().superseded, 20, 'every replayed entry was older than its row');
  assert.equal(await wb.deadLetters.count(), 0);
  await wb.close();
  await journal.close();
  db.close();
});

test('replay into an insert table, twice: original ids and versions kept, no duplicates', async () => {
  const db = openSqlite(join(dir, 'replay-insert.db'));
  const columns =
    'sluice_id TEXT UNIQUE, account TEXT NOT NULL, seq INTEGER NOT NULL, version INTEGER';
  db.exec(`CREATE TABLE ledger (${columns}, CHECK (seq % 100 <> 7))`);
  const journal = await SqliteJournal.open(join(dir, 'replay-insert-journal.db'));
  const wb = await WriteBehind.open<Row>({
    journal,
    sink: ledger(db),
    batch: { maxSize: 100, maxDelayMs: 1 },
  });
  for (let i = 0; i < 500; i++) {
    await wb.write(
      `acct-${i % 5}`,
      { account: `acct-${i % 5}`, seq: i },
      i % 2 === 0 ? { id: `w${i}` } : {},
    );
  }
  await wb.flush();
  const first = await wb.deadLetters.list();
  assert.equal(first.length, 5);
  const original = new Map(first.map((l) => [l.entryId, l.version]));
  // Replayed while the table still refuses them: they come back as dead letters, same ids.
  await wb.deadLetters.replay(first.map((l) => l.id));
  await wb.flush();
  const second = await wb.deadLetters.list();
  assert.deepEqual(new Map(second.map((l) => [l.entryId, l.version])), original);
  relax(db, 'ledger', columns);
  await wb.deadLetters.replay(second.map((l) => l.id));
  await wb.flush();
  assert.equal(count(db, 'SELECT count(*) FROM ledger'), 500);
  assert.equal(count(db, 'SELECT count(DISTINCT sluice_id) FROM ledger'), 500);
  const replayed = db
    .prepare('SELECT sluice_id, version FROM ledger WHERE seq % 100 = 7')
    .all() as { sluice_id: string; version: number }[];
  assert.deepEqual(new Map(replayed.map((r) => [r.sluice_id, r.version])), original);
  assert.ok(replayed.every((r) => !r.sluice_id.startsWith('dead-letter')));
  // Replaying rows that are already there (an interrupted replay, done again) adds nothing.
  await journal.append(
    replayed.map((r) => ({
      key: 'acct-2',
      payload: { account: 'acct-2', seq: 7 },
      origin: r.sluice_id,
      version: r.version,
    })),
  );
  await wb.flush();
  assert.equal(count(db, 'SELECT count(*) FROM ledger'), 500);
  assert.equal(wb.metrics().duplicates, 5);
  await wb.close();
  await journal.close();
  db.close();
});
