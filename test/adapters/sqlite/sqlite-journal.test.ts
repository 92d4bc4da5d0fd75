import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openSqlite } from '../../../src/adapters/sqlite/driver.js';
import {
  ConfigError,
  EncodeError,
  InputError,
  JournalFormatError,
  JournalReadError,
  JournalWriteError,
  ManualClock,
} from '../../../src/index.js';
import {
  SCHEMA_VERSION,
  SqliteJournal,
  type SqliteJournalOptions,
} from '../../../src/adapters/sqlite/index.js';
import { keyQuery, regionQuery, type ReadQuery } from '../../../src/adapters/sqlite/read-query.js';
import { journalConformance } from '../../../src/testing/index.js';
import { misbehavingCodec, misbehavingCodecRefusal } from '../../helpers/codecs.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir();
let n = 0;
const fresh = (): string => join(dir, `journal-${++n}.db`);

journalConformance('SqliteJournal', {
  open: () => SqliteJournal.open(fresh()),
  reopen: async (journal) => {
    await journal.close();
    return SqliteJournal.open((journal as SqliteJournal).path);
  },
});

test('SqliteJournal.open() refuses a file that is not SQLite, with a clear error', async () => {
  const path = join(dir, 'text.db');
  writeFileSync(path, 'just some text, certainly not a database '.repeat(100));
  await assert.rejects(SqliteJournal.open(path), (e: unknown) => {
    assert.ok(e instanceof JournalFormatError);
    assert.match(e.message, /text\.db is not a sluice journal: file is not a database/);
    return true;
  });
});

test('SqliteJournal.open() refuses another SQLite database', async () => {
  const path = join(dir, 'other.db');
  const db = openSqlite(path);
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY)');
  db.close();
  await assert.rejects(
    SqliteJournal.open(path),
    /other\.db is not a sluice journal: it is a SQLite database with other tables/,
  );
});

test('SqliteJournal.open() refuses a journal written by a newer schema', async () => {
  const path = fresh();
  await (await SqliteJournal.open(path)).close();
  const db = openSqlite(path);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await assert.rejects(
    SqliteJournal.open(path),
    new RegExp(
      `written by a newer sluice \\(journal schema v${SCHEMA_VERSION + 1}\\); this version reads up to v${SCHEMA_VERSION}`,
    ),
  );
});

test('SqliteJournal.open() with create: false refuses a missing file', async () => {
  await assert.rejects(
    SqliteJournal.open(join(dir, 'missing.db'), { create: false }),
    (e: unknown) => e instanceof InputError && /no journal at/.test(e.message),
  );
});

test('SqliteJournal.open() sets WAL and the requested synchronous mode', async () => {
  const full = await SqliteJournal.open(fresh());
  assert.equal(full.database.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(full.database.pragma('synchronous', { simple: true }), 2);
  await full.close();
  const normal = await SqliteJournal.open(fresh(), { synchronous: 'normal' });
  assert.equal(normal.database.pragma('synchronous', { simple: true }), 1);
  await normal.close();
});

test('.append() calls of one turn share one transaction', async () => {
  const journal = await SqliteJournal.open(fresh());
  const before = journal.writeTransactions;
  await Promise.all(
    Array.from({ length: 100 }, (_, i) => journal.append([{ key: `k${i}`, payload: i }])),
  );
  assert.equal(journal.writeTransactions - before, 1);
  await journal.close();
});

/** A few turns of the event loop: what is due without the clock moving has happened. */
async function turns(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('groupCommitMs: while several callers append, the next transaction waits out the interval from the last one and carries what came meanwhile', async () => {
  const clock = new ManualClock();
  const journal = await SqliteJournal.open(fresh(), { clock, groupCommitMs: 2 });
  const append = (i: number): Promise<number[]> => journal.append([{ key: `k${i}`, payload: i }]);
  // After a quiet spell: written on the next turn.
  await Promise.all([append(1), append(2), append(3)]);
  const before = journal.writeTransactions;
  let written = false;
  const next = Promise.all([append(4), append(5)]).then((positions) => {
    written = true;
    return positions;
  });
  await turns();
  assert.equal(written, false, 'waits: the last transaction carried three callers');
  const late = append(6); // comes meanwhile: rides along
  await clock.advance(1);
  assert.equal(written, false);
  await clock.advance(1);
  assert.deepEqual(await next, [[4], [5]]);
  assert.deepEqual(await late, [6]);
  assert.equal(journal.writeTransactions - before, 1);
  // Long after: no wait.
  await clock.advance(100);
  await append(7);
  await journal.close();
});

test('groupCommitMs: a lone caller awaiting each append is never held back; 0 holds nobody back', async () => {
  const clock = new ManualClock();
  const journal = await SqliteJournal.open(fresh(), { clock, groupCommitMs: 50 });
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await journal.append([{ key: 'k', payload: i }]), [i + 1]);
  }
  await journal.close();
  // Two callers at a time, the clock never moving: each pair is written on its next turn.
  const eager = await SqliteJournal.open(fresh(), { clock, groupCommitMs: 0 });
  for (let i = 0; i < 5; i++) {
    const calls = [0, 1].map((j) => eager.append([{ key: `k${j}`, payload: i }]));
    assert.equal((await Promise.all(calls)).length, 2);
  }
  await eager.close();
});

