/**
 * LeaseTable: the nodes, leases and checkpoints of a partitioned journal kept in one
 * process, judged by one clock. MemoryPartitionedJournal and `onePartition` keep their
 * ownership here; PostgresJournal keeps the same rows in its `nodes` and `leases` tables.
 * Each call checks its arguments as every backend does (InputError), and a change of
 * membership (a join, a leave, a release) calls `onChange`.
 */
import type { Clock } from '../core/clock.js';
import { LeaseLostError } from '../errors.js';
import type { ClusterLeaseStats, ClusterNodeStats } from './cluster-stats.js';
import {
  checkCursor,
  checkLease,
  checkLeaseCall,
  checkPartition,
  PARTITION_START,
  type PartitionCursor,
  type PartitionLease,
} from './partitioned-journal.js';

interface LeaseRow {
  owner: string | null;
  epoch: number;
  expiresAt: number;
  checkpoint: PartitionCursor;
}

/**
 * The nodes, leases and checkpoints of a partitioned journal, held in one process and judged
 * by one clock: what a backend without a database keeps its ownership in.
 */
export class LeaseTable {
  readonly #partitions: number;
  readonly #clock: Clock;
  readonly #onChange: () => void;
  /** Lease rows per consumer, one per partition. */
  readonly #leases = new Map<string, LeaseRow[]>();
  /** Heartbeat expiry per consumer and node. */
  readonly #nodes = new Map<string, Map<string, number>>();

  constructor(partitions: number, clock: Clock, onChange: () => void = () => {}) {
    this.#partitions = partitions;
    this.#clock = clock;
    this.#onChange = onChange;
  }

  /**
   * Records `node` as live for `ttlMs`; returns the live nodes. A node that is new, or back
   * after its heartbeat expired, has joined (`onChange`).
   */
  heartbeat(consumer: string, node: string, ttlMs: number): string[] {
    checkLeaseCall(consumer, node, ttlMs);
    this.#rows(consumer);
    const now = this.#clock.now();
    let nodes = this.#nodes.get(consumer);
    if (nodes === undefined) this.#nodes.set(consumer, (nodes = new Map<string, number>()));
    const before = nodes.get(node);
    const joined = before === undefined || before <= now;
    nodes.set(node, now + ttlMs);
    if (joined) this.#onChange();
    return [...nodes].filter(([, expiresAt]) => expiresAt > now).map(([name]) => name);
  }

  /** Forgets `node` at once. */
  leave(consumer: string, node: string): void {
    checkLeaseCall(consumer, node);
    this.#nodes.get(consumer)?.delete(node);
    this.#onChange();
  }

