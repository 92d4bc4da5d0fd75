/**
 * MemoryPartitionedJournal: the partitioned journal's reference semantics, kept in memory.
 *
 * It keeps every promise of {@link PartitionedJournal} except surviving the process, and
 * models what makes the shared journal hard: appends run in transactions that may commit
 * late (`begin()`), and a reader sees a partition only below the oldest transaction still
 * open, so an entry that commits late is never skipped. Several handles (`connect()`) share
 * one journal the way nodes share a database; lease expiry follows the `clock` option, so
 * takeovers are tested with a ManualClock instead of sleeps.
 */
import { randomBytes } from 'node:crypto';
import { knownOptions, integerOption, serviceOption } from '../core/options.js';
import { systemClock, type Clock } from '../core/clock.js';
import { ClosedError } from '../errors.js';
import { callEach } from '../core/callbacks.js';
import { jsonCodec, type Codec } from './codec.js';
import type { ClusterStats } from './cluster-stats.js';
import { letterError, MemoryDeadLetters, type DeadLetterStore } from './dead-letters.js';
import type { AppendOptions, JournalRecord, JournalStats } from './journal.js';
import { LeaseTable } from './lease-table.js';
import {
  checkCursor,
  checkPartition,
  checkPartitionRead,
  PARTITION_START,
  partitionOfKey,
  type EntryState,
  type PartitionCursor,
  type PartitionedJournal,
  type PartitionLease,
  type PartitionRead,
} from './partitioned-journal.js';
import {
  checkConsumer,
  checkPosition,
  decodedEntry,
  encodeRecords,
  payloadBytes,
  rejecting,
  type EncodedRecord,
} from './validate.js';

/** Options of `new MemoryPartitionedJournal()`. */
export interface MemoryPartitionedJournalOptions {
  /** Fixed for the journal's life. @default 16 */
  partitions?: number;
  /** Judges lease and heartbeat expiry. @default systemClock */
  clock?: Clock;
  /** How payloads are stored. @default jsonCodec */
  codec?: Codec;
}

interface Stored extends EncodedRecord {
  readonly position: number;
  readonly tx: number;
  readonly partition: number;
  readonly appendedAt: number;
  readonly version: number;
}

/** An append that commits (or rolls back) later: the outbox's transaction, in memory. */
export interface MemoryJournalTransaction {
  /** Adds records to the transaction; resolves with their positions (not yet visible). */
  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]>;
  /** Makes the transaction's entries visible, in the place its first append took. */
  commit(): void;
  /** Drops the transaction's entries; their positions stay unused. */
  rollback(): void;
}

/** What every handle of one journal shares. */
class Shared {
  readonly id = randomBytes(8).toString('hex');
  readonly versionBase = Date.now() * 1000;
  readonly parts: Stored[][];
  readonly byPosition = new Map<number, Stored>();
  /** Position by entry id, for committed entries. */
  readonly ids = new Map<string, number>();
  /** Ids appended in transactions still open: their position, and when they end. */
  readonly held = new Map<string, { position: number; done: Promise<void> }>();
  /** Transactions begun and not yet ended. */
  readonly open = new Set<number>();
  readonly leases: LeaseTable;
  readonly deadLetters = new MemoryDeadLetters();
  readonly appendListeners = new Set<(partitions: readonly number[]) => void>();
  readonly membershipListeners = new Set<() => void>();
  nextPosition = 1;
  nextTx = 1;

  constructor(
    readonly partitions: number,
    readonly clock: Clock,
    readonly codec: Codec,
  ) {
    this.parts = Array.from({ length: partitions }, () => []);
    this.leases = new LeaseTable(partitions, clock, () => this.notify(this.membershipListeners));
  }

  /** Transactions at or past this one are not readable yet. */
  horizon(): number {
    let lowest = Infinity;
    for (const tx of this.open) if (tx < lowest) lowest = tx;
    return lowest;
  }

