/**
 * `onePartition(journal)`: a local Journal (SQLite, memory) as a partitioned journal of one
 * partition, so the cluster pipeline and the partitioned conformance suite run on it.
 *
 * Its positions are gap-free and commit in order, so a cursor is the position alone (`tx`
 * stays '0'). Leases live in this process (a LeaseTable on `clock`); across processes the
 * journal's own consumer hold (`acquire`) is the fence: the first lease of a consumer takes
 * the hold, and another process's `takeLease` finds the partition taken until it is
 * released. The checkpoint is the journal's (`commit`/`committed`), so a restart resumes
 * where the last owner committed.
 */
import { callEach } from '../core/callbacks.js';
import { systemClock, type Clock } from '../core/clock.js';
import { knownOptions, serviceOption } from '../core/options.js';
import { ClosedError, JournalLockedError, LeaseLostError } from '../errors.js';
import type { ClusterStats } from './cluster-stats.js';
import { letterError, MemoryDeadLetters, type DeadLetterStore } from './dead-letters.js';
import type {
  AppendOptions,
  ConsumerHold,
  Journal,
  JournalRecord,
  JournalStats,
} from './journal.js';
import { LeaseTable } from './lease-table.js';
import {
  checkCursor,
  checkLeaseCall,
  checkPartition,
  checkPartitionRead,
  type EntryState,
  type PartitionCursor,
  type PartitionedJournal,
  type PartitionLease,
  type PartitionRead,
} from './partitioned-journal.js';
import { checkConsumer, checkPosition, checkText, rejecting } from './validate.js';

/** Options of `onePartition()`. */
export interface OnePartitionOptions {
  /** Judges lease and heartbeat expiry. @default systemClock */
  clock?: Clock;
}

/**
 * `journal` as a {@link PartitionedJournal} of one partition; closing it closes `journal`.
 * See the module doc for how ownership works across processes.
 */
export function onePartition(
  journal: Journal,
  options: OnePartitionOptions = {},
): PartitionedJournal {
  const o = knownOptions('onePartition() options', options, ['clock']);
  return new OnePartition(
    journal,
    serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
  );
}

const WATCH_RETRY_MIN_MS = 50;
const WATCH_RETRY_MAX_MS = 5_000;
const cursorAt = (position: number): PartitionCursor => ({ tx: '0', position });

class OnePartition implements PartitionedJournal {
  readonly partitions = 1;
  readonly #journal: Journal;
  readonly #leases: LeaseTable;
  /** The journal's consumer holds this process took, by consumer. */
  readonly #holds = new Map<string, ConsumerHold>();
  /** Consumers whose checkpoint the journal holds (written at their first `takeLease`). */
  readonly #known = new Set<string>();
  readonly #appendListeners = new Set<(partitions: readonly number[]) => void>();
  readonly #membership = new Set<() => void>();
  readonly #deadLetters: DeadLetterStore;
  #watching: AbortController | undefined;
  #closed = false;

  constructor(journal: Journal, clock: Clock) {
    this.#journal = journal;
    // Membership calls come after the call that changed it has returned.
    this.#leases = new LeaseTable(1, clock, () => queueMicrotask(() => callEach(this.#membership)));
    this.#deadLetters = journal.deadLetters?.() ?? new MemoryDeadLetters();
  }

  get id(): string {
    return this.#journal.id;
  }

