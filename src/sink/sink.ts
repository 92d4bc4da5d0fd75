/**
 * Sink: where entries finally land (a database table, a service, a user function).
 *
 * Contract every sink keeps (the sink conformance suite in `sluice/testing` checks it):
 * - `writeBatch` writes all of its entries or none of them (one transaction), so a failed
 *   batch can be split to find the entry that fails;
 * - it is idempotent by entry id: at-least-once delivery (a batch written again after a
 *   crash) leaves exactly one row per entry;
 * - `classify(error)` says whose fault a failure is: `'unavailable'` — the sink cannot take
 *   writes now (a lost connection, a lock timeout, a table being migrated, a missing
 *   privilege), so the batch is retried as it is, with backoff, however long it takes;
 *   `'rejected'` — an entry of the batch is bad (bad data, a constraint), so the batch is
 *   split to find it and only it goes to the dead letters; `'unknown'` — split as for
 *   `'rejected'`, but when every entry of a batch then fails alone with the same error,
 *   that was the sink failing, not the entries: the batch is retried as an outage.
 * - entries carry a `version` that grows with their journal position; a sink that stores
 *   it (`versionColumn` of the table sinks) applies an entry to a row only if it is newer,
 *   so a re-delivered, replayed or late entry never puts an older value over a newer one.
 */

/** Whose fault a failed write is (see the module doc). */
export type SinkFailure = 'unavailable' | 'rejected' | 'unknown';

/** What a write may report beyond success; every field counts entries of the batch. */
export interface SinkWriteResult {
  /** Not applied because the row already holds a newer version (version-guarded upsert). */
  readonly superseded?: number;
  /** Not written because a row with their id already exists (a re-delivery). */
  readonly duplicates?: number;
}

/** One entry on its way to the store. */
export interface SinkEntry<V = unknown> {
  /**
   * Unique per entry; the idempotency key. The id given to `write`, or, for a write without
   * one, `<journal id>:<version>` (unique beyond one journal: the journal id is random; and
   * within it, even across a restore from backup: versions follow the clock).
   */
  readonly id: string;
  /** The entry's routing key (an account, a cache key). */
  readonly key: string;
  /** The value given to `write`, decoded from the journal. */
  readonly value: V;
  /**
   * Grows with the entry's journal position, and across journals with time (a journal
   * assigns `max(previous + 1, now in ms × 1000)`); a replayed dead letter keeps its own.
   */
  readonly version: number;
}

/** What a sink is told about the write it is asked for. */
export interface SinkContext {
  /** Aborted when the writer gives up on this write. */
  readonly signal?: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt?: number;
  /**
   * Set by the pipeline over a shared journal: the partition lease the write is made under.
   * A sink in the journal's database can check it in the write's own transaction, so a
   * node that lost the lease cannot write (`postgresSink({ exactlyOnce: journal })`).
   */
  readonly fence?: SinkFence;
}

/** The lease a write over a shared journal is made under (see `SinkContext.fence`). */
export interface SinkFence {
  /** The shared journal's id. */
  readonly journalId: string;
  /** The consumer whose partition it is. */
  readonly consumer: string;
  /** The partition. */
  readonly partition: number;
  /** The node holding the lease. */
  readonly node: string;
  /** The lease's epoch: the write is refused once the partition was taken over. */
  readonly epoch: number;
}

/**
 * The seam for where entries finally land: a table, a service, a function. Every sink
 * keeps one contract (`sinkConformance` in `sluice/testing` checks it):
 *
 * - `writeBatch` writes all of its entries or none (one transaction), so a failed batch can
 *   be split to find the entry that fails;
 * - it is idempotent by entry id: a batch delivered again after a crash leaves one row per
 *   entry;
 * - `classify(error)` says whose fault a failure is: `'unavailable'` is retried as it is,
 *   however long it takes; `'rejected'` splits the batch and dead-letters only the bad
 *   entries; `'unknown'` splits too, but when every entry then fails alike, it is an outage;
 * - a sink that stores `version` applies an entry to a row only if it is newer.
 *
 * MemorySink is the reference; functionSink adapts any function.
 */
export interface Sink<V = unknown> {
  /** All or nothing, idempotent by entry id. */
  writeBatch(
    entries: readonly SinkEntry<V>[],
    context?: SinkContext,
  ): Promise<SinkWriteResult | void>;
  /** Whose fault a failed write is: decides between retrying and dead-lettering. */
  classify(error: unknown): SinkFailure;
  /** Releases what the sink holds (connections). Idempotent. */
  close(): Promise<void>;
}
