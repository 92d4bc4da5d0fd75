/**
 * Sink: where entries finally land (a database table, a service, a user function).
 *
 * Contract every sink keeps (the sink conformance suite in `sluice/testing` checks it):
 * - `writeBatch` writes all of its entries or none of them (one transaction), so a failed
 *   batch can be split to find the entry that fails;
 * - it is idempotent by entry id: at-least-once delivery (a batch written again after a
 *   crash) leaves exactly one row per entry;
 * - `isTransient(error)` says whether a failure is worth retrying (a lost connection, a
 *   serialization failure) or permanent (a constraint violation, bad data).
 */

/** One entry on its way to the store. */
export interface SinkEntry<V = unknown> {
  /** Unique per entry; the idempotency key. */
  readonly id: string;
  /** The entry's routing key (an account, a cache key). */
  readonly key: string;
  readonly value: V;
}

export interface SinkContext {
  /** Aborted when the writer gives up on this write. */
  readonly signal?: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt?: number;
}

export interface Sink<V = unknown> {
  /** All or nothing, idempotent by entry id. */
  writeBatch(entries: readonly SinkEntry<V>[], context?: SinkContext): Promise<void>;
  /** Whether a failed write may succeed if tried again. */
  isTransient(error: unknown): boolean;
  /** Releases what the sink holds (connections). Idempotent. */
  close(): Promise<void>;
}