  /** Index of the first entry of `part` after `cursor` (entries sorted by tx, then position). */
  after(part: Stored[], tx: number, position: number): number {
    let lo = 0;
    let hi = part.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = part[mid] as Stored;
      if (e.tx < tx || (e.tx === tx && e.position <= position)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Entries of `partition` past `checkpoint` (the lag). */
  lag(partition: number, checkpoint: PartitionCursor): number {
    const part = this.parts[partition] as Stored[];
    return part.length - this.after(part, Number(checkpoint.tx), checkpoint.position);
  }

  /** Calls the listeners after the call that changed something has returned. */
  notify<A extends unknown[]>(listeners: Set<(...args: A) => void>, ...args: A): void {
    queueMicrotask(() => callEach(listeners, ...args));
  }
}

/**
 * The partitioned journal's reference semantics, in memory: every promise of
 * {@link PartitionedJournal} except surviving the process. For tests, and the model the
 * shared backends are checked against.
 */
export class MemoryPartitionedJournal implements PartitionedJournal {
  #shared: Shared;
  readonly #listeners = new Set<(...args: never[]) => void>();
  #closed = false;

  constructor(options: MemoryPartitionedJournalOptions = {}) {
    const o = knownOptions('MemoryPartitionedJournal options', options, [
      'partitions',
      'clock',
      'codec',
    ]);
    this.#shared = new Shared(
      integerOption('partitions', o.partitions, 16, 1, 4096),
      serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
      serviceOption<Codec>('codec', o.codec, ['encode', 'decode'], jsonCodec),
    );
  }

  /** Another handle onto this journal, as another node would open it; closes on its own. */
  connect(): MemoryPartitionedJournal {
    this.#open();
    const other = new MemoryPartitionedJournal({ partitions: 1 });
    other.#shared = this.#shared;
    return other;
  }

  get id(): string {
    return this.#shared.id;
  }

  get partitions(): number {
    return this.#shared.partitions;
  }

  partitionOf(key: string): number {
    return partitionOfKey(key, this.partitions);
  }

  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    return rejecting(async () => {
      const tx = this.begin();
      try {
        const positions = await tx.append(records, options);
        tx.commit();
        return positions;
      } catch (error) {
        tx.rollback();
        throw error;
      }
    });
  }

  /**
   * Begins a transaction: its entries get positions when appended and become visible at
   * `commit()`. Like a database transaction, it takes its place in the delivery order at
   * its first append, and an id another open transaction holds waits for that one to end.
   */
  begin(): MemoryJournalTransaction {
    this.#open();
    const shared = this.#shared;
    let tx: number | undefined;
    let pending: Stored[] = [];
    let ended = false;
    let endedSignal: () => void = () => {};
    const done = new Promise<void>((resolve) => (endedSignal = resolve));
    const end = (): void => {
      if (ended) throw new ClosedError('the transaction has ended');
      ended = true;
      if (tx !== undefined) shared.open.delete(tx);
      for (const e of pending) if (e.id !== undefined) shared.held.delete(e.id);
      endedSignal();
    };
    const append = async (
      records: readonly JournalRecord[],
      options?: AppendOptions,
    ): Promise<number[]> => {
      this.#open();
      if (ended) throw new ClosedError('the transaction has ended');
      const encoded = encodeRecords(records, shared.codec, options);
      if (tx === undefined && encoded.length > 0) {
        tx = shared.nextTx++;
        shared.open.add(tx);
      }
      const now = Date.now();
      const positions: number[] = [];
      for (const r of encoded) {
        // An id in another open transaction: wait for it, as a unique index makes one wait.
        for (let other = r.id && shared.held.get(r.id); other && other.done !== done;) {
          await other.done;
          other = shared.held.get(r.id as string);
        }
        const existing = r.id === undefined ? undefined : (shared.ids.get(r.id) ?? mine(r.id));
        if (existing !== undefined) {
          positions.push(existing);
          continue;
        }
        const position = shared.nextPosition++;
        if (r.id !== undefined) shared.held.set(r.id, { position, done });
        pending.push({
          ...r,
          // Bytes are copied: what is stored must not change with the caller's buffer.
          payload: typeof r.payload === 'string' ? r.payload : Uint8Array.from(r.payload),
          position,
          tx: tx as number,
          partition: partitionOfKey(r.key, shared.partitions),
          appendedAt: now,
          version: r.version ?? position + shared.versionBase,
        });
        positions.push(position);
      }
      return positions;
    };
    const mine = (id: string): number | undefined => {
      const held = shared.held.get(id);
      return held?.done === done ? held.position : undefined;
    };
    return {
      append: (records, options) => rejecting(() => append(records, options)),
      commit: () => {
        if (ended) throw new ClosedError('the transaction has ended');
        const touched = new Set<number>();
        for (const e of pending) {
          const part = shared.parts[e.partition] as Stored[];
          part.splice(shared.after(part, e.tx, e.position), 0, e);
          shared.byPosition.set(e.position, e);
          if (e.id !== undefined) shared.ids.set(e.id, e.position);
          touched.add(e.partition);
        }
        end();
        pending = [];
        if (touched.size > 0) {
          shared.notify(
            shared.appendListeners,
            [...touched].sort((a, b) => a - b),
          );
        }
      },
      rollback: () => {
        end();
        pending = [];
      },
    };
  }

