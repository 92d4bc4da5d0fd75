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
 * - Every entry has a `version`, assigned at append: `max(previous + 1, now in ms × 1000)`,
 *   so versions grow with positions, and a journal created later (a new host, a recreated
 *   file) continues above an older one's. A record may bring its own (a replayed dead letter
 *   keeps the version it first had).
 * - A journal has an `id`, random, chosen when it is created: an entry written without an
 *   id is known beyond its journal as `<journal id>:<version>` (the version, not the
 *   position: a journal restored from a backup reuses positions, never versions).
 * - `acquire(consumer)` gives one live holder at a time the right to work a consumer; the
 *   hold ends with `release()` or with the holder's process.
 */
import type { Encoded, Payload } from './codec.js';
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
  /** The entry's version, when it must keep one it already had. @default assigned at append */
  readonly version?: number;
  /**
   * For a re-delivery (a replayed dead letter): the sink id of the entry it repeats, so the
   * sink sees the same entry again, not a new one.
   */
  readonly origin?: string;
}

/** What `read` returns. */
export interface JournalEntry {
  /** The entry's place in the journal: 1, 2, 3... without gaps. */
  readonly position: number;
  /** The record's key. */
  readonly key: string;
  /** The record's type, if it had one. */
  readonly type: string | undefined;
  /** The record's idempotency key, if it had one. */
  readonly id: string | undefined;
  /** The decoded payload; `null` when `undecodable` is set. */
  readonly payload: Payload;
  /** Wall-clock time of the append, in ms since the epoch. */
  readonly appendedAt: number;
  /** Size of the stored payload: characters of its JSON text, or bytes. */
  readonly bytes: number;
  /** Grows with the position (see the module doc); a replayed entry keeps its own. */
  readonly version: number;
  /** The sink id of the entry this one re-delivers, if it is a re-delivery. */
  readonly origin: string | undefined;
  /**
   * Present only when the stored payload could not be decoded (a damaged file): what is
   * stored, and why it could not be read. `payload` is then `null`.
   */
  readonly undecodable?: {
    /** The payload as stored (JSON text or bytes). */
    readonly stored: Encoded;
    /** Why the codec could not decode it. */
    readonly error: string;
  };
}

/** A consumer held by one pipeline; see `Journal.acquire`. */
export interface ConsumerHold {
  /** The consumer held. */
  readonly consumer: string;
  /** Ends the hold (idempotent); the next `acquire` succeeds at once. */
  release(): Promise<void>;
}

/**
 * Which entries a reader wants. Key selectors are alternatives (an entry matches if its key
 * is in `keys` or starts with `keyPrefix`); `types` narrows further. Empty region: all.
 */
export interface Region {
  /** Entries whose key is one of these. */
  readonly keys?: readonly string[];
  /** Entries whose key starts with this. */
  readonly keyPrefix?: string;
  /** Only entries of these types (an entry without a type never matches). */
  readonly types?: readonly string[];
}

/** Options of `Journal.append()`. */
export interface AppendOptions {
  /**
   * Refuse, with EntryTooLargeError and before anything is written, a record whose encoded
   * payload is larger than this (characters of its JSON text, or bytes). @default no limit
   */
  maxRecordBytes?: number;
}

/** Options of `Journal.read()`. */
export interface ReadOptions {
  /** Only entries in this region; the positions of others are skipped. @default every entry */
  region?: Region;
  /** Most entries to return. @default 1000 */
  limit?: number;
  /**
   * Stop once the entries' payloads (`bytes`) reach this; the first entry is returned
   * whatever its size. @default no limit
   */
  maxBytes?: number;
}

/** Options of `Journal.truncate()`. */
export interface TruncateOptions {
  /** Remove entries even if a consumer has not committed past them. @default false */
  force?: boolean;
}

/** What `Journal.truncate()` did. */
export interface TruncateResult {
  /** Entries removed. */
  removed: number;
  /** Lowest position still retained (head + 1 when nothing is). */
  firstRetained: number;
}

