/**
 * Coordinator: decides which partitions of a shared journal this node works, and keeps
 * their leases. PostgreSQL's row locks and the leases' epochs carry the safety; the
 * coordinator only decides who asks for what.
 *
 * Every `leaseMs / 4` (and at once when a node joins, leaves or releases a lease) one tick:
 * 1. heartbeat: this node is live for `leaseMs`; the answer is every live node;
 * 2. renew the leases held; one not renewed was taken over: its pipeline stops (`lost`);
 * 3. the partitions this node should hold: rendezvous hashing over the live nodes, bounded
 *    to an even share (`assign`; every node computes the same answer, and a join or leave
 *    moves few partitions besides the ones that must move);
 * 4. a partition held and no longer wanted is handed over: its pipeline finishes what it
 *    read, commits, and the lease is released (the new owner takes it on its next tick);
 * 5. a wanted partition is taken if free or expired, and its pipeline started.
 *
 * Self-fencing: a node that has not renewed for most of `leaseMs` (paused, cut off from the
 * database) stops working every partition on its own, before another node can take them.
 */
import {
  mixedHash,
  type PartitionLease,
  type PartitionedJournal,
} from '../journal/partitioned-journal.js';

/** Stop working a partition this long before its lease could expire (share of `leaseMs`). */
const FENCE_MARGIN = 0.2;

/**
 * Why a node stopped working a partition: `rebalance` (handed to another node), `close` (the
 * node closed), `lost` (the lease expired or was taken over), `failed` (its pipeline stopped
 * on its own, say the journal could not be read; the node takes it again on its next tick).
 */
export type ReleaseReason = 'rebalance' | 'close' | 'lost' | 'failed';

export interface CoordinatorHooks {
  /** Start working a partition just leased. */
  start(lease: PartitionLease): Promise<void>;
  /**
   * Stop working a partition: `rebalance` and `close` finish what was read first; `lost`
   * stops at once (the lease is gone or about to be). Resolves once nothing more commits.
   */
  stop(lease: PartitionLease, reason: ReleaseReason): Promise<void>;
  /** A tick failed (the database could not be reached); the next one tries again. */
  failed(error: unknown): void;
}

export class Coordinator {
  readonly #journal: PartitionedJournal;
  readonly #consumer: string;
  readonly #node: string;
  readonly #leaseMs: number;
  readonly #hooks: CoordinatorHooks;
  readonly #held = new Map<number, PartitionLease>();
  /** Per lease: until when (performance.now()) it is safe to work, from its last renewal. */
  readonly #validUntil = new WeakMap<PartitionLease, number>();
  /** Partitions being handed over or stopped: not renewed as wanted, not taken again. */
  readonly #leaving = new Set<number>();
  readonly #stopping = new Set<Promise<void>>();
  #ticking: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #fence: NodeJS.Timeout | undefined;
  /** Closing: no partition is taken or handed over by a tick; leases are still renewed. */
  #closing = false;
  /** Closed: no more ticks. */
  #closed = false;
  readonly #unsubscribe: () => void;

  constructor(
    journal: PartitionedJournal,
    consumer: string,
    node: string,
    leaseMs: number,
    hooks: CoordinatorHooks,
  ) {
    this.#journal = journal;
    this.#consumer = consumer;
    this.#node = node;
    this.#leaseMs = leaseMs;
    this.#hooks = hooks;
    this.#unsubscribe = journal.onMembership(() => this.tick());
  }

  /** The partitions this node works now. */
  get owned(): number[] {
    return [...this.#held.keys()].filter((p) => !this.#leaving.has(p)).sort((a, b) => a - b);
  }

  /** Runs the first tick (rejects if the database cannot be reached), then ticks on a timer. */
  async start(): Promise<void> {
    const first = this.#tick();
    this.#ticking = first.then(
      () => {},
      () => {},
    );
    try {
      await first;
    } finally {
      this.#ticking = undefined;
    }
    this.#schedule();
    if (this.#again) {
      this.#again = false;
      this.tick();
    }
  }