  /** Whether `take` would succeed now: the rows exist; free, expired or `node`'s own. */
  takeable(consumer: string, partition: number, node: string): boolean {
    checkLeaseCall(consumer, node);
    checkPartition(partition, this.#partitions);
    const row = this.#leases.get(consumer)?.[partition];
    if (row === undefined) return false;
    return row.owner === null || row.owner === node || row.expiresAt < this.#clock.now();
  }

  /** Whether any node holds a lease of `consumer` (live, or expired and not taken over). */
  held(consumer: string): boolean {
    return (this.#leases.get(consumer) ?? []).some((row) => row.owner !== null);
  }

  /** Takes the partition if free, expired or `node`'s own: the epoch grows by one. */
  take(
    consumer: string,
    partition: number,
    node: string,
    ttlMs: number,
  ): PartitionLease | undefined {
    checkLeaseCall(consumer, node, ttlMs);
    if (!this.takeable(consumer, partition, node)) return undefined;
    const row = this.#leases.get(consumer)?.[partition] as LeaseRow;
    const now = this.#clock.now();
    row.owner = node;
    row.epoch += 1;
    row.expiresAt = now + ttlMs;
    return { partition, epoch: row.epoch, checkpoint: row.checkpoint };
  }

  /** Extends the leases `node` still holds at these epochs; returns their partitions. */
  renew(
    consumer: string,
    node: string,
    leases: readonly PartitionLease[],
    ttlMs: number,
  ): number[] {
    checkLeaseCall(consumer, node, ttlMs);
    for (const lease of leases) checkLease(lease, this.#partitions);
    const renewed: number[] = [];
    const until = this.#clock.now() + ttlMs;
    for (const lease of leases) {
      const row = this.#held(consumer, node, lease);
      if (row === undefined) continue;
      row.expiresAt = until;
      renewed.push(lease.partition);
    }
    return renewed;
  }

  /** Frees the lease if `node` still holds it at that epoch; returns whether it did. */
  release(consumer: string, node: string, lease: PartitionLease): boolean {
    checkLeaseCall(consumer, node);
    checkLease(lease, this.#partitions);
    const row = this.#held(consumer, node, lease);
    if (row === undefined) return false;
    row.owner = null;
    this.#onChange();
    return true;
  }

  /**
   * Checks that `node` may still commit under `lease` (the owner at that epoch, else
   * LeaseLostError) and that `cursor` is one; then runs `commit` and, once it has, moves the
   * checkpoint.
   */
  async commit(
    consumer: string,
    node: string,
    lease: PartitionLease,
    cursor: PartitionCursor,
    commit: () => Promise<void> = () => Promise.resolve(),
  ): Promise<void> {
    checkLeaseCall(consumer, node);
    checkLease(lease, this.#partitions);
    checkCursor(cursor);
    const fence = (): void => {
      if (this.#held(consumer, node, lease) === undefined) {
        throw new LeaseLostError(consumer, lease.partition, lease.epoch);
      }
    };
    fence();
    await commit();
    // Taken over while `commit` ran: the new holder's checkpoint stands.
    fence();
    this.setCheckpoint(consumer, lease.partition, cursor);
  }

  /** Moves the checkpoint unfenced: a lease just taken starts from the journal's own. */
  setCheckpoint(consumer: string, partition: number, cursor: PartitionCursor): void {
    const row = this.#leases.get(consumer)?.[partition];
    if (row !== undefined) row.checkpoint = { tx: cursor.tx, position: cursor.position };
  }

  /** Each consumer's checkpoint on `partition` (consumers with rows only). */
  checkpoints(partition: number): PartitionCursor[] {
    return [...this.#leases.values()].map((rows) => (rows[partition] as LeaseRow).checkpoint);
  }

  /** The consumer's checkpoint on `partition`, or undefined before its first heartbeat. */
  checkpoint(consumer: string, partition: number): PartitionCursor | undefined {
    return this.#leases.get(consumer)?.[partition]?.checkpoint;
  }

  /** The consumers that have lease rows. */
  consumers(): string[] {
    return [...this.#leases.keys()];
  }

  /** Nodes and leases as `clusterStats` reports them; `lag(partition, checkpoint)` counts. */
  stats(
    consumer: string,
    lag: (partition: number, checkpoint: PartitionCursor) => number,
  ): {
    /** The live nodes. */
    nodes: ClusterNodeStats[];
    /** Every partition's lease. */
    leases: ClusterLeaseStats[];
  } {
    const now = this.#clock.now();
    const rows = this.#leases.get(consumer) ?? [];
    const leases = rows.map((row, partition) => ({
      partition,
      owner: row.owner,
      epoch: row.epoch,
      expiresInMs: row.owner === null ? null : Math.round(row.expiresAt - now),
      checkpoint: row.checkpoint.position,
      lag: lag(partition, row.checkpoint),
    }));
    const nodes = [...(this.#nodes.get(consumer) ?? [])]
      .filter(([, expiresAt]) => expiresAt > now)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([node, expiresAt]) => ({
        node,
        expiresInMs: Math.round(expiresAt - now),
        partitions: leases
          .filter((l) => l.owner === node && (l.expiresInMs ?? 0) > 0)
          .map((l) => l.partition),
      }));
    return { nodes, leases };
  }

  #rows(consumer: string): LeaseRow[] {
    let rows = this.#leases.get(consumer);
    if (rows === undefined) {
      rows = Array.from({ length: this.#partitions }, () => ({
        owner: null,
        epoch: 0,
        expiresAt: 0,
        checkpoint: PARTITION_START,
      }));
      this.#leases.set(consumer, rows);
    }
    return rows;
  }

  /**
   * The row, if `node` still holds it at the lease's epoch. Like the SQL fence, a lease that
   * expired but that nobody has taken yet still counts: no one else can have committed.
   */
  #held(consumer: string, node: string, lease: PartitionLease): LeaseRow | undefined {
    const row = this.#leases.get(consumer)?.[lease.partition];
    if (row === undefined || row.owner !== node || row.epoch !== lease.epoch) return undefined;
    return row;
  }
}
