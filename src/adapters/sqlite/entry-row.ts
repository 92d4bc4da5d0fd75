/**
 * The SQLite journal's entry row: the one place that says how a journal entry is stored in
 * `sluice_entries`.
 *
 * `ENTRY_COLUMNS` lists the table's columns; the SELECT list and the INSERT are generated
 * from it, and the table the migrations create is checked against it (by the schema test),
 * so adding a column is one change here plus one migration. A read returns an object whose
 * fields are named as `EntryRow`'s (`appended_at AS appendedAt`): a row is a StoredEntry
 * with its payload, decoded without copying it. The INSERT binds by position, in
 * `ENTRY_COLUMNS` order: binding by name costs about a microsecond a row, and it runs once
 * per entry. `EntryStatements` prepares the entries table's statements once per handle.
 *
 * Guarantees: a row whose payload cannot be decoded (a damaged file) still decodes into an
 * entry, marked `undecodable` with what is stored, so one bad row never stops a read.
 *
 * ```ts
 * const entries = new EntryStatements(db);
 * entries.insert(entryRow(record, head + 1, Date.now(), version));
 * ```
 */
import { sqliteError, type SqliteDatabase, type SqliteStatement as Statement } from './driver.js';
import { type Codec, type Encoded, type JournalEntry } from '../../index.js';
import { decodedEntry, type EncodedRecord } from '../../backend.js';
import type { ReadQuery } from './read-query.js';

/** One entry as stored: what the INSERT binds and what a read returns, by column name. */
export interface EntryRow {
  readonly position: number;
  readonly key: string;
  readonly type: string | null;
  readonly id: string | null;
  readonly payload: Encoded;
  /** Wall-clock ms since the epoch (column `appended_at`). */
  readonly appendedAt: number;
  readonly version: number;
  readonly origin: string | null;
}

export interface EntryColumn {
  /** The column's name in the table. */
  readonly name: string;
  /** The `EntryRow` field it is read into and written from. */
  readonly field: keyof EntryRow;
  /** The declared type, as `PRAGMA table_info` reports it. */
  readonly type: 'INTEGER' | 'TEXT' | 'BLOB';
  readonly notNull: boolean;
  readonly primaryKey: boolean;
  /** What a read selects for it, when that is not the column itself. */
  readonly read?: string;
}

/**
 * Every field of `EntryRow` once (the compiler checks it), in the table's column order;
 * `column` names the column where it is not the field's name.
 */
const COLUMNS = {
  position: { type: 'INTEGER', notNull: false, primaryKey: true },
  key: { type: 'TEXT', notNull: true, primaryKey: false },
  type: { type: 'TEXT', notNull: false, primaryKey: false },
  id: { type: 'TEXT', notNull: false, primaryKey: false },
  payload: { type: 'BLOB', notNull: false, primaryKey: false },
  appendedAt: { column: 'appended_at', type: 'INTEGER', notNull: true, primaryKey: false },
  // Added by schema v3; rows written before it have none, and their version was their
  // position.
  version: {
    type: 'INTEGER',
    notNull: false,
    primaryKey: false,
    read: 'coalesce(version, position)',
  },
  origin: { type: 'TEXT', notNull: false, primaryKey: false },
} as const satisfies Record<
  keyof EntryRow,
  Omit<EntryColumn, 'name' | 'field'> & { readonly column?: string }
>;

/** The columns of `sluice_entries`, in table order. */
export const ENTRY_COLUMNS: readonly EntryColumn[] = Object.entries(COLUMNS).map(
  ([field, { column, ...c }]: [
    string,
    Omit<EntryColumn, 'name' | 'field'> & { column?: string },
  ]) => ({
    name: column ?? field,
    field: field as keyof EntryRow,
    ...c,
  }),
);

/** The SELECT list that reads an `EntryRow`. */
export const ENTRY_SELECT = ENTRY_COLUMNS.map((c) => {
  const read = c.read ?? c.name;
  return read === c.field ? read : `${read} AS ${c.field}`;
}).join(', ');