  /** A tick soon (one at a time; a request during one runs another after it). */
  tick(): void {
    if (this.#closed) return;
    if (this.#ticking !== undefined) {
      this.#again = true;
      return;
    }
    this.#ticking = this.#tick()
      .catch((error: unknown) => this.#hooks.failed(error))
      .finally(() => {
        this.#ticking = undefined;
        if (this.#again) {
          this.#again = false;
          this.tick();
        }
      });
  }

  /**
   * Hands every partition over (finishing what was read), releases them, leaves. The leases
   * are still renewed meanwhile: a handover that takes a while keeps its partitions.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#unsubscribe();
    await this.#ticking;
    // Out of the live nodes first: the others take each partition as soon as it is released.
    await this.#journal
      .leave(this.#consumer, this.#node)
      .catch((error: unknown) => this.#hooks.failed(error));
    const handovers = [...this.#held.values()]
      .filter((lease) => !this.#leaving.has(lease.partition))
      .map((lease) => this.#handOver(lease, 'close'));
    await Promise.all(handovers);
    while (this.#stopping.size > 0) await Promise.all(this.#stopping);
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#fence);
    await this.#ticking;
  }

  /** Whether `lease` is still held (not lost, handed over or being let go). */
  holds(lease: PartitionLease): boolean {
    return this.#held.get(lease.partition) === lease && !this.#leaving.has(lease.partition);
  }

  /**
   * A partition's pipeline found its lease gone (a fenced commit): stop it as lost. Returns
   * false when the coordinator had already let that lease go.
   */
  lost(lease: PartitionLease, reason: 'lost' | 'failed' = 'lost'): boolean {
    if (!this.holds(lease)) return false;
    this.#drop(lease, reason);
    return true;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.tick();
      this.#schedule();
    }, this.#leaseMs / 4);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const started = performance.now();
    // Closing: renewals only (the node has left the live nodes).
    const live = this.#closing
      ? []
      : await this.#journal.heartbeat(this.#consumer, this.#node, this.#leaseMs);
    const held = [...this.#held.values()];
    const kept = new Set(
      await this.#journal.renewLeases(this.#consumer, this.#node, held, this.#leaseMs),
    );
    // Renewed from before the request was sent: the database's expiry is later than this.
    for (const lease of held) {
      if (kept.has(lease.partition)) this.#validUntil.set(lease, this.#safeUntil(started));
    }
    this.#armFence();
    for (const lease of held) {
      if (!kept.has(lease.partition) && this.#held.get(lease.partition) === lease) {
        this.#drop(lease, 'lost');
      }
    }
    if (this.#closing) return;
    const wanted = assign(live, this.#journal.partitions, this.#node);
    for (const lease of this.#held.values()) {
      if (!wanted.has(lease.partition) && !this.#leaving.has(lease.partition)) {
        void this.#handOver(lease, 'rebalance');
      }
    }
    const free = [...wanted].filter(
      // Held, or still being let go (its pipeline may yet be stopping): not taken now.
      (p) => !this.#held.has(p) && !this.#leaving.has(p) && !this.#closing,
    );
    // Taken and started together: a node taking over many partitions does it in one go.
    const failures: unknown[] = [];
    await Promise.all(
      free.map(async (partition) => {
        const asked = performance.now();
        const lease = await this.#journal.takeLease(
          this.#consumer,
          partition,
          this.#node,
          this.#leaseMs,
        );
        if (lease === undefined) return; // another node still holds it; it hands it over
        this.#held.set(partition, lease);
        this.#validUntil.set(lease, this.#safeUntil(asked));
        this.#armFence();
        try {
          await this.#hooks.start(lease);
        } catch (error) {
          this.#held.delete(partition);
          await this.#journal.releaseLease(this.#consumer, this.#node, lease).catch(() => {});
          failures.push(error);
        }
      }),
    );
    if (failures.length > 0) throw failures[0];
  }

  /** Finish the partition's work, then release its lease. */
  async #handOver(lease: PartitionLease, reason: 'rebalance' | 'close'): Promise<void> {
    this.#leaving.add(lease.partition);
    const done = (async () => {
      try {
        await this.#hooks.stop(lease, reason);
        await this.#journal.releaseLease(this.#consumer, this.#node, lease);
      } catch (error) {
        this.#hooks.failed(error);
      } finally {
        if (this.#held.get(lease.partition) === lease) this.#held.delete(lease.partition);
        this.#leaving.delete(lease.partition);
      }
    })();
    this.#stopping.add(done);
    await done;
    this.#stopping.delete(done);
  }

  /** Stop working a partition whose lease is gone (or may be): nothing more commits. */
  #drop(lease: PartitionLease, reason: 'lost' | 'failed'): void {
    this.#held.delete(lease.partition);
    this.#leaving.add(lease.partition);
    const done = this.#hooks
      .stop(lease, reason)
      .catch((error: unknown) => this.#hooks.failed(error))
      .finally(() => {
        this.#leaving.delete(lease.partition);
        this.#stopping.delete(done);
      });
    this.#stopping.add(done);
  }

  /** When a lease taken or renewed at `asked` must stop being worked, by our own clock. */
  #safeUntil(asked: number): number {
    return asked + this.#leaseMs * (1 - FENCE_MARGIN);
  }

  /**
   * One timer at the earliest lease deadline: a lease not renewed by then (a slow or lost
   * database, a paused process) is stopped on our own, before another node can take it.
   */
  #armFence(): void {
    clearTimeout(this.#fence);
    let next = Infinity;
    for (const lease of this.#held.values()) {
      // A partition being handed over is bounded by its handover, and renewed meanwhile.
      if (this.#leaving.has(lease.partition)) continue;
      next = Math.min(next, this.#validUntil.get(lease) ?? -Infinity);
    }
    if (next === Infinity) return;
    this.#fence = setTimeout(
      () => {
        const now = performance.now();
        for (const lease of [...this.#held.values()]) {
          if (
            (this.#validUntil.get(lease) ?? -Infinity) <= now &&
            !this.#leaving.has(lease.partition)
          ) {
            this.#drop(lease, 'lost');
          }
        }
        this.#armFence();
      },
      Math.max(0, next - performance.now()),
    );
    this.#fence.unref();
  }
}

/**
 * The partitions `node` should hold. Each partition goes to the live node that ranks it
 * highest (rendezvous: `hash(node, partition)`), unless that node already has its even share
 * (`partitions / nodes`, rounded down or, for the first nodes to get there, up); then to the
 * next in its ranking. Partitions are placed in
 * order, so every node computes the same assignment, shares differ by one at most, and a
 * node joining or leaving moves few partitions besides its own.
 */
export function assign(live: readonly string[], partitions: number, node: string): Set<number> {
  const nodes = [...new Set(live)].sort();
  // Every node gets `base`; `extra` of them one more.
  const base = Math.floor(partitions / Math.max(1, nodes.length));
  let extra = partitions - base * nodes.length;
  const load = new Map(nodes.map((n) => [n, 0]));
  const mine = new Set<number>();
  for (let p = 0; p < partitions; p++) {
    const ranked = nodes
      .map((candidate) => ({ candidate, score: mixedHash(`${candidate}\u0000${p}`) }))
      .sort((a, b) => b.score - a.score || (a.candidate < b.candidate ? -1 : 1));
    const owner = ranked.find((r) => {
      const held = load.get(r.candidate) as number;
      return held < base || (held === base && extra > 0);
    })?.candidate;
    if (owner === undefined) continue;
    const held = load.get(owner) as number;
    if (held === base) extra--;
    load.set(owner, held + 1);
    if (owner === node) mine.add(p);
  }
  return mine;
}