  partitionOf(key: string): number {
    checkText('key', key, true);
    return 0;
  }

  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    return rejecting(() => {
      this.#open();
      return this.#journal.append(records, options);
    });
  }

  readPartition(
    partition: number,
    after: PartitionCursor,
    options: { limit: number; maxBytes?: number },
  ): Promise<PartitionRead> {
    return rejecting(async () => {
      this.#open();
      const { limit, maxBytes } = checkPartitionRead(partition, after, options, 1);
      const entries = await this.#journal.read(after.position, {
        limit,
        ...(maxBytes === Infinity ? {} : { maxBytes }),
      });
      return { entries, cursors: entries.map((e) => cursorAt(e.position)) };
    });
  }

  onAppend(listener: (partitions: readonly number[]) => void): () => void {
    this.#open();
    const wrapped = (partitions: readonly number[]): void => listener(partitions);
    this.#appendListeners.add(wrapped);
    if (this.#watching === undefined || this.#watching.signal.aborted) void this.#watch();
    return () => {
      this.#appendListeners.delete(wrapped);
      if (this.#appendListeners.size === 0) this.#watching?.abort();
    };
  }

  /**
   * Wakes the append listeners after each append, until none is left or the journal closes.
   * A failed look at the head is tried again with backoff, and then wakes everyone: what
   * was appended in between is not known.
   */
  async #watch(): Promise<void> {
    const watching = new AbortController();
    this.#watching = watching;
    const { signal } = watching;
    let head: number | undefined;
    let delayMs = WATCH_RETRY_MIN_MS;
    while (!signal.aborted && !this.#closed) {
      try {
        if (head !== undefined) await this.#journal.waitForAppend(head, { signal });
        if (signal.aborted || this.#closed) break;
        const known = head;
        head = (await this.#journal.stats()).head;
        delayMs = WATCH_RETRY_MIN_MS;
        if (known !== undefined) this.#wake([0]);
      } catch (error) {
        if (signal.aborted || this.#closed || error instanceof ClosedError) break;
        head = undefined;
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
        delayMs = Math.min(delayMs * 2, WATCH_RETRY_MAX_MS);
        this.#wake([0]);
      }
    }
  }

  #wake(partitions: readonly number[]): void {
    callEach(this.#appendListeners, partitions);
  }

  onMembership(listener: () => void): () => void {
    this.#open();
    const wrapped = (): void => listener();
    this.#membership.add(wrapped);
    return () => this.#membership.delete(wrapped);
  }

  heartbeat(consumer: string, node: string, ttlMs: number): Promise<string[]> {
    return this.#leaseCall((leases) => leases.heartbeat(consumer, node, ttlMs));
  }

  leave(consumer: string, node: string): Promise<void> {
    return this.#leaseCall((leases) => leases.leave(consumer, node));
  }

  takeLease(
    consumer: string,
    partition: number,
    node: string,
    ttlMs: number,
  ): Promise<PartitionLease | undefined> {
    return rejecting(async () => {
      this.#open();
      checkLeaseCall(consumer, node, ttlMs);
      if (!this.#leases.takeable(consumer, partition, node)) return undefined;
      if (!this.#holds.has(consumer)) {
        try {
          this.#holds.set(consumer, await this.#journal.acquire(consumer));
        } catch (error) {
          // Another process works this consumer: the partition is taken.
          if (error instanceof JournalLockedError) return undefined;
          throw error;
        }
      }
      const lease = this.#leases.take(consumer, partition, node, ttlMs);
      if (lease === undefined) {
        // Another node of this process took it while the hold was being taken.
        if (!this.#leases.held(consumer)) await this.#letGo(consumer);
        return undefined;
      }
      const committed = await this.#journal.committed(consumer);
      if (committed === 0 && !this.#known.has(consumer)) {
        // A checkpoint from the start, as a shared journal's lease rows: until the consumer
        // commits, truncation keeps everything. Only the hold's owner writes it.
        await this.#journal.commit(consumer, 0);
      }
      this.#known.add(consumer);
      const checkpoint = cursorAt(committed);
      this.#leases.setCheckpoint(consumer, partition, checkpoint);
      return { ...lease, checkpoint };
    });
  }

  renewLeases(
    consumer: string,
    node: string,
    leases: readonly PartitionLease[],
    ttlMs: number,
  ): Promise<number[]> {
    return this.#leaseCall((table) => table.renew(consumer, node, leases, ttlMs));
  }

  releaseLease(consumer: string, node: string, lease: PartitionLease): Promise<void> {
    return this.#leaseCall(async (leases) => {
      if (leases.release(consumer, node, lease)) await this.#letGo(consumer);
    });
  }

  commitPartition(
    consumer: string,
    node: string,
    lease: PartitionLease,
    cursor: PartitionCursor,
  ): Promise<void> {
    return this.#leaseCall((leases) =>
      leases.commit(consumer, node, lease, cursor, async () => {
        // The journal's hold is the fence between processes: without it, nothing commits.
        if (!this.#holds.has(consumer)) {
          throw new LeaseLostError(consumer, lease.partition, lease.epoch);
        }
        await this.#journal.commit(consumer, cursor.position);
      }),
    );
  }

  trimPartition(partition: number, upTo: PartitionCursor, max: number): Promise<number> {
    return rejecting(async () => {
      this.#open();
      checkPartition(partition, 1);
      checkCursor(upTo);
      checkPosition('max', max);
      const { first, consumers } = await this.#journal.stats();
      // Without a consumer nothing is known to be handled; `truncate` keeps what any
      // consumer has not committed past.
      if (consumers.length === 0) return 0;
      const before = Math.min(upTo.position + 1, first + max);
      return (await this.#journal.truncate(before)).removed;
    });
  }

  entryState(consumer: string, position: number): Promise<EntryState> {
    return rejecting(async () => {
      this.#open();
      checkConsumer(consumer);
      checkPosition('position', position);
      const [{ head, first }, committed] = await Promise.all([
        this.#journal.stats(),
        this.#journal.committed(consumer),
      ]);
      const exists = position >= first && position <= head;
      if (exists && position > committed) return { state: 'pending' };
      const error = await letterError(this.#deadLetters, position);
      if (error !== undefined) return { state: 'deadLettered', error };
      return { state: exists ? 'done' : 'unknown' };
    });
  }

  pendingUpTo(consumer: string, position: number): Promise<number> {
    return rejecting(async () => {
      this.#open();
      checkConsumer(consumer);
      checkPosition('position', position);
      const [{ head }, committed] = await Promise.all([
        this.#journal.stats(),
        this.#journal.committed(consumer),
      ]);
      return committed < Math.min(position, head) ? 1 : 0;
    });
  }

  stats(): Promise<JournalStats> {
    return rejecting(() => {
      this.#open();
      return this.#journal.stats();
    });
  }

  clusterStats(consumer = 'write-behind'): Promise<ClusterStats> {
    return rejecting(async () => {
      this.#open();
      checkConsumer(consumer);
      const stats = await this.#journal.stats();
      const mine = stats.consumers.find((c) => c.consumer === consumer);
      const { nodes, leases } = this.#leases.stats(consumer, () => 0);
      const partition = {
        partition: 0,
        owner: null,
        epoch: 0,
        expiresInMs: null,
        ...leases[0],
        // The journal's checkpoint: another process may have committed it.
        checkpoint: mine?.position ?? 0,
        lag: mine?.lag ?? stats.entries,
      };
      return {
        consumer,
        partitions: 1,
        head: stats.head,
        nodes,
        leases: [partition],
        deadLetters: await this.#deadLetters.count(),
      };
    });
  }

  deadLetters(): DeadLetterStore {
    return this.#deadLetters;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watching?.abort();
    this.#appendListeners.clear();
    this.#membership.clear();
    for (const hold of this.#holds.values()) await hold.release();
    this.#holds.clear();
    await this.#journal.close();
  }

  /** Gives the consumer's hold back: free for other processes too. */
  async #letGo(consumer: string): Promise<void> {
    const hold = this.#holds.get(consumer);
    this.#holds.delete(consumer);
    await hold?.release();
  }

  /** A call on the lease table, on an open journal; what it throws rejects. */
  #leaseCall<T>(call: (leases: LeaseTable) => T | Promise<T>): Promise<T> {
    return rejecting(() => {
      this.#open();
      return Promise.resolve(call(this.#leases));
    });
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('the journal is closed');
  }
}