/**
 * Writes an `EntryRow`, its fields bound in `ENTRY_COLUMNS` order (`EntryStatements.insert`);
 * a row whose id is already stored is skipped (no change).
 */
export const ENTRY_INSERT = `INSERT OR IGNORE INTO sluice_entries (${ENTRY_COLUMNS.map((c) => c.name).join(', ')}) VALUES (${ENTRY_COLUMNS.map(() => '?').join(', ')})`;

/**
 * Rows per multi-row INSERT the group commit uses, largest first: one statement for many
 * rows saves SQLite's per-statement work (about a third of a row's cost). A group of any
 * size is written with these (500 rows: 15 × 32, 2 × 8, 4 × 1).
 */
export const INSERT_SIZES = [32, 8, 1] as const;

/** The largest of INSERT_SIZES that `count` rows (at least 1) fill. */
export function insertSize(count: number): number {
  return INSERT_SIZES.find((size) => size <= count) ?? 1;
}

/**
 * Writes `rows` EntryRows in one statement, fields bound in `ENTRY_COLUMNS` order, row after
 * row. Not OR IGNORE: a known id (or a taken position) fails the whole statement, and
 * nothing of it is written (SQLite rolls back a failed statement, not its transaction).
 */
export function entryInsertMany(rows: number): string {
  const row = `(${ENTRY_COLUMNS.map(() => '?').join(', ')})`;
  return `INSERT INTO sluice_entries (${ENTRY_COLUMNS.map((c) => c.name).join(', ')}) VALUES ${Array.from({ length: rows }, () => row).join(', ')}`;
}

/** The row that stores `record` at `position`. */
export function entryRow(
  record: EncodedRecord,
  position: number,
  appendedAt: number,
  version: number,
): EntryRow {
  return {
    position,
    key: record.key,
    type: record.type ?? null,
    id: record.id ?? null,
    payload: record.payload,
    appendedAt,
    version,
    origin: record.origin ?? null,
  };
}

/** The entry a row holds; a payload the codec cannot decode is kept as `undecodable`. */
export function decodeEntry(row: EntryRow, codec: Codec): JournalEntry {
  return decodedEntry(row, storedBytes(row.payload), codec);
}

/**
 * The entry a row just written holds, as a read would return it: its payload decoded from
 * the stored form, bytes copied (the written row's bytes may still be the caller's).
 */
export function writtenEntry(row: EntryRow, codec: Codec): JournalEntry {
  const stored = typeof row.payload === 'string' ? row.payload : Buffer.from(row.payload);
  return decodedEntry(row, stored, codec);
}

/** What ENTRY_INSERT binds: an EntryRow's fields in column order. */
type EntryValues = [
  EntryRow['position'],
  EntryRow['key'],
  EntryRow['type'],
  EntryRow['id'],
  EntryRow['payload'],
  EntryRow['appendedAt'],
  EntryRow['version'],
  EntryRow['origin'],
];

/** Read statements kept per handle; past this many shapes the least recently used goes. */
const MAX_READ_SHAPES = 64;

