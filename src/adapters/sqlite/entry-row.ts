/**
 * The SQLite journal's entry row: the one place that says how a journal entry is stored in
 * `sluice_entries`.
 *
 * `ENTRY_COLUMNS` lists the table's columns; the SELECT list and the INSERT are generated
 * from it, and the table the migrations create is checked against it (by the schema test),
 * so adding a column is one change here plus one migration. A record is written with named
 * parameters (`@key`, `@payload`...) and read back as an object with the same names:
 * nothing depends on the order of the columns. `EntryStatements` prepares the entries
 * table's statements once per database handle.
 *
 * Guarantees: a row whose payload cannot be decoded (a damaged file) still decodes into an
 * entry, marked `undecodable` with what is stored, so one bad row never stops a read.
 *
 * ```ts
 * const entries = new EntryStatements(db);
 * entries.insert(entryRow(record, head + 1, Date.now(), version));
 * ```
 */
import type { SqliteDatabase, SqliteStatement as Statement } from './driver.js';
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
  /** Wall-clock ms since the epoch. */
  readonly appended_at: number;
  readonly version: number;
  readonly origin: string | null;
}

export interface EntryColumn {
  readonly name: keyof EntryRow;
  /** The declared type, as `PRAGMA table_info` reports it. */
  readonly type: 'INTEGER' | 'TEXT' | 'BLOB';
  readonly notNull: boolean;
  readonly primaryKey: boolean;
  /** What a read selects for it, when that is not the column itself. */
  readonly read?: string;
}

/** Every field of `EntryRow` once (the compiler checks it), in the table's column order. */
const COLUMNS = {
  position: { type: 'INTEGER', notNull: false, primaryKey: true },
  key: { type: 'TEXT', notNull: true, primaryKey: false },
  type: { type: 'TEXT', notNull: false, primaryKey: false },
  id: { type: 'TEXT', notNull: false, primaryKey: false },
  payload: { type: 'BLOB', notNull: false, primaryKey: false },
  appended_at: { type: 'INTEGER', notNull: true, primaryKey: false },
  // Added by schema v3; rows written before it have none, and their version was their
  // position.
  version: {
    type: 'INTEGER',
    notNull: false,
    primaryKey: false,
    read: 'coalesce(version, position)',
  },
  origin: { type: 'TEXT', notNull: false, primaryKey: false },
} as const satisfies Record<keyof EntryRow, Omit<EntryColumn, 'name'>>;

/** The columns of `sluice_entries`, in table order. */
export const ENTRY_COLUMNS: readonly EntryColumn[] = Object.entries(COLUMNS).map(
  ([name, column]) => ({ name: name as keyof EntryRow, ...column }),
);

/** The SELECT list that reads an `EntryRow`. */
export const ENTRY_SELECT = ENTRY_COLUMNS.map((c) =>
  c.read === undefined ? c.name : `${c.read} AS ${c.name}`,
).join(', ');

/** Writes an `EntryRow`; a row whose id is already stored is skipped (no change). */
export const ENTRY_INSERT = `INSERT OR IGNORE INTO sluice_entries (${ENTRY_COLUMNS.map((c) => c.name).join(', ')}) VALUES (${ENTRY_COLUMNS.map((c) => `@${c.name}`).join(', ')})`;

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
    appended_at: appendedAt,
    version,
    origin: record.origin ?? null,
  };
}

/** The entry a row holds; a payload the codec cannot decode is kept as `undecodable`. */
export function decodeEntry(row: EntryRow, codec: Codec): JournalEntry {
  return decodedEntry({ ...row, appendedAt: row.appended_at }, storedBytes(row.payload), codec);
}

/**
 * The entry a row just written holds, as a read would return it: its payload decoded from
 * the stored form, bytes copied (the written row's bytes may still be the caller's).
 */
export function writtenEntry(row: EntryRow, codec: Codec): JournalEntry {
  return decodeEntry(
    typeof row.payload === 'string' ? row : { ...row, payload: Buffer.from(row.payload) },
    codec,
  );
}

/** Read statements kept per handle; past this many shapes the least recently used goes. */
const MAX_READ_SHAPES = 64;

/** The entries table's statements on one database handle, each prepared once. */
export class EntryStatements {
  readonly #db: SqliteDatabase;
  readonly #insert: Statement<[EntryRow]>;
  readonly #positionOfId: Statement<[string], number>;
  readonly #first: Statement<[], number | null>;
  readonly #removeBefore: Statement<[number]>;
  /** Read statements by SQL text: a handful of region shapes in practice. */
  readonly #reads = new Map<string, Statement<unknown[], EntryRow>>();

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#insert = db.prepare(ENTRY_INSERT);
    this.#positionOfId = db.pluck<[string], number>(
      'SELECT position FROM sluice_entries WHERE id = ?',
    );
    this.#first = db.pluck<[], number | null>('SELECT min(position) FROM sluice_entries');
    this.#removeBefore = db.prepare('DELETE FROM sluice_entries WHERE position < ?');
  }

  /** Stores `row`; false when an entry with its id is already stored (nothing written). */
  insert(row: EntryRow): boolean {
    return this.#insert.run(row).changes === 1;
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