  readPartition(
    partition: number,
    after: PartitionCursor,
    options: { limit: number; maxBytes?: number },
  ): Promise<PartitionRead> {
    return rejecting(() => {
      this.#open();
      const { limit, maxBytes } = checkPartitionRead(partition, after, options, this.partitions);
      const shared = this.#shared;
      const part = shared.parts[partition] as Stored[];
      const horizon = shared.horizon();
      const read: PartitionRead = { entries: [], cursors: [] };
      let bytes = 0;
      for (let i = shared.after(part, Number(after.tx), after.position); i < part.length; i++) {
        const e = part[i] as Stored;
        if (e.tx >= horizon || read.entries.length >= limit) break;
        const size = payloadBytes(e.payload);
        if (read.entries.length > 0 && bytes + size > maxBytes) break;
        bytes += size;
        read.entries.push(
          decodedEntry(
            {
              position: e.position,
              key: e.key,
              type: e.type ?? null,
              id: e.id ?? null,
              appendedAt: e.appendedAt,
              version: e.version,
              origin: e.origin ?? null,
            },
            e.payload,
            shared.codec,
          ),
        );
        read.cursors.push({ tx: String(e.tx), position: e.position });
      }
      return Promise.resolve(read);
    });
  }

  onAppend(listener: (partitions: readonly number[]) => void): () => void {
    return this.#listen(this.#shared.appendListeners, listener);
  }

  onMembership(listener: () => void): () => void {
    return this.#listen(this.#shared.membershipListeners, listener);
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
    return this.#leaseCall((leases) => leases.take(consumer, partition, node, ttlMs));
  }

  renewLeases(
    consumer: string,
    node: string,
    leases: readonly PartitionLease[],
    ttlMs: number,
  ): Promise<number[]> {
    return this.#leaseCall((table) => table.renew(consumer, node, leases, ttlMs));
  }

  async releaseLease(consumer: string, node: string, lease: PartitionLease): Promise<void> {
    await this.#leaseCall((leases) => leases.release(consumer, node, lease));
  }

  commitPartition(
    consumer: string,
    node: string,
    lease: PartitionLease,
    cursor: PartitionCursor,
  ): Promise<void> {
    return this.#leaseCall((leases) => leases.commit(consumer, node, lease, cursor));
  }

