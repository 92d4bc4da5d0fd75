/**
 * The SQLite driver layer: which driver `auto` picks on this Node.js, that each driver that
 * loads here passes the journal, dead-letter and sink conformance suites (the default one
 * also runs them in the other files of this folder), and that a driver that cannot load is a
 * MissingDependencyError naming what to install.
 *
 * CI runs this file on Node 20, 22, 24 and 26: on 20 only better-sqlite3 loads; on 22 both do
 * (node:sqlite with Node's experimental warning); on 24 and 26 node:sqlite, and
 * better-sqlite3 only where it was compiled for that Node.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  chooseDriver,
  openSqlite,
  sqliteError,
  wrapSqlite,
  type SqliteDatabase,
  type SqliteDriverName,
  type SqliteHandle,
} from '../../../src/adapters/sqlite/driver.js';
import {
  SqliteDeadLetters,
  SqliteJournal,
  sqliteSink,
} from '../../../src/adapters/sqlite/index.js';
import { ConfigError, MissingDependencyError } from '../../../src/index.js';
import {
  deadLetterConformance,
  journalConformance,
  sinkConformance,
} from '../../../src/testing/index.js';
import { ROOT } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp.js';
import { sqliteBalancesHarness } from '../../helpers/sqlite-balances.js';

const dir = tempDir();
let n = 0;
const fresh = (): string => join(dir, `driver-${++n}.db`);
const major = Number(process.versions.node.split('.')[0]);
const DRIVERS: readonly SqliteDriverName[] = ['better-sqlite3', 'node:sqlite'];

/** Whether `driver` opens a database on this Node.js, or the error that says why not. */
function tryDriver(driver: SqliteDriverName): true | MissingDependencyError {
  try {
    openSqlite(':memory:', { driver }).close();
    return true;
  } catch (error) {
    assert.ok(error instanceof MissingDependencyError, `${driver}: ${String(error)}`);
    return error;
  }
}

test('auto: node:sqlite from Node 24, better-sqlite3 before (node:sqlite on 22 only without it)', () => {
  const choice = chooseDriver('auto');
  if (major >= 24) assert.equal(choice, 'node:sqlite');
  else if (major === 22)
    assert.equal(choice, tryDriver('better-sqlite3') === true ? 'better-sqlite3' : 'node:sqlite');
  else assert.equal(choice, 'better-sqlite3');
  assert.equal(chooseDriver('node:sqlite'), 'node:sqlite');
  assert.equal(chooseDriver('better-sqlite3'), 'better-sqlite3');
});

test('a driver that cannot load here is a MissingDependencyError naming what to install', () => {
  const loadable = DRIVERS.filter((d) => tryDriver(d) === true);
  assert.ok(loadable.includes(chooseDriver('auto')), 'the default driver loads');
  for (const driver of DRIVERS.filter((d) => !loadable.includes(d))) {
    const error = tryDriver(driver) as MissingDependencyError;
    assert.equal(error.code, 'ERR_SLUICE_MISSING_DEPENDENCY');
    assert.equal(error.dependency, 'better-sqlite3');
    assert.match(error.message, /npm (install|rebuild) better-sqlite3/);
  }
  if (major < 22) assert.ok(!loadable.includes('node:sqlite'), 'Node 20 has no node:sqlite');
});

test('a misspelled driver is a ConfigError', async () => {
  await assert.rejects(
    SqliteJournal.open(fresh(), { driver: 'sqlite3' as 'auto' }),
    (e: unknown) => e instanceof ConfigError && e.option === 'driver',
  );
});