/** The entries table's statements on one database handle, each prepared once. */
export class EntryStatements {
  readonly #db: SqliteDatabase;
  readonly #insert: Statement<EntryValues>;
  /** Multi-row inserts by size (INSERT_SIZES), each with its reused parameter array. */
  readonly #insertMany: { readonly statement: Statement<unknown[]>; readonly params: unknown[] }[];
  readonly #positionOfId: Statement<[string], number>;
  readonly #first: Statement<[], number | null>;
  readonly #removeBefore: Statement<[number]>;
  /** Read statements by SQL text: a handful of region shapes in practice. */
  readonly #reads = new Map<string, Statement<unknown[], EntryRow>>();

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#insert = db.prepare(ENTRY_INSERT);
    this.#insertMany = INSERT_SIZES.map((size) => ({
      statement: db.prepare<unknown[]>(entryInsertMany(size)),
      params: new Array<unknown>(size * ENTRY_COLUMNS.length),
    }));
    this.#positionOfId = db.pluck<[string], number>(
      'SELECT position FROM sluice_entries WHERE id = ?',
    );
    this.#first = db.pluck<[], number | null>('SELECT min(position) FROM sluice_entries');
    this.#removeBefore = db.prepare('DELETE FROM sluice_entries WHERE position < ?');
  }

  /** Stores `row`; false when an entry with its id is already stored (nothing written). */
  insert(row: EntryRow): boolean {
    // In ENTRY_COLUMNS order (the entry-row test checks it against the table).
    return (
      this.#insert.run(
        row.position,
        row.key,
        row.type,
        row.id,
        row.payload,
        row.appendedAt,
        row.version,
        row.origin,
      ).changes === 1
    );
  }

  /**
   * Stores `rows` (as many as one of INSERT_SIZES) in one statement; false when one of them
   * has a stored id or position, or repeats one of the others: then none of them is stored
   * (a failed statement is rolled back, not its transaction), and `insert` row by row tells
   * which.
   */
  insertMany(rows: readonly EntryRow[]): boolean {
    const at = INSERT_SIZES.indexOf(rows.length as (typeof INSERT_SIZES)[number]);
    const { statement, params } = this.#insertMany[at] ?? {};
    if (statement === undefined || params === undefined) {
      throw new RangeError(
        `insertMany() takes ${INSERT_SIZES.join(', ')} rows, got ${rows.length}`,
      );
    }
    let p = 0;
    for (const row of rows) {
      // In ENTRY_COLUMNS order, as `insert`.
      params[p++] = row.position;
      params[p++] = row.key;
      params[p++] = row.type;
      params[p++] = row.id;
      params[p++] = row.payload;
      params[p++] = row.appendedAt;
      params[p++] = row.version;
      params[p++] = row.origin;
    }
    try {
      // A plain INSERT: it writes every row or fails (no conflict clause in the schema).
      statement.run(...params);
    } catch (error) {
      if (sqliteError(error)?.startsWith('SQLITE_CONSTRAINT') === true) return false;
      throw error;
    } finally {
      params.fill(undefined); // no payload kept alive by the reused array
    }
    return true;
  }

  /** The position of the stored entry with this id. */
  positionOfId(id: string): number {
    return this.#positionOfId.get(id) as number;
  }

  /** The lowest retained position, if any entry is retained. */
  first(): number | undefined {
    return this.#first.get() ?? undefined;
  }

  /** Removes the entries before `position`; returns how many. */
  removeBefore(position: number): number {
    return this.#removeBefore.run(position).changes;
  }

  /** Every row `query` matches. */
  all(query: ReadQuery, after: number, limit: number): EntryRow[] {
    return this.#read(query.sql).all(...query.args(after, limit));
  }

  /** The rows `query` matches, stepped one at a time. */
  iterate(query: ReadQuery, after: number, limit: number): IterableIterator<EntryRow> {
    return this.#read(query.sql).iterate(...query.args(after, limit));
  }

  #read(sql: string): Statement<unknown[], EntryRow> {
    let statement = this.#reads.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare<unknown[], EntryRow>(sql);
      if (this.#reads.size >= MAX_READ_SHAPES) {
        this.#reads.delete(this.#reads.keys().next().value as string);
      }
    } else {
      this.#reads.delete(sql);
    }
    this.#reads.set(sql, statement);
    return statement;
  }
}

/**
 * A stored payload as a codec gets it with either driver: bytes as a Buffer (better-sqlite3
 * returns one; node:sqlite a plain Uint8Array, wrapped here without a copy), text as text.
 */
export function storedBytes(payload: Encoded): Encoded {
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) return payload;
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}
