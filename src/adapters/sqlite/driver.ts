/**
 * The SQLite driver under the embedded backends: Node's built-in `node:sqlite` or the
 * `better-sqlite3` package, behind one small handle (`SqliteDatabase`) that the journal, its
 * dead letters and `sqliteSink` use. Both are synchronous, in-process SQLite.
 *
 * Which one (`driver: 'auto'`, the default):
 * - Node.js 24 and later: `node:sqlite`. It is a release candidate there (no experimental
 *   warning), it needs no native compile, and it costs less CPU per insert than
 *   better-sqlite3 12.
 * - Node.js 20 and 22: `better-sqlite3`, an optional peer dependency (`npm install
 *   better-sqlite3`). On Node 22 without it, `node:sqlite` is used, with Node's experimental
 *   warning.
 * A driver that cannot be loaded is a MissingDependencyError naming what to install.
 *
 * What differs between the two is settled here, so callers never branch on the driver:
 * - errors: a SQLite error's `code` is SQLite's name (`SQLITE_BUSY`, `SQLITE_CONSTRAINT_UNIQUE`)
 *   with either driver (`sqliteError` names node:sqlite's errors the same way);
 * - rows are objects by column name (node:sqlite's have no prototype: copy one before it
 *   leaves the adapter), BLOBs come back as `Uint8Array` (a `Buffer` with better-sqlite3);
 * - `transaction(fn)` runs `fn` in BEGIN ... COMMIT (IMMEDIATE on request), rolled back if
 *   it throws; a transaction inside another is a savepoint;
 * - `pluck(sql)` is a statement that returns each row's first column.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { ConfigError, MissingDependencyError } from '../../index.js';

/** The two SQLite drivers sluice runs on. */
export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

/** `auto` picks by the Node.js version (see above). */
export type SqliteDriverOption = SqliteDriverName | 'auto';

/** A prepared statement: the part of its API both drivers share. */
export interface SqliteStatement<P extends unknown[] = unknown[], R = unknown> {
  /** Runs a statement that returns no rows. */
  run(...params: P): {
    /** Rows inserted, updated or deleted. */
    changes: number;
    /** The rowid of the last row inserted. */
    lastInsertRowid: number | bigint;
  };
  /** The first row, or undefined when there is none. */
  get(...params: P): R | undefined;
  /** Every row. */
  all(...params: P): R[];
  /** The rows, one step at a time; stopping early ends the statement. */
  iterate(...params: P): IterableIterator<R>;
}

/** An open SQLite database, whichever driver opened it. */
export interface SqliteDatabase {
  /** Which driver opened it. */
  readonly driver: SqliteDriverName;
  /** The file, as opened (`:memory:` for a database in memory). */
  readonly path: string;
  /** False once closed. */
  readonly open: boolean;
  /** Prepares one SQL statement (prepare once, run many times). */
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): SqliteStatement<P, R>;
  /** A statement whose rows are their first column's value. */
  pluck<P extends unknown[] = unknown[], R = unknown>(sql: string): SqliteStatement<P, R>;
  /** Runs SQL text of one or more statements, returning nothing. */
  exec(sql: string): void;
  /** `PRAGMA <source>`: every row, or with `simple` the first row's first column. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** `fn` as one transaction (a savepoint inside another): committed, or rolled back if it throws. */
  transaction<A extends unknown[], R>(
    fn: (...args: A) => R,
    mode?: 'deferred' | 'immediate',
  ): (...args: A) => R;
  /** Closes the database; statements prepared on it stop working. */
  close(): void;
}

export interface OpenSqliteOptions {
  /** Refuse to create the file. @default false */
  fileMustExist?: boolean;
  /** How long a statement waits for another connection's lock before SQLITE_BUSY. @default 5000 */
  timeoutMs?: number;
  /** @default 'auto' */
  driver?: SqliteDriverOption;
}