test("node:sqlite's errors are named as SQLite names them, as better-sqlite3's are", () => {
  const named = (errcode: number): string | undefined =>
    sqliteError(Object.assign(new Error('x'), { code: 'ERR_SQLITE_ERROR', errcode }));
  assert.equal(named(13), 'SQLITE_FULL');
  assert.equal(named(5), 'SQLITE_BUSY');
  assert.equal(named(2067), 'SQLITE_CONSTRAINT_UNIQUE');
  assert.equal(named(1299), 'SQLITE_CONSTRAINT_NOTNULL');
  assert.equal(named((7 << 8) | 10), 'SQLITE_IOERR'); // an extended code without a name here
  assert.equal(sqliteError(Object.assign(new Error('x'), { code: 'SQLITE_BUSY' })), 'SQLITE_BUSY');
  assert.equal(sqliteError(new Error('not SQLite')), undefined);
  assert.equal(sqliteError(undefined), undefined);
});

/**
 * Drivers CI expects to load here (scripts/test-node-versions.sh compiles better-sqlite3 for
 * each Node), so that a driver that silently stopped loading fails the run.
 */
const expected = (process.env['SLUICE_EXPECT_DRIVERS'] ?? '').split(',').filter(Boolean);

test('every driver CI expects on this Node.js loads', () => {
  for (const driver of expected) {
    assert.equal(tryDriver(driver as SqliteDriverName), true, `${driver} loads`);
  }
});

if (DRIVERS.every((d) => tryDriver(d) === true)) {
  test("one file is not opened with both drivers in one process (two SQLite copies break each other's locks)", async () => {
    const path = fresh();
    const first = openSqlite(path, { driver: 'better-sqlite3' });
    assert.throws(
      () => openSqlite(path, { driver: 'node:sqlite' }),
      (e: unknown) =>
        e instanceof ConfigError && e.option === 'driver' && /already open/.test(e.message),
    );
    await assert.rejects(
      SqliteJournal.open(path, { driver: 'node:sqlite' }),
      (e: unknown) => e instanceof ConfigError,
    );
    first.close();
    openSqlite(path, { driver: 'node:sqlite' }).close(); // free once the other is closed
  });
}