/** One consumer's checkpoint, in `JournalStats.consumers`. */
export interface ConsumerStats {
  /** The consumer's name. */
  readonly consumer: string;
  /** Its checkpoint: the last position it committed. */
  readonly position: number;
  /** Entries appended after the consumer's checkpoint. */
  readonly lag: number;
}

/** What `Journal.stats()` reports. */
export interface JournalStats {
  /** Position of the newest entry; 0 when nothing was ever appended. */
  readonly head: number;
  /** Lowest retained position; head + 1 when the journal holds nothing. */
  readonly first: number;
  /** Entries retained. */
  readonly entries: number;
  /** Storage used, in bytes (file pages for SQLite, encoded payloads in memory). */
  readonly bytes: number;
  /** Every consumer that has committed, with its checkpoint. */
  readonly consumers: readonly ConsumerStats[];
}

/**
 * The seam for durable storage: an append-only log of entries with consumer checkpoints.
 * Every backend (MemoryJournal, SqliteJournal) keeps the same promises, and
 * `journalConformance` in `sluice/testing` checks them:
 *
 * - `append` resolves only once its records are durable; positions are 1, 2, 3... without
 *   gaps; a record whose `id` is already in the journal is not written again.
 * - `read(after)` returns the entries past `after`, in order, at a cost that depends on what
 *   it returns, not on the journal's length.
 * - Checkpoints are stored with the log, so a restarted process resumes where it left off;
 *   `truncate` never removes what a consumer has not committed past, unless forced.
 * - Every entry has a `version` that grows with its position, also across journals created
 *   later; an entry without an id is known to a sink as `<journal id>:<version>`.
 *
 * Bad arguments reject with InputError, a closed journal with ClosedError.
 */
export interface Journal {
  /** Random, chosen when the journal was created; part of the sink id of id-less entries. */
  readonly id: string;
  /**
   * Appends the records in one transaction; resolves with their positions, in order, once
   * they are durable. A record whose `id` is already in the journal gets the position it
   * was first written at. Rejects with EncodeError or EntryTooLargeError before anything
   * is written, or JournalWriteError when the storage refuses the write.
   */
  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]>;
  /** The entries with position > `after` (0: from the start), in order, up to the limits. */
  read(after: number, options?: ReadOptions): Promise<JournalEntry[]>;
  /** Stores `position` as the consumer's checkpoint; past the head is an InputError. */
  commit(consumer: string, position: number): Promise<void>;
  /** The consumer's checkpoint; 0 if it never committed. */
  committed(consumer: string): Promise<number>;
  /**
   * Resolves once the head is past `after` (at once if it already is), or sooner when the
   * journal could not look for appends (the caller's next read says why); rejects with
   * JournalReadError when it cannot read its head now.
   */
  waitForAppend(after: number, options?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Removes the entries with position < `before`, but none a consumer has not committed
   * past unless `force`. Their ids no longer deduplicate.
   */
  truncate(before: number, options?: TruncateOptions): Promise<TruncateResult>;
  /** Head, size and every consumer's checkpoint. */
  stats(): Promise<JournalStats>;
  /**
   * Takes the consumer for this caller alone, or rejects with `JournalLockedError` naming
   * the holder. Readers that do not commit need no hold.
   */
  acquire(consumer: string): Promise<ConsumerHold>;
  /** Where entries that cannot be written are kept, beside this journal (optional). */
  deadLetters?(): DeadLetterStore;
  /**
   * Optional: calls `listener` after each transaction of this handle's appends commits,
   * before those appends resolve, with the entries it wrote (a record whose id was already
   * stored writes none), in position order and exactly as `read` would return them (payloads
   * decoded from what was stored, never the caller's objects). Not entries other processes
   * append. A pipeline in this process takes them from memory instead of reading them back.
   * Returns the unsubscribe.
   */
  onAppended?(listener: (entries: readonly JournalEntry[]) => void): () => void;
  /** Waits for pending appends, then releases the backend. Idempotent. */
  close(): Promise<void>;
}