/** A handle a caller may pass in: a better-sqlite3 `Database` or a `node:sqlite` `DatabaseSync`. */
export interface SqliteHandle {
  /** The driver's own prepare. */
  prepare(sql: string): unknown;
  /** The driver's own exec. */
  exec(sql: string): unknown;
  /** The driver's own close. */
  close(): unknown;
}

/** The driver `auto` stands for on this Node.js, given what is installed. */
export function chooseDriver(option: SqliteDriverOption = 'auto'): SqliteDriverName {
  if (option !== 'auto') return option;
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 24) return 'node:sqlite';
  if (major >= 22 && loadBetterSqlite3Quietly() === undefined) return 'node:sqlite';
  return 'better-sqlite3';
}

/** Checks a `driver` option's value. */
export function driverOption(value: unknown): SqliteDriverOption {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'node:sqlite' || value === 'better-sqlite3') return value;
  throw new ConfigError('driver', "'auto', 'node:sqlite' or 'better-sqlite3'", value);
}

/** Opens `path` with the chosen driver. */
export function openSqlite(path: string, options: OpenSqliteOptions = {}): SqliteDatabase {
  const driver = chooseDriver(options.driver);
  const timeout = options.timeoutMs ?? 5000;
  const release = holdFile(path, driver);
  try {
    if (driver === 'better-sqlite3') {
      const Database = loadBetterSqlite3();
      return new BetterSqlite3Database(
        new Database(path, { fileMustExist: options.fileMustExist ?? false, timeout }),
        path,
        release,
      );
    }
    const { DatabaseSync } = loadNodeSqlite();
    // node:sqlite has no "must exist" flag: the caller checks (openDatabase does).
    return new NodeSqliteDatabase(new DatabaseSync(path, { timeout }), path, release);
  } catch (error) {
    release();
    throw error;
  }
}

/** Files this process has open through sluice, with the driver and how many connections. */
const openFiles = new Map<string, { driver: SqliteDriverName; connections: number }>();

/**
 * Notes that `path` is open with `driver`, or refuses: each driver carries its own copy of
 * SQLite, and two copies in one process on one file break each other's locks (closing a
 * connection in one drops the POSIX locks the other holds), which can corrupt the file.
 */
function holdFile(path: string, driver: SqliteDriverName): () => void {
  if (path === ':memory:' || path === '') return () => {};
  const file = resolve(path);
  const held = openFiles.get(file);
  if (held !== undefined && held.driver !== driver) {
    throw new ConfigError(
      'driver',
      `the driver ${file} is already open with in this process (${held.driver})`,
      driver,
    );
  }
  if (held === undefined) openFiles.set(file, { driver, connections: 1 });
  else held.connections++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const h = openFiles.get(file);
    if (h !== undefined && --h.connections === 0) openFiles.delete(file);
  };
}

/** Wraps a database the caller opened (either driver's, or one opened here). */
export function wrapSqlite(handle: unknown): SqliteDatabase | undefined {
  if (handle instanceof BetterSqlite3Database || handle instanceof NodeSqliteDatabase) {
    return handle;
  }
  if (typeof handle !== 'object' || handle === null) return undefined;
  const h = handle as Record<string, unknown>;
  if (typeof h.prepare !== 'function' || typeof h.exec !== 'function') return undefined;
  if (typeof h.pragma === 'function' && typeof h.transaction === 'function') {
    return new BetterSqlite3Database(handle as BetterSqlite3Handle, String(h.name));
  }
  if ('isOpen' in h) return new NodeSqliteDatabase(handle as NodeSqliteHandle, '');
  return undefined;
}

const PRIMARY_CODES: Record<number, string> = {
  1: 'ERROR',
  2: 'INTERNAL',
  3: 'PERM',
  4: 'ABORT',
  5: 'BUSY',
  6: 'LOCKED',
  7: 'NOMEM',
  8: 'READONLY',
  9: 'INTERRUPT',
  10: 'IOERR',
  11: 'CORRUPT',
  12: 'NOTFOUND',
  13: 'FULL',
  14: 'CANTOPEN',
  15: 'PROTOCOL',
  16: 'EMPTY',
  17: 'SCHEMA',
  18: 'TOOBIG',
  19: 'CONSTRAINT',
  20: 'MISMATCH',
  21: 'MISUSE',
  22: 'NOLFS',
  23: 'AUTH',
  24: 'FORMAT',
  25: 'RANGE',
  26: 'NOTADB',
  27: 'NOTICE',
  28: 'WARNING',
};