test('groupCommitMs: close() writes appends that wait out the interval', async () => {
  const clock = new ManualClock();
  const path = fresh();
  const journal = await SqliteJournal.open(path, { clock, groupCommitMs: 1_000 });
  await Promise.all([1, 2].map((i) => journal.append([{ key: `k${i}`, payload: i }])));
  const waiting = journal.append([{ key: 'k3', payload: 3 }]);
  await turns();
  await journal.close();
  assert.deepEqual(await waiting, [3]);
  const again = await SqliteJournal.open(path);
  assert.equal((await again.read(0)).length, 3);
  await again.close();
});

test('.append(): a call the storage refuses fails alone, as a JournalWriteError; the rest of its group commit is written', async () => {
  const journal = await SqliteJournal.open(fresh());
  await journal.append([{ key: 'a', payload: 1 }]);
  journal.database.exec(
    "CREATE TRIGGER refuse BEFORE INSERT ON sluice_entries WHEN NEW.key = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END",
  );
  const before = journal.writeTransactions;
  // 50 calls in one group commit; the 26th carries a record the storage refuses.
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) =>
      i === 25
        ? journal.append([
            { key: 'poison', payload: 3 },
            { key: 'with-poison', payload: 4 },
          ])
        : journal.append([{ key: 'good', payload: i }]),
    ),
  );
  assert.deepEqual(
    results.map((r) => r.status),
    Array.from({ length: 50 }, (_, i) => (i === 25 ? 'rejected' : 'fulfilled')),
  );
  const refused = (results[25] as PromiseRejectedResult).reason as JournalWriteError;
  assert.ok(refused instanceof JournalWriteError);
  assert.equal(refused.code, 'ERR_SLUICE_JOURNAL_WRITE');
  assert.match(String((refused.cause as Error).message), /refused by trigger/);
  const entries = await journal.read(0);
  assert.deepEqual(
    entries.map((e) => e.position),
    Array.from({ length: 50 }, (_, i) => i + 1),
    'positions stay contiguous',
  );
  assert.ok(
    entries.every((e) => e.key === 'a' || e.key === 'good'),
    'the refused call wrote none of its records',
  );
  assert.ok(journal.writeTransactions - before >= 2);
  await journal.close();
});

