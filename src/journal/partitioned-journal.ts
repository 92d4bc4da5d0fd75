/**
 * PartitionedJournal: the seam for a journal shared by many processes ("nodes"), split into
 * a fixed number of partitions by key hash, worked one partition per owner at a time.
 *
 * What a backend keeps (PostgresJournal in `sluice/postgres` is the one that ships):
 * - `append` resolves once its records are durable, with positions that increase across the
 *   journal (gaps allowed: a rolled-back append leaves one). A record whose `id` is already
 *   in the journal is not written again.
 * - `readPartition` returns one partition's entries past a cursor, in the order they must be
 *   delivered, and never skips an entry that commits later than others it already returned
 *   (a slow transaction, an outbox append): it returns only entries whose place in that order
 *   is final.
 * - Ownership is a lease per (consumer, partition) with an expiry and an epoch that grows on
 *   every takeover. Only the holder at the current epoch can move the partition's checkpoint
 *   (`commitPartition` is fenced by the epoch: LeaseLostError otherwise); a lease that
 *   expired but that nobody has taken yet still commits and renews, since nobody else can
 *   have worked the partition. Expiry is judged by the backend's clock, so the nodes' clocks
 *   need not agree. `takeLease` and `trimPartition` know only consumers that have sent a
 *   heartbeat; `trimPartition` deletes nothing while none has.
 * - Nodes announce themselves with `heartbeat`; which partitions a node should hold is the
 *   caller's decision (see `assign` in `src/cluster/coordinator.ts`), not the journal's. A
 *   consumer's lease rows exist once one of its nodes has sent a heartbeat.
 *
 * MemoryPartitionedJournal is the reference, `onePartition(journal)` makes any local Journal
 * (SQLite) a journal of one partition, and `partitionedJournalConformance` in `sluice/testing`
 * checks every backend the same way. Bad arguments reject with InputError, a closed journal
 * with ClosedError.
 */
import type { DeadLetterStore } from './dead-letters.js';
import type { AppendOptions, JournalEntry, JournalRecord, JournalStats } from './journal.js';
import type { ClusterStats } from './cluster-stats.js';
import { hashKey } from '../core/pool/routing.js';
import { InputError, show } from '../errors.js';
import { checkConsumer, checkLimit, checkMaxBytes, checkPosition, checkText } from './validate.js';

/**
 * Where a reader stands in one partition: the delivery order's last entry taken. Opaque to
 * the engine; the backend compares them (PostgreSQL: the appending transaction's id, then
 * the position).
 */
export interface PartitionCursor {
  /** The appending transaction's id, as decimal text ('0' before the first entry). */
  readonly tx: string;
  /** The entry's position. */
  readonly position: number;
}

/** The start of every partition. */
export const PARTITION_START: PartitionCursor = { tx: '0', position: 0 };

/** One partition held by one node: the lease's epoch fences what the node commits. */
export interface PartitionLease {
  /** The partition, 0 to `partitions - 1`. */
  readonly partition: number;
  /** Grows on every takeover; a commit under an older epoch is refused. */
  readonly epoch: number;
  /** The partition's checkpoint when the lease was taken: where reading resumes. */
  readonly checkpoint: PartitionCursor;
}

/** What `readPartition` returns: entries and, for each, its cursor (same order). */
export interface PartitionRead {
  /** The entries, in delivery order. */
  readonly entries: JournalEntry[];
  /** `cursors[i]` is where a reader stands after `entries[i]`. */
  readonly cursors: PartitionCursor[];
}

/** Where one entry stands for a consumer (`PartitionedJournal.entryState`). */
export type EntryState =
  | {
      /** `pending`: not yet behind its partition's checkpoint; `done`: behind it; `unknown`: no such entry. */
      readonly state: 'pending' | 'done' | 'unknown';
    }
  | {
      /** It went to the dead letters. */
      readonly state: 'deadLettered';
      /** Why the sink refused it. */
      readonly error: string;
    };

