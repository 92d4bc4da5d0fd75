/**
 * The sink conformance suite's tables in a fresh SQLite file, and a harness that runs the
 * suite through `sqliteSink` on it: by the open handle, or by path with a chosen driver.
 */
import { join } from 'node:path';
import {
  openSqlite,
  type SqliteDatabase,
  type SqliteDriverName,
} from '../../src/adapters/sqlite/driver.js';
import { sqliteSink } from '../../src/adapters/sqlite/index.js';
import type { BalanceRow, SinkHarness } from '../../src/testing/index.js';

let n = 0;

/** A new file in `dir` with the `balances` (upsert) and `ledger` (insert) tables. */
export function balancesDatabase(dir: string, driver?: SqliteDriverName): SqliteDatabase {
  const db = openSqlite(join(dir, `balances-${process.pid}-${++n}.db`), {
    driver: driver ?? 'auto',
  });
  db.exec(`
    CREATE TABLE balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, note TEXT, version INTEGER);
    CREATE TABLE ledger (sluice_id TEXT UNIQUE, account TEXT NOT NULL, balance INTEGER NOT NULL, note TEXT, version INTEGER);
  `);
  return db;
}

/** `sqliteSink` given the open handle, or (with `driver`) the file's path and that driver. */
export function sqliteBalancesHarness(dir: string, driver?: SqliteDriverName): SinkHarness {
  return {
    open: (mode, options) => {
      const db = balancesDatabase(dir, driver);
      const table = mode === 'upsert' ? 'balances' : 'ledger';
      const sink = sqliteSink<BalanceRow>({
        ...(driver === undefined ? { database: db } : { database: db.path, driver }),
        table,
        columns: ['account', 'balance', 'note'],
        mode,
        conflict: ['account'],
        ...(options?.versioned === true ? { versionColumn: 'version' } : {}),
      });
      const rows = db.prepare<[], BalanceRow>(`SELECT account, balance, note FROM ${table}`);
      return Promise.resolve({
        sink,
        // Copied: node:sqlite's rows have no prototype.
        rows: () => Promise.resolve(rows.all().map((r) => ({ ...r }))),
      });
    },
  };
}