/** Extended codes worth a name of their own (the rest are named by their primary code). */
const EXTENDED_CODES: Record<number, string> = {
  261: 'BUSY_RECOVERY',
  517: 'BUSY_SNAPSHOT',
  773: 'BUSY_TIMEOUT',
  275: 'CONSTRAINT_CHECK',
  787: 'CONSTRAINT_FOREIGNKEY',
  1299: 'CONSTRAINT_NOTNULL',
  1555: 'CONSTRAINT_PRIMARYKEY',
  1811: 'CONSTRAINT_TRIGGER',
  2067: 'CONSTRAINT_UNIQUE',
  3091: 'CONSTRAINT_DATATYPE',
  266: 'IOERR_READ',
  778: 'IOERR_WRITE',
  1034: 'IOERR_FSYNC',
  522: 'IOERR_SHORT_READ',
  3338: 'IOERR_ACCESS',
  267: 'CORRUPT_VTAB',
  779: 'CORRUPT_INDEX',
};

/**
 * SQLite's name for what `error` is (`SQLITE_FULL`), from either driver; undefined for an
 * error that is not SQLite's. A node:sqlite error gets this name as its `code`, as a
 * better-sqlite3 error has, so callers and the errors sluice wraps around it read the same.
 */
export function sqliteError(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; errcode?: unknown };
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return e.code;
  if (e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return undefined;
  const name = EXTENDED_CODES[e.errcode] ?? PRIMARY_CODES[e.errcode & 0xff] ?? 'ERROR';
  const code = `SQLITE_${name}`;
  e.code = code;
  return code;
}

// --- better-sqlite3 --------------------------------------------------------------------

interface BetterSqlite3Statement extends SqliteStatement {
  pluck(on?: boolean): BetterSqlite3Statement;
  safeIntegers(on?: boolean): BetterSqlite3Statement;
}

interface BetterSqlite3Handle extends SqliteHandle {
  readonly open: boolean;
  readonly name: string;
  prepare(sql: string): BetterSqlite3Statement;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F & { immediate: F; deferred: F };
  close(): void;
}

type BetterSqlite3Constructor = new (
  path: string,
  options: { fileMustExist: boolean; timeout: number },
) => BetterSqlite3Handle;

const require = createRequire(import.meta.url);

let betterSqlite3: BetterSqlite3Constructor | Error | undefined;

/**
 * better-sqlite3, if it is installed and its native part loads on this Node.js: the package
 * loads that part on first use, so a database in memory is opened once to find out (a build
 * for another Node.js fails there, not at `require`).
 */
function loadBetterSqlite3Quietly(): BetterSqlite3Constructor | undefined {
  if (betterSqlite3 === undefined) {
    try {
      const Database = require('better-sqlite3') as BetterSqlite3Constructor;
      new Database(':memory:', { fileMustExist: false, timeout: 0 }).close();
      betterSqlite3 = Database;
    } catch (error) {
      betterSqlite3 = error as Error;
    }
  }
  return betterSqlite3 instanceof Error ? undefined : betterSqlite3;
}

function loadBetterSqlite3(): BetterSqlite3Constructor {
  const loaded = loadBetterSqlite3Quietly();
  if (loaded !== undefined) return loaded;
  const cause = betterSqlite3 as Error;
  const missing = (cause as { code?: unknown }).code === 'MODULE_NOT_FOUND';
  throw new MissingDependencyError(
    'better-sqlite3',
    missing
      ? `the embedded SQLite backends need the better-sqlite3 package on Node.js ${process.versions.node}: npm install better-sqlite3 (or run Node.js 24 or later, whose built-in node:sqlite is used)`
      : `better-sqlite3 is installed but cannot be loaded on Node.js ${process.versions.node} (rebuild it with npm rebuild better-sqlite3): ${cause.message}`,
    { cause },
  );
}

