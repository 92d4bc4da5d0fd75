/**
 * The SQLite journal's bookkeeping beside its entries: the head and version counters
 * (`sluice_meta`), the journal's id (`sluice_info`), the consumers' checkpoints
 * (`sluice_checkpoints`) and the file's size. Statements are prepared once per database handle.
 *
 * The head is the highest position ever assigned (it never moves back, even when the log is
 * truncated empty); the version counter is the highest version assigned by the journal.
 */
import type { SqliteDatabase, SqliteStatement as Statement } from './driver.js';

export interface CheckpointRow {
  readonly consumer: string;
  readonly position: number;
}

export class JournalMeta {
  /** Random, chosen when the file was created. */
  readonly id: string;
  readonly #readHead: Statement<[], number>;
  readonly #writeHead: Statement<[number]>;
  readonly #readVersion: Statement<[], number>;
  readonly #writeVersion: Statement<[number]>;
  readonly #upsertCheckpoint: Statement<[string, number, number]>;
  readonly #committed: Statement<[string], number>;
  readonly #lowestCheckpoint: Statement<[], number | null>;
  readonly #checkpoints: Statement<[], CheckpointRow>;
  readonly #pageCount: Statement<[], number>;
  readonly #pageSize: Statement<[], number>;

  constructor(db: SqliteDatabase) {
    this.#readHead = db.pluck<[], number>("SELECT value FROM sluice_meta WHERE name = 'head'");
    this.#writeHead = db.prepare("UPDATE sluice_meta SET value = ? WHERE name = 'head'");
    this.#readVersion = db.pluck<[], number>(
      "SELECT value FROM sluice_meta WHERE name = 'version'",
    );
    this.#writeVersion = db.prepare("UPDATE sluice_meta SET value = ? WHERE name = 'version'");
    this.#upsertCheckpoint = db.prepare(
      `INSERT INTO sluice_checkpoints (consumer, position, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (consumer) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    );
    this.#committed = db.pluck<[string], number>(
      'SELECT position FROM sluice_checkpoints WHERE consumer = ?',
    );
    this.#lowestCheckpoint = db.pluck<[], number | null>(
      'SELECT min(position) FROM sluice_checkpoints',
    );
    this.#checkpoints = db.prepare(
      'SELECT consumer, position FROM sluice_checkpoints ORDER BY consumer',
    );
    this.#pageCount = db.pluck<[], number>('PRAGMA page_count');
    this.#pageSize = db.pluck<[], number>('PRAGMA page_size');
    this.id = db
      .pluck<[], string>("SELECT value FROM sluice_info WHERE name = 'journal_id'")
      .get() as string;
  }

  head(): number {
    return this.#readHead.get() as number;
  }

  setHead(head: number): void {
    this.#writeHead.run(head);
  }

  version(): number {
    return this.#readVersion.get() as number;
  }

  setVersion(version: number): void {
    this.#writeVersion.run(version);
  }

  commit(consumer: string, position: number, now: number): void {
    this.#upsertCheckpoint.run(consumer, position, now);
  }

  /** The consumer's checkpoint; 0 when it never committed. */
  committed(consumer: string): number {
    return this.#committed.get(consumer) ?? 0;
  }

  /** The lowest checkpoint of any consumer, if there is one. */
  lowestCheckpoint(): number | undefined {
    return this.#lowestCheckpoint.get() ?? undefined;
  }

  /** What the file takes on disk, in bytes (the WAL aside). */
  bytes(): number {
    return (this.#pageCount.get() as number) * (this.#pageSize.get() as number);
  }

  /** Every checkpoint, by consumer name. */
  checkpoints(): CheckpointRow[] {
    return this.#checkpoints.all().map((r) => ({ consumer: r.consumer, position: r.position }));
  }
}
