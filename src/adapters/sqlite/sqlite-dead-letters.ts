/**
 * SqliteDeadLetters: dead letters in the journal's own SQLite file (table
 * `sluice_dead_letters`, schema v2), so one file holds everything a restart needs.
 */
import { storedBytes } from './entry-row.js';
import type { SqliteDatabase, SqliteStatement as Statement } from './driver.js';
import {
  jsonCodec,
  type Codec,
  type DeadLetter,
  type DeadLetterInput,
  type DeadLetterStore,
  type Encoded,
} from '../../index.js';
import { checkIds, encodeWith, knownOptions, rejecting, serviceOption } from '../../backend.js';
import type { SqliteJournal } from './sqlite-journal.js';

interface Row {
  id: number;
  position: number;
  entry_id: string;
  key: string;
  payload: Encoded;
  error: string;
  attempts: number;
  failed_at: number;
  /** Null for letters from before schema v3: their version was their position. */
  version: number | null;
}

/**
 * Dead letters in the journal's own SQLite file (table `sluice_dead_letters`), so one file
 * holds everything a restart needs. Get it from `journal.deadLetters()`.
 */
export class SqliteDeadLetters implements DeadLetterStore {
  readonly #db: SqliteDatabase;
  readonly #codec: Codec;
  /** The letter already kept for an entry at a position, if any. */
  readonly #existing: Statement<[string, number], number>;
  readonly #insert: Statement<[number, string, string, Encoded, number, string, number, number]>;
  readonly #list: Statement<[number, number], Row>;
  readonly #select: Statement<[string], Row>;
  readonly #delete: Statement<[string]>;
  readonly #count: Statement<[], number>;

  /** Statements are prepared here, once: keep one store per journal (`journal.deadLetters()`). */
  constructor(journal: SqliteJournal, options: { codec?: Codec } = {}) {
    const db = (this.#db = journal.database);
    const o = knownOptions('SqliteDeadLetters options', options, ['codec']);
    this.#codec = serviceOption<Codec>('codec', o.codec, ['encode', 'decode'], jsonCodec);
    this.#insert = db.prepare(
      `INSERT INTO sluice_dead_letters (position, entry_id, key, payload, version, error, attempts, failed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#list = db.prepare('SELECT * FROM sluice_dead_letters WHERE id > ? ORDER BY id LIMIT ?');
    this.#select = db.prepare(
      'SELECT * FROM sluice_dead_letters WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id',
    );
    this.#delete = db.prepare(
      'DELETE FROM sluice_dead_letters WHERE id IN (SELECT value FROM json_each(?))',
    );
    this.#count = db.pluck<[], number>('SELECT count(*) FROM sluice_dead_letters');
    this.#existing = db.pluck<[string, number], number>(
      'SELECT id FROM sluice_dead_letters WHERE entry_id = ? AND position = ?',
    );
  }

  add(letters: readonly DeadLetterInput[]): Promise<number[]> {
    return rejecting(() => {
      const now = Date.now();
      // Encode everything first: a payload that cannot be encoded rejects before any write.
      const payloads = letters.map((l, i) => encodeWith(this.#codec, l.payload, 'letter', i));
      const ids = this.#db.transaction(
        () =>
          letters.map(
            (l, i) =>
              this.#existing.get(l.entryId, l.position) ??
              Number(
                this.#insert.run(
                  l.position,
                  l.entryId,
                  l.key,
                  payloads[i] as Encoded,
                  l.version,
                  l.error,
                  l.attempts,
                  now,
                ).lastInsertRowid,
              ),
          ),
        // IMMEDIATE: a read that turns into a write would not wait for a busy writer.
        'immediate',
      )();
      return Promise.resolve(ids);
    });
  }

  list(options: { after?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    return rejecting(() => {
      const rows = this.#list.all(options.after ?? 0, options.limit ?? 100);
      return Promise.resolve(rows.map((r) => this.#letter(r)));
    });
  }

  get(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(() => Promise.resolve(this.#selectIds(checkIds(ids))));
  }

  remove(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(() => {
      const wanted = checkIds(ids);
      const removed = this.#db.transaction(() => {
        const letters = this.#selectIds(wanted);
        this.#delete.run(JSON.stringify(wanted));
        return letters;
      }, 'immediate')();
      return Promise.resolve(removed);
    });
  }

  #selectIds(ids: readonly number[]): DeadLetter[] {
    if (ids.length === 0) return [];
    return this.#select.all(JSON.stringify(ids)).map((r) => this.#letter(r));
  }

  count(): Promise<number> {
    return rejecting(() => Promise.resolve(this.#count.get() as number));
  }

  #letter(r: Row): DeadLetter {
    return {
      id: r.id,
      position: r.position,
      entryId: r.entry_id,
      key: r.key,
      payload: this.#codec.decode(storedBytes(r.payload)),
      version: r.version ?? r.position,
      error: r.error,
      attempts: r.attempts,
      failedAt: r.failed_at,
    };
  }
}