class BetterSqlite3Database implements SqliteDatabase {
  readonly driver = 'better-sqlite3';
  readonly path: string;
  readonly #db: BetterSqlite3Handle;
  readonly #released: () => void;

  constructor(db: BetterSqlite3Handle, path: string, released: () => void = () => {}) {
    this.#db = db;
    this.path = path;
    this.#released = released;
  }

  get open(): boolean {
    return this.#db.open;
  }

  prepare<P extends unknown[], R>(sql: string): SqliteStatement<P, R> {
    // Numbers even on a handle opened with defaultSafeIntegers(true).
    return this.#db.prepare(sql).safeIntegers(false) as unknown as SqliteStatement<P, R>;
  }

  pluck<P extends unknown[], R>(sql: string): SqliteStatement<P, R> {
    return this.#db.prepare(sql).safeIntegers(false).pluck() as unknown as SqliteStatement<P, R>;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  pragma(source: string, options?: { simple?: boolean }): unknown {
    return this.#db.pragma(source, options);
  }

  transaction<A extends unknown[], R>(
    fn: (...args: A) => R,
    mode: 'deferred' | 'immediate' = 'deferred',
  ): (...args: A) => R {
    const t = this.#db.transaction(fn);
    return mode === 'immediate' ? t.immediate : t;
  }

  close(): void {
    this.#db.close();
    this.#released();
  }
}

// --- node:sqlite ------------------------------------------------------------------------

interface NodeSqliteStatement extends SqliteStatement {
  setReturnArrays?(on: boolean): void;
  setReadBigInts?(on: boolean): void;
}

interface NodeSqliteHandle extends SqliteHandle {
  readonly isOpen: boolean;
  readonly isTransaction: boolean;
  prepare(sql: string): NodeSqliteStatement;
  exec(sql: string): void;
  close(): void;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string, options: { timeout: number }) => NodeSqliteHandle;
}

/**
 * node:sqlite, where it has what sluice needs: `isTransaction` and the busy `timeout` came in
 * Node 22.16 (and 23.10); before that, a rollback could not tell whether it was needed.
 */
let nodeSqliteUsable: boolean | undefined;

function loadNodeSqlite(): NodeSqliteModule {
  const loaded = process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined;
  if (loaded !== undefined && nodeSqliteUsable === undefined) {
    const probe = new loaded.DatabaseSync(':memory:', { timeout: 0 });
    nodeSqliteUsable = typeof probe.isTransaction === 'boolean';
    probe.close();
  }
  if (loaded !== undefined && nodeSqliteUsable === true) return loaded;
  throw new MissingDependencyError(
    'better-sqlite3',
    `node:sqlite ${loaded === undefined ? 'is not available' : 'is too old'} on Node.js ${process.versions.node} (sluice uses it from 22.16): npm install better-sqlite3, or run Node.js 24 or later`,
  );
}

/** `error`, given SQLite's name as its `code` if it is a SQLite error. */
function named(error: unknown): unknown {
  sqliteError(error);
  return error;
}

/** Runs `f`; a SQLite error it throws leaves with SQLite's name as its `code`. */
function namedCall<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw named(error);
  }
}

/**
 * A node:sqlite statement as the shared interface has it: integers as numbers and rows as
 * objects even on a handle opened with `readBigInts` or `returnArrays`, errors named.
 */