  /** A call on the lease table, on an open handle; what it throws rejects. */
  #leaseCall<T>(call: (leases: LeaseTable) => T | Promise<T>): Promise<T> {
    return rejecting(() => {
      this.#open();
      return Promise.resolve(call(this.#shared.leases));
    });
  }

  trimPartition(partition: number, upTo: PartitionCursor, max: number): Promise<number> {
    return rejecting(() => {
      this.#open();
      checkPartition(partition, this.partitions);
      checkCursor(upTo);
      checkPosition('max', max);
      const shared = this.#shared;
      const part = shared.parts[partition] as Stored[];
      const checkpoints = shared.leases.checkpoints(partition);
      // Without a consumer nothing is known to be handled: nothing goes.
      let end = checkpoints.length === 0 ? 0 : shared.after(part, Number(upTo.tx), upTo.position);
      for (const cp of checkpoints) {
        end = Math.min(end, shared.after(part, Number(cp.tx), cp.position));
      }
      const gone = part.splice(0, Math.min(end, max));
      for (const e of gone) {
        shared.byPosition.delete(e.position);
        if (e.id !== undefined) shared.ids.delete(e.id);
      }
      return Promise.resolve(gone.length);
    });
  }

  async entryState(consumer: string, position: number): Promise<EntryState> {
    this.#open();
    checkConsumer(consumer);
    checkPosition('position', position);
    const e = this.#shared.byPosition.get(position);
    if (e !== undefined && !this.#behind(consumer, e)) return { state: 'pending' };
    const error = await letterError(this.#shared.deadLetters, position);
    if (error !== undefined) return { state: 'deadLettered', error };
    return { state: e === undefined ? 'unknown' : 'done' };
  }

  pendingUpTo(consumer: string, position: number): Promise<number> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      checkPosition('position', position);
      let pending = 0;
      for (const part of this.#shared.parts) {
        if (part.some((e) => e.position <= position && !this.#behind(consumer, e))) pending++;
      }
      return Promise.resolve(pending);
    });
  }

  stats(): Promise<JournalStats> {
    return rejecting(() => {
      this.#open();
      const shared = this.#shared;
      let head = 0;
      let first = Infinity;
      let bytes = 0;
      for (const e of shared.byPosition.values()) {
        if (e.position > head) head = e.position;
        if (e.position < first) first = e.position;
        bytes += payloadBytes(e.payload);
      }
      const consumers = shared.leases.consumers().map((consumer) => {
        let position = Infinity;
        let lag = 0;
        for (let p = 0; p < shared.partitions; p++) {
          const cp = shared.leases.checkpoint(consumer, p) ?? PARTITION_START;
          position = Math.min(position, cp.position);
          lag += shared.lag(p, cp);
        }
        return { consumer, position, lag };
      });
      return Promise.resolve({
        head,
        first: first === Infinity ? head + 1 : first,
        entries: shared.byPosition.size,
        bytes,
        consumers: consumers.sort((a, b) => (a.consumer < b.consumer ? -1 : 1)),
      });
    });
  }

  async clusterStats(consumer = 'write-behind'): Promise<ClusterStats> {
    this.#open();
    checkConsumer(consumer);
    const shared = this.#shared;
    const { nodes, leases } = shared.leases.stats(consumer, (p, cp) => shared.lag(p, cp));
    let head = 0;
    for (const position of shared.byPosition.keys()) if (position > head) head = position;
    return {
      consumer,
      partitions: this.partitions,
      head,
      nodes,
      leases,
      deadLetters: await shared.deadLetters.count(),
    };
  }

  deadLetters(): DeadLetterStore {
    return this.#shared.deadLetters;
  }

  /** Closes this handle (its listeners stop); the journal lives on in other handles. */
  close(): Promise<void> {
    this.#closed = true;
    for (const listener of this.#listeners) {
      this.#shared.appendListeners.delete(listener as never);
      this.#shared.membershipListeners.delete(listener);
    }
    this.#listeners.clear();
    return Promise.resolve();
  }

  /** Whether the consumer's checkpoint on the entry's partition has passed it. */
  #behind(consumer: string, e: Stored): boolean {
    const cp = this.#shared.leases.checkpoint(consumer, e.partition) ?? PARTITION_START;
    const tx = Number(cp.tx);
    return tx > e.tx || (tx === e.tx && cp.position >= e.position);
  }

  #listen<L extends (...args: never[]) => void>(set: Set<L>, listener: L): () => void {
    this.#open();
    // Wrapped, so one listener added twice is two subscriptions, as with the other backends.
    const wrapped = ((...args: never[]) => listener(...args)) as L;
    set.add(wrapped);
    this.#listeners.add(wrapped);
    return () => {
      set.delete(wrapped);
      this.#listeners.delete(wrapped);
    };
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('the journal is closed');
  }
}
