/**
 * SqliteDeadLetters: dead letters in the journal's own SQLite file (table
 * `sluice_dead_letters`, schema v2), so one file holds everything a restart needs.
 */
import type { Database } from 'better-sqlite3';
import {
  checkIds,
  jsonCodec,
  rejecting,
  type Codec,
  type DeadLetter,
  type DeadLetterInput,
  type DeadLetterStore,
  type Encoded,
} from '../../index.js';
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

export class SqliteDeadLetters implements DeadLetterStore {
  readonly #db: Database;
  readonly #codec: Codec;

  constructor(journal: SqliteJournal, options: { codec?: Codec } = {}) {
    this.#db = journal.database;
    this.#codec = options.codec ?? jsonCodec;
  }

  add(letters: readonly DeadLetterInput[]): Promise<number[]> {
    return rejecting(() => {
      const insert = this.#db.prepare(
        `INSERT INTO sluice_dead_letters (position, entry_id, key, payload, version, error, attempts, failed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const now = Date.now();
      // Encode everything first: a payload that cannot be encoded rejects before any write.
      const payloads = letters.map((l) => this.#codec.encode(l.payload));
      const ids = this.#db.transaction(() =>
        letters.map((l, i) =>
          Number(
            insert.run(
              l.position,
              l.entryId,
              l.key,
              payloads[i],
              l.version,
              l.error,
              l.attempts,
              now,
            ).lastInsertRowid,
          ),
        ),
      )();
      return Promise.resolve(ids);
    });
  }

  list(options: { after?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    const rows = this.#db
      .prepare('SELECT * FROM sluice_dead_letters WHERE id > ? ORDER BY id LIMIT ?')
      .all(options.after ?? 0, options.limit ?? 100) as Row[];
    return Promise.resolve(rows.map((r) => this.#letter(r)));
  }

  get(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(() => Promise.resolve(this.#select(checkIds(ids))));
  }

  remove(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(() => {
      const wanted = checkIds(ids);
      const removed = this.#db.transaction(() => {
        const letters = this.#select(wanted);
        this.#db
          .prepare('DELETE FROM sluice_dead_letters WHERE id IN (SELECT value FROM json_each(?))')
          .run(JSON.stringify(wanted));
        return letters;
      })();
      return Promise.resolve(removed);
    });
  }

  #select(ids: readonly number[]): DeadLetter[] {
    if (ids.length === 0) return [];
    const rows = this.#db
      .prepare(
        'SELECT * FROM sluice_dead_letters WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id',
      )
      .all(JSON.stringify(ids)) as Row[];
    return rows.map((r) => this.#letter(r));
  }

  count(): Promise<number> {
    return Promise.resolve(
      (this.#db.prepare('SELECT count(*) AS n FROM sluice_dead_letters').get() as { n: number }).n,
    );
  }

  #letter(r: Row): DeadLetter {
    return {
      id: r.id,
      position: r.position,
      entryId: r.entry_id,
      key: r.key,
      payload: this.#codec.decode(r.payload),
      version: r.version ?? r.position,
      error: r.error,
      attempts: r.attempts,
      failedAt: r.failed_at,
    };
  }
}