for (const driver of DRIVERS) {
  const skip =
    tryDriver(driver) === true ? false : `${driver} does not load on Node ${process.versions.node}`;

  test(
    `${driver}: a busy database is SQLITE_BUSY through a statement, exec and a transaction; a transaction cannot return a promise`,
    { skip },
    () => {
      const path = fresh();
      const holder = openSqlite(path, { driver });
      holder.exec('CREATE TABLE t (v INTEGER)');
      const other = openSqlite(path, { driver, timeoutMs: 0 });
      holder.exec('BEGIN IMMEDIATE');
      const insert = other.prepare<[number]>('INSERT INTO t (v) VALUES (?)');
      const busy = (f: () => unknown): string | undefined => {
        try {
          f();
        } catch (error) {
          return (error as { code?: string }).code;
        }
        return undefined;
      };
      assert.match(String(busy(() => insert.run(1))), /^SQLITE_BUSY/);
      assert.match(String(busy(() => other.exec('INSERT INTO t (v) VALUES (2)'))), /^SQLITE_BUSY/);
      assert.match(String(busy(() => other.transaction(() => 1, 'immediate')())), /^SQLITE_BUSY/);
      holder.exec('ROLLBACK');
      assert.throws(() => other.transaction(() => Promise.resolve(1))(), TypeError);
      assert.equal(other.pluck('SELECT count(*) FROM t').get(), 0, 'nothing of it committed');
      other.close();
      holder.close();
    },
  );

  test(`${driver}: bytes come back from the journal as a Buffer`, { skip }, async () => {
    const journal = await SqliteJournal.open(fresh(), { driver });
    await journal.append([{ key: 'k', payload: Buffer.from('hi') }]);
    const [entry] = await journal.read(0);
    assert.ok(Buffer.isBuffer(entry?.payload), 'a Buffer');
    assert.equal(String(entry?.payload), 'hi');
    await journal.close();
  });

  test(
    `${driver}: transactions commit, roll back on a throw, and nest as savepoints`,
    { skip },
    () => {
      const db = openSqlite(fresh(), { driver });
      assert.equal(db.driver, driver);
      db.exec('CREATE TABLE t (v INTEGER PRIMARY KEY)');
      const insert = db.prepare<[number]>('INSERT INTO t (v) VALUES (?)');
      const count = db.pluck<[], number>('SELECT count(*) FROM t');
      db.transaction((v: number) => insert.run(v), 'immediate')(1);
      assert.throws(() =>
        db.transaction(() => {
          insert.run(2);
          throw new Error('undo');
        })(),
      );
      assert.equal(count.get(), 1);
      db.transaction(() => {
        insert.run(3);
        assert.throws(() =>
          db.transaction(() => {
            insert.run(4);
            insert.run(1); // a constraint: this inner part alone rolls back
          })(),
        );
      })();
      assert.deepEqual(db.pluck<[], number>('SELECT v FROM t ORDER BY v').all(), [1, 3]);
      const failure = (() => {
        try {
          insert.run(1);
        } catch (error) {
          return error;
        }
      })();
      assert.equal(sqliteError(failure), 'SQLITE_CONSTRAINT_PRIMARYKEY');
      assert.equal(db.pragma('journal_mode', { simple: true }), 'delete');
      db.close();
      assert.equal(db.open, false);
      db.close(); // closing a closed handle does nothing, on either driver
    },
  );

  test(
    `${driver}: sqliteSink writes through a database the caller opened with it`,
    { skip },
    async () => {
      const path = fresh();
      const mine = openSqlite(path, { driver });
      mine.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)');
      mine.close();
      const native = await nativeHandle(driver, path);
      const wrapped = wrapSqlite(native) as SqliteDatabase;
      assert.equal(wrapped.driver, driver);
      const sink = sqliteSink<{ k: string; v: string }>({
        database: native,
        table: 'kv',
        columns: ['k', 'v'],
        mode: 'upsert',
        conflict: ['k'],
      });
      await sink.writeBatch([{ id: '1', key: 'a', value: { k: 'a', v: 'one' }, version: 1 }]);
      assert.equal(wrapped.pluck("SELECT v FROM kv WHERE k = 'a'").get(), 'one');
      await sink.close();
      wrapped.close();
    },
  );

  // The other files of this folder run the suites on the default driver.
  if (skip !== false || driver === chooseDriver('auto')) continue;

  journalConformance(`SqliteJournal on ${driver}`, {
    open: () => SqliteJournal.open(fresh(), { driver }),
    reopen: async (journal) => {
      await journal.close();
      return SqliteJournal.open((journal as SqliteJournal).path, { driver });
    },
  });

  deadLetterConformance(`SqliteDeadLetters on ${driver}`, {
    open: async () => {
      const journal = await SqliteJournal.open(fresh(), { driver });
      return { store: new SqliteDeadLetters(journal), journal, close: () => journal.close() };
    },
  });

  sinkConformance(`sqliteSink on ${driver}`, sqliteBalancesHarness(dir, driver));
}

/** The driver's own handle, as a user who opened the database would pass it. */
async function nativeHandle(driver: SqliteDriverName, path: string): Promise<SqliteHandle> {
  if (driver === 'node:sqlite') {
    const { DatabaseSync } = process.getBuiltinModule('node:sqlite') as {
      DatabaseSync: new (path: string) => SqliteHandle;
    };
    return new DatabaseSync(path);
  }
  const { default: Database } = (await import('better-sqlite3')) as {
    default: new (path: string) => SqliteHandle;
  };
  return new Database(path);
}

test('the default driver: a journal written and closed in a child process prints no warning and exits cleanly', () => {
  const script = `
    const { SqliteJournal } = await import(${JSON.stringify(join(ROOT, 'src/adapters/sqlite/index.ts'))});
    const journal = await SqliteJournal.open(${JSON.stringify(fresh())});
    await journal.append([{ key: 'k', payload: { n: 1 } }]);
    const [entry] = await journal.read(0);
    await journal.close();
    console.log(JSON.stringify(entry.payload));
  `;
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(child.signal, null, `no crash at exit: ${child.stderr}`);
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), '{"n":1}');
  assert.doesNotMatch(child.stderr, /Warning/);
});