test('.append() on a full disk: every call of the group rejects with JournalWriteError (SQLITE_FULL); nothing is written; appends resume with room', async () => {
  const journal = await SqliteJournal.open(fresh());
  await journal.append([{ key: 'a', payload: 1 }]);
  const pages = journal.database.pragma('page_count', { simple: true }) as number;
  journal.database.pragma(`max_page_count = ${pages}`);
  const big = 'x'.repeat(50_000);
  const results = await Promise.allSettled([
    journal.append([{ key: 'b', payload: big }]),
    journal.append([{ key: 'c', payload: big }]),
    journal.append([{ key: 'd', payload: big }]),
  ]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    const e = r.reason as JournalWriteError;
    assert.ok(e instanceof JournalWriteError);
    assert.equal((e.cause as { code?: string }).code, 'SQLITE_FULL');
  }
  assert.equal((await journal.stats()).head, 1);
  // A reader parked on the head is not woken by the failed appends.
  let woke = false;
  const waiting = journal.waitForAppend(1).then(() => (woke = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, false);
  journal.database.pragma('max_page_count = 1073741823');
  assert.deepEqual(await journal.append([{ key: 'e', payload: big }]), [2]);
  await waiting;
  await journal.close();
});

test('.open() creates the folder a new journal goes in; create: false still refuses a missing file', async () => {
  const path = join(tempDir(), 'data', 'nested', 'journal.db');
  await assert.rejects(SqliteJournal.open(path, { create: false }), InputError);
  const journal = await SqliteJournal.open(path);
  assert.deepEqual(await journal.append([{ key: 'k', payload: 1 }]), [1]);
  await journal.close();
});

test('.read() queries seek an index from `after`: no full scan, no sort', async () => {
  const journal = await SqliteJournal.open(fresh());
  const plan = (q: ReadQuery): string =>
    (
      journal.database.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.args(5, 10)) as {
        detail: string;
      }[]
    )
      .map((r) => r.detail)
      .join('; ');
  const byPrimaryKey = /^SEARCH sluice_entries USING INTEGER PRIMARY KEY \(rowid>\?\)$/;
  assert.match(plan(regionQuery(undefined)), byPrimaryKey);
  assert.match(plan(regionQuery({ keyPrefix: 'acct-' })), byPrimaryKey);
  assert.match(plan(regionQuery({ types: ['set', 'del'] })), byPrimaryKey);
  assert.match(plan(regionQuery({ keys: ['a', 'b'], keyPrefix: 'c', types: ['t'] })), byPrimaryKey);
  assert.match(
    plan(keyQuery('acct-1')),
    /^SEARCH sluice_entries USING INDEX sluice_entries_by_key \(key=\? AND (rowid|position)>\?\)$/,
  );
  await journal.close();
});

test('.waitForAppend() notices an append made by another process', async () => {
  const path = fresh();
  const reader = await SqliteJournal.open(path, { pollIntervalMs: 10 });
  const writer = await SqliteJournal.open(path);
  const waiting = reader.waitForAppend(0);
  await writer.append([{ key: 'a', payload: 'from elsewhere' }]);
  await waiting;
  assert.equal((await reader.read(0))[0]?.payload, 'from elsewhere');
  await writer.close();
  await reader.close();
});

