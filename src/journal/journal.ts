/**
 * Journal: the durable log every write enters before it is acknowledged.
 *
 * Guarantees every backend keeps (the conformance suite in `sluice/testing` checks them):
 * - `append` resolves only once its records are durable; positions are integers, strictly
 *   increasing, without gaps, starting at 1. Concurrent appends in one turn of the event loop
 *   share one transaction (group commit).
 * - A record with an `id` already in the journal is not written again: `append` returns the
 *   position it was first written at (idempotent retries).
 * - `read(after)` returns entries with position > `after`, in order; position 0 means "from
 *   the start". Its cost depends on what it returns and skips after `after`, never on how
 *   long the journal is.
 * - Consumer checkpoints (`commit`, `committed`) are stored with the log, so a restarted
 *   process resumes where it left off.
 * - `truncate` never removes an entry a consumer has not committed past, unless forced.
 */
import type { Payload } from './codec.js';
import type { DeadLetterStore } from './dead-letters.js';

export type { Payload } from './codec.js';

/** What `append` takes. */
export interface JournalRecord {
  /** Routing and ordering key (an account, a cache key); a non-empty string. */
  readonly key: string;
  /** Optional kind of record, for region filters. */
  readonly type?: string;
  /** Optional idempotency key: appending an id already in the journal writes nothing. */
  readonly id?: string;
  /** A JSON value or bytes. */
  readonly payload: Payload;
}

/** What `read` returns. */
export interface JournalEntry {
  readonly position: number;
  readonly key: string;
  readonly type: string | undefined;
  readonly id: string | undefined;
  readonly payload: Payload;
  /** Wall-clock time of the append, in ms since the epoch. */
  readonly appendedAt: number;
}

/**
 * Which entries a reader wants. Key selectors are alternatives (an entry matches if its key
 * is in `keys` or starts with `keyPrefix`); `types` narrows further. Empty region: all.
 */
export interface Region {
  readonly keys?: readonly string[];
  readonly keyPrefix?: string;
  readonly types?: readonly string[];
}

export interface ReadOptions {
  region?: Region;
  /** Most entries to return. @default 1000 */
  limit?: number;
}

export interface TruncateOptions {
  /** Remove entries even if a consumer has not committed past them. @default false */
  force?: boolean;
}

export interface TruncateResult {
  /** Entries removed. */
  removed: number;
  /** Lowest position still retained (head + 1 when nothing is). */
  firstRetained: number;
}

export interface ConsumerStats {
  readonly consumer: string;
  readonly position: number;
  /** Entries appended after the consumer's checkpoint. */
  readonly lag: number;
}

export interface JournalStats {
  /** Position of the newest entry; 0 when nothing was ever appended. */
  readonly head: number;
  /** Lowest retained position; head + 1 when the journal holds nothing. */
  readonly first: number;
  /** Entries retained. */
  readonly entries: number;
  /** Storage used, in bytes (file pages for SQLite, encoded payloads in memory). */
  readonly bytes: number;
  readonly consumers: readonly ConsumerStats[];
}

export interface Journal {
  append(records: readonly JournalRecord[]): Promise<number[]>;
  read(after: number, options?: ReadOptions): Promise<JournalEntry[]>;
  commit(consumer: string, position: number): Promise<void>;
  /** The consumer's checkpoint; 0 if it never committed. */
  committed(consumer: string): Promise<number>;
  /** Resolves once the head is past `after` (at once if it already is). */
  waitForAppend(after: number, options?: { signal?: AbortSignal }): Promise<void>;
  truncate(before: number, options?: TruncateOptions): Promise<TruncateResult>;
  stats(): Promise<JournalStats>;
  /** Where entries that cannot be written are kept, beside this journal (optional). */
  deadLetters?(): DeadLetterStore;
  /** Waits for pending appends, then releases the backend. Idempotent. */
  close(): Promise<void>;
}