/** The seam the cluster pipeline works through; see the module doc. */
export interface PartitionedJournal {
  /** Random, chosen at creation; part of the sink id of id-less entries. */
  readonly id: string;
  /** Fixed at creation. */
  readonly partitions: number;
  /** The partition a key belongs to (stable across processes and versions). */
  partitionOf(key: string): number;
  /** Appends in one transaction; resolves with the positions once durable. */
  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]>;
  /** One partition's entries past `after`, in delivery order, up to the limits. */
  readPartition(
    partition: number,
    after: PartitionCursor,
    options: { limit: number; maxBytes?: number },
  ): Promise<PartitionRead>;
  /**
   * Calls `listener` with the partitions that got new entries (from any node), or with `[]`
   * when it cannot tell which (a reconnect: read everything). Returns the unsubscribe.
   */
  onAppend(listener: (partitions: readonly number[]) => void): () => void;
  /** Calls `listener` when a node joins, leaves or releases a lease. Returns the unsubscribe. */
  onMembership(listener: () => void): () => void;
  /** Announces `node` as live for `ttlMs`; resolves with every live node of `consumer`. */
  heartbeat(consumer: string, node: string, ttlMs: number): Promise<string[]>;
  /** Removes `node` from the live nodes at once (a clean shutdown). */
  leave(consumer: string, node: string): Promise<void>;
  /**
   * Takes the partition if it is free, expired or already `node`'s: resolves with the new
   * lease (the epoch grown by one), or `undefined` while another node's lease is live.
   */
  takeLease(
    consumer: string,
    partition: number,
    node: string,
    ttlMs: number,
  ): Promise<PartitionLease | undefined>;
  /** Extends the leases `node` still holds at these epochs; resolves with their partitions. */
  renewLeases(
    consumer: string,
    node: string,
    leases: readonly PartitionLease[],
    ttlMs: number,
  ): Promise<number[]>;
  /** Gives the lease up at once, if `node` still holds it at that epoch. */
  releaseLease(consumer: string, node: string, lease: PartitionLease): Promise<void>;
  /** Moves the partition's checkpoint to `cursor`, fenced by the lease (LeaseLostError). */
  commitPartition(
    consumer: string,
    node: string,
    lease: PartitionLease,
    cursor: PartitionCursor,
  ): Promise<void>;
  /**
   * Deletes up to `max` of the partition's entries at or before `upTo` and before every
   * other consumer's checkpoint on it; resolves with how many went.
   */
  trimPartition(partition: number, upTo: PartitionCursor, max: number): Promise<number>;
  /**
   * Where the entry at `position` stands for `consumer`: `pending`, `done` (its partition's
   * checkpoint passed it) or `deadLettered` (with the error), or `unknown` (no such entry).
   */
  entryState(consumer: string, position: number): Promise<EntryState>;
  /**
   * How many partitions still hold an entry at or below `position` that their checkpoint has
   * not passed: 0 once everything up to `position` is delivered (or dead-lettered).
   */
  pendingUpTo(consumer: string, position: number): Promise<number>;
  /** Newest position, size and checkpoints (a checkpoint per consumer: its lowest). */
  stats(): Promise<JournalStats>;
  /** Nodes, leases, checkpoints and lag per partition, dead letters. */
  clusterStats(consumer?: string): Promise<ClusterStats>;
  /** The dead letters every node shares. */
  deadLetters(): DeadLetterStore;
  /** Releases the backend. Idempotent. */
  close(): Promise<void>;
}

/** Whether `journal` is a partitioned one (the cluster pipeline) rather than a local Journal. */
export function isPartitioned(journal: unknown): journal is PartitionedJournal {
  return (
    typeof journal === 'object' &&
    journal !== null &&
    typeof (journal as { readPartition?: unknown }).readPartition === 'function' &&
    typeof (journal as { takeLease?: unknown }).takeLease === 'function'
  );
}

/**
 * The partition of `key` among `partitions`: FNV-1a of the key (as lanes use), then
 * MurmurHash3's finalizer, so a partition's keys still spread over every lane.
 */
export function partitionOfKey(key: string, partitions: number): number {
  return mixedHash(key) % partitions;
}

/** FNV-1a of `text` through MurmurHash3's 32-bit finalizer: well spread in every bit. */
export function mixedHash(text: string): number {
  let h = hashKey(text);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---- argument checks every backend makes the same way ------------------------------------------

/** A partition number: an integer from 0 to `partitions - 1`, else InputError. */
export function checkPartition(partition: unknown, partitions: number): number {
  if (
    !Number.isSafeInteger(partition) ||
    (partition as number) < 0 ||
    (partition as number) >= partitions
  ) {
    throw new InputError(
      `partition must be an integer from 0 to ${partitions - 1}, got ${show(partition)}`,
    );
  }
  return partition as number;
}

/** A lease or heartbeat duration: an integer number of ms >= 1, else InputError. */
function checkTtl(ttlMs: unknown): number {
  if (!Number.isSafeInteger(ttlMs) || (ttlMs as number) < 1) {
    throw new InputError(`ttlMs must be an integer >= 1, got ${show(ttlMs)}`);
  }
  return ttlMs as number;
}

/** A cursor: `{ tx: decimal text, position: integer >= 0 }`, else InputError. */
export function checkCursor(cursor: unknown): PartitionCursor {
  const c = cursor as PartitionCursor | null;
  if (typeof c !== 'object' || c === null || typeof c.tx !== 'string' || !/^\d{1,20}$/.test(c.tx)) {
    throw new InputError(
      `a partition cursor must be { tx: decimal text, position: integer }, got ${show(cursor)}`,
    );
  }
  checkPosition('cursor position', c.position);
  return c;
}

/** A lease as `takeLease` returned it, else InputError. */
export function checkLease(lease: unknown, partitions: number): PartitionLease {
  const l = lease as PartitionLease | null;
  if (typeof l !== 'object' || l === null || !Number.isSafeInteger(l.epoch) || l.epoch < 1) {
    throw new InputError(`a lease must be what takeLease() returned, got ${show(lease)}`);
  }
  checkPartition(l.partition, partitions);
  return l;
}

/** Checks `readPartition` arguments; returns the limit and byte bound to use. */
export function checkPartitionRead(
  partition: unknown,
  after: unknown,
  options: unknown,
  partitions: number,
): {
  /** Most entries to return. */
  limit: number;
  /** Payload bytes to stop at; `Infinity` for no limit. */
  maxBytes: number;
} {
  checkPartition(partition, partitions);
  checkCursor(after);
  const o = options as { limit?: unknown; maxBytes?: unknown } | null;
  if (typeof o !== 'object' || o === null) {
    throw new InputError(`readPartition options must be an object, got ${show(options)}`);
  }
  return { limit: checkLimit(o.limit), maxBytes: checkMaxBytes(o.maxBytes) };
}

/** Checks the (consumer, node, ttl) every lease call takes. */
export function checkLeaseCall(consumer: unknown, node: unknown, ttlMs?: unknown): void {
  checkConsumer(consumer);
  checkText('node', node, true);
  if (ttlMs !== undefined) checkTtl(ttlMs);
}