test('keyIndex: false drops the key index; exact-key reads still return the right entries', async () => {
  const path = fresh();
  const hasIndex = (j: SqliteJournal): boolean =>
    j.database
      .pluck("SELECT count(*) FROM sqlite_master WHERE name = 'sluice_entries_by_key'")
      .get() === 1;
  let journal = await SqliteJournal.open(path, { keyIndex: false });
  assert.equal(hasIndex(journal), false);
  await journal.append(Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 5}`, payload: i })));
  const k3 = await journal.read(10, { region: { keys: ['k3', 'k1'] }, limit: 4 });
  assert.deepEqual(
    k3.map((e) => [e.position, e.key, e.payload]),
    [
      [12, 'k1', 11],
      [14, 'k3', 13],
      [17, 'k1', 16],
      [19, 'k3', 18],
    ],
  );
  await journal.close();

  // Unset: the file keeps what it has (an inspector must not rebuild it).
  journal = await SqliteJournal.open(path);
  assert.equal(hasIndex(journal), false);
  await journal.close();
  journal = await SqliteJournal.open(path, { keyIndex: true });
  assert.equal(hasIndex(journal), true);
  assert.equal((await journal.read(0, { region: { keys: ['k4'] } })).length, 10);
  await journal.close();

  await assert.rejects(
    SqliteJournal.open(path, { keyIndex: 'no' as unknown as boolean }),
    (e: unknown) => e instanceof ConfigError && /keyIndex/.test(e.message),
  );
});

test('SqliteJournal.open() options: a misspelled name is refused naming the nearest known one; wrong types are refused', async () => {
  const refuses = (options: unknown, pattern: RegExp): Promise<void> =>
    assert.rejects(
      SqliteJournal.open(fresh(), options as SqliteJournalOptions),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  await refuses({ groupCommitMs: -1 }, /groupCommitMs.*a finite number >= 0/);
  await refuses(
    { synchronus: 'normal' },
    /Unknown option `synchronus`.*did you mean `synchronous`\?/,
  );
  await refuses({ maxGroupRecord: 10 }, /did you mean `maxGroupRecords`\?/);
  await refuses({ create: 'yes' }, /Expected `create` to be a boolean, got `"yes"`/);
  await refuses({ clock: 'now' }, /Expected `clock` to be an object with now\(\), setTimer\(\)/);
  await refuses({ codec: 'json' }, /Expected `codec` to be an object with encode\(\), decode\(\)/);
  await refuses({ pollIntervalMs: 0 }, /`pollIntervalMs` to be an integer >= 1/);
  await refuses(null, /Expected `SqliteJournal.open\(\) options` to be an object/);
});

test("a codec whose encode() returns what the file cannot keep: that append is an EncodeError, the same turn's others are written", async () => {
  // A codec is the user's code. A number stored as a payload would fail the hand-over to
  // the tail after COMMIT, with its whole group left unsettled.
  const journal = await SqliteJournal.open(fresh(), { codec: misbehavingCodec });
  const handedOver: number[] = [];
  journal.onAppended((entries) => handedOver.push(...entries.map((e) => e.position)));
  const [number, text, written] = await Promise.allSettled([
    journal.append([{ key: 'k', payload: 'as a number' }]),
    journal.append([
      { key: 'k', payload: 'fine' },
      { key: 'k', payload: 'as broken text' },
    ]),
    journal.append([{ key: 'k', payload: 'fine' }]),
  ]);
  for (const [result, message] of [
    [number, misbehavingCodecRefusal.number('record', 0)],
    [text, misbehavingCodecRefusal.brokenText('record', 1)],
  ] as const) {
    assert.ok(
      result.status === 'rejected' &&
        result.reason instanceof EncodeError &&
        message.test(result.reason.message),
      String(result.status === 'rejected' ? result.reason : 'it was written'),
    );
  }
  assert.deepEqual(written, { status: 'fulfilled', value: [1] });
  assert.deepEqual(handedOver, [1]);
  assert.deepEqual(
    (await journal.read(0)).map((e) => e.payload),
    ['fine'],
  );
  await journal.close();
});

test("a poll for other processes' appends that cannot read the file wakes the waiting reader, whose reads and waits then report it typed", async () => {
  const clock = new ManualClock();
  const journal = await SqliteJournal.open(fresh(), { clock, pollIntervalMs: 50 });
  const woken = journal.waitForAppend(0);
  // The file cannot be read any more (as after an I/O error): here, its handle is gone.
  journal.database.close();
  await clock.advance(50); // the poll meets the failure: no exception escapes its timer
  await woken;
  for (const call of [() => journal.read(0), () => journal.waitForAppend(0)]) {
    await assert.rejects(
      call(),
      (e: unknown) => e instanceof JournalReadError && /could not be read/.test(e.message),
    );
  }
  await journal.close();
});

test('.truncate() leaves the handle fsyncing appends again (synchronous FULL), whether it succeeds or fails', async () => {
  const journal = await SqliteJournal.open(fresh());
  for (let i = 0; i < 10; i++) await journal.append([{ key: 'k', payload: i }]);
  await journal.commit('c', 10);
  assert.equal((await journal.truncate(5)).removed, 4);
  assert.equal(journal.database.pragma('synchronous', { simple: true }), 2);
  journal.database.exec(
    "CREATE TEMP TRIGGER refuse BEFORE DELETE ON sluice_entries BEGIN SELECT RAISE(ABORT, 'kept'); END",
  );
  await assert.rejects(journal.truncate(8), JournalWriteError);
  assert.equal(journal.database.pragma('synchronous', { simple: true }), 2);
  assert.equal((await journal.stats()).first, 5);
  await journal.close();
});