function statement<P extends unknown[], R>(
  s: NodeSqliteStatement,
  row: ((value: unknown) => R) | undefined,
): SqliteStatement<P, R> {
  s.setReadBigInts?.(false);
  s.setReturnArrays?.(false);
  // Plain try/catch, no closure per call: `run` is on the append path, once per entry.
  return {
    run(...params: P) {
      try {
        return s.run(...params);
      } catch (error) {
        throw named(error);
      }
    },
    get(...params: P) {
      try {
        const value = s.get(...params);
        return (row === undefined ? value : row(value)) as R | undefined;
      } catch (error) {
        throw named(error);
      }
    },
    all(...params: P) {
      try {
        const rows = s.all(...params);
        return (row === undefined ? rows : rows.map(row)) as R[];
      } catch (error) {
        throw named(error);
      }
    },
    iterate(...params: P) {
      try {
        return mapIterator(s.iterate(...params), row ?? ((value) => value as R));
      } catch (error) {
        throw named(error);
      }
    },
  };
}

const firstColumn = <R>(value: unknown): R =>
  (value === undefined ? undefined : Object.values(value as object)[0]) as R;

class NodeSqliteDatabase implements SqliteDatabase {
  readonly driver = 'node:sqlite';
  readonly path: string;
  readonly #db: NodeSqliteHandle;
  readonly #released: () => void;
  #savepoints = 0;

  constructor(db: NodeSqliteHandle, path: string, released: () => void = () => {}) {
    this.#db = db;
    this.path = path;
    this.#released = released;
  }

  get open(): boolean {
    return this.#db.isOpen;
  }

  prepare<P extends unknown[], R>(sql: string): SqliteStatement<P, R> {
    return statement<P, R>(
      namedCall(() => this.#db.prepare(sql)),
      undefined,
    );
  }

  pluck<P extends unknown[], R>(sql: string): SqliteStatement<P, R> {
    return statement<P, R>(
      namedCall(() => this.#db.prepare(sql)),
      firstColumn,
    );
  }

  exec(sql: string): void {
    namedCall(() => this.#db.exec(sql));
  }

  pragma(source: string, options?: { simple?: boolean }): unknown {
    const rows = this.prepare<[], object>(`PRAGMA ${source}`).all();
    if (options?.simple !== true) return rows.map((r) => ({ ...r }));
    return firstColumn(rows[0]);
  }

  transaction<A extends unknown[], R>(
    fn: (...args: A) => R,
    mode: 'deferred' | 'immediate' = 'deferred',
  ): (...args: A) => R {
    const db = this.#db;
    const begin = mode === 'immediate' ? 'BEGIN IMMEDIATE' : 'BEGIN';
    return (...args: A): R => {
      if (db.isTransaction) return this.#savepoint(fn, args);
      this.exec(begin);
      try {
        const result = synchronous(fn(...args));
        this.exec('COMMIT');
        return result;
      } catch (error) {
        // A failed COMMIT (SQLITE_BUSY, a full disk) may leave the transaction open.
        if (db.isTransaction) this.exec('ROLLBACK');
        throw error;
      }
    };
  }

  #savepoint<A extends unknown[], R>(fn: (...args: A) => R, args: A): R {
    const name = `sluice_${++this.#savepoints}`;
    this.exec(`SAVEPOINT ${name}`);
    try {
      const result = synchronous(fn(...args));
      this.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      this.exec(`ROLLBACK TO ${name}`);
      this.exec(`RELEASE ${name}`);
      throw error;
    } finally {
      this.#savepoints--;
    }
  }

  close(): void {
    // As better-sqlite3's: closing a closed handle does nothing (node:sqlite's would throw).
    if (this.#db.isOpen) namedCall(() => this.#db.close());
    this.#released();
  }
}

/** A transaction's function must finish before COMMIT, as better-sqlite3 insists too. */
function synchronous<R>(result: R): R {
  if (typeof (result as { then?: unknown } | null)?.then === 'function') {
    throw new TypeError('a transaction function cannot return a promise');
  }
  return result;
}

function* mapIterator<T, U>(it: Iterable<T>, f: (value: T) => U): IterableIterator<U> {
  try {
    for (const value of it) yield f(value);
  } catch (error) {
    sqliteError(error);
    throw error;
  }
}
