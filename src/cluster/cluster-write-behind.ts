/**
 * ClusterWriteBehind: the pipeline on one node of many sharing a PartitionedJournal
 * (PostgresJournal). Every node runs the same code: `WriteBehind.open({ journal, sink })`.
 *
 * - **Writes** go straight into the shared journal (one group commit per event-loop turn)
 *   and resolve once committed, whichever node will deliver them. At most `maxBacklog`
 *   entries are on their way into the journal at once; past that `write` waits, or rejects
 *   under `overflow: 'reject'`. The backlog itself lives in the database.
 * - **Work**: the Coordinator leases this node its share of the partitions; each leased
 *   partition is worked by a single-process WriteBehind over a PartitionView, so lanes,
 *   batching, retries, dead letters and the watermark are the same code as on one machine.
 *   Each partition's pipeline gets an even share of the memory bounds (`maxBacklog /
 *   partitions`, `maxBacklogBytes / partitions`).
 * - **Delivery** is at least once across nodes: a partition taken over resumes from its
 *   last committed checkpoint, so the new owner may deliver again what the old one wrote
 *   but did not commit. Sinks are idempotent by entry id, and a version-guarded sink never
 *   lets a late write of an old owner put an older value over a newer one. Checkpoint
 *   commits are fenced by the lease's epoch (LeaseLostError).
 * - **close()** finishes what each partition's pipeline read, commits, releases every lease
 *   at once and leaves, so the other nodes take the partitions over in well under a second.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  ClosedError,
  ConfigError,
  DeadLetteredError,
  InputError,
  QueueFullError,
  show,
} from '../errors.js';
import type { Encodable, Payload } from '../journal/codec.js';
import type { Sink, SinkFence } from '../sink/sink.js';
import type { DeadLetterStore } from '../journal/dead-letters.js';
import type { JournalRecord, JournalStats } from '../journal/journal.js';
import type { PartitionLease, PartitionedJournal } from '../journal/partitioned-journal.js';
import { resolveCloseOptions } from '../core/close-options.js';
import { Emitter } from '../core/events.js';
import { integerOption, knownOptions, stringOption } from '../core/options.js';
import { sleep, systemClock } from '../core/clock.js';
import { WriteBehind } from '../core/write-behind.js';
import type { WriteBehindOptions } from '../core/write-behind/options.js';
import {
  WRITE_BEHIND_OPTIONS,
  resolveWriteBehindOptions,
  resolveWriteOptions,
} from '../core/write-behind/options.js';
import type {
  WriteBehindEvents,
  WriteBehindMetrics,
  WriteEntry,
  WriteOptions,
} from '../core/write-behind/types.js';
import { Coordinator, type ReleaseReason } from './coordinator.js';
import { PartitionView } from './partition-view.js';

/** Options of the pipeline over a shared journal: WriteBehind's, and the lease's. */
export interface ClusterWriteBehindOptions<V> extends Omit<WriteBehindOptions<V>, 'journal'> {
  /** The shared journal (`PostgresJournal.open(...)` from `sluice/postgres`). */
  journal: PartitionedJournal;
  /**
   * How long a partition's lease lasts without renewal: a crashed node's partitions move
   * after about this long. Renewed every quarter of it. @default 10000
   */
  leaseMs?: number;
  /** This node's name, unique among the nodes. @default `<host>:<pid>:<random>` */
  node?: string;
  /**
   * Lanes of each partition's pipeline. A node works its partitions in parallel already,
   * so one lane each keeps batches large. @default 1
   */
  workers?: number;
}

/** The events of a node: WriteBehind's (from its partitions' pipelines), and the leases'. */
export interface ClusterWriteBehindEvents extends WriteBehindEvents {
  /** This node took a partition's lease and started working it. */
  'partition:acquired': {
    /** The partition. */
    partition: number;
    /** Its lease's epoch. */
    epoch: number;
  };
  /** This node stopped working a partition. */
  'partition:released': {
    /** The partition. */
    partition: number;
    /** The epoch it held. */
    epoch: number;
    /**
     * `rebalance`: handed to another node; `close`: this node closed; `lost`: the lease
     * expired or was taken over (paused, cut off from the database).
     */
    reason: ReleaseReason;
  };
  /** A lease tick failed (the database could not be reached); it is tried again. */
  'cluster:error': {
    /** What failed. */
    error: unknown;
  };
}

/** A node's counts: WriteBehind's, summed over the partitions it works and has worked. */
export interface ClusterMetrics extends Pick<
  WriteBehindMetrics,
  | 'written'
  | 'persisted'
  | 'superseded'
  | 'duplicates'
  | 'retried'
  | 'deadLettered'
  | 'batches'
  | 'backlog'
  | 'backlogBytes'
> {
  /** This node's name. */
  node: string;
  /** The partitions it works now. */
  partitions: number[];
  /** Appends on their way into the journal now. */
  appending: number;
}

const CLUSTER_KNOWN = ['leaseMs', 'node'] as const;
const SUMMED = [
  'persisted',
  'superseded',
  'duplicates',
  'retried',
  'deadLettered',
  'batches',
] as const;
/** Polling `writeAndWait` and `flush`: from this, doubling, up to WAIT_POLL_MAX_MS. */
const WAIT_POLL_MIN_MS = 5;
const WAIT_POLL_MAX_MS = 200;

interface Worked<V> {
  readonly view: PartitionView;
  readonly wb: WriteBehind<V>;
  /** Resolves once no sink write of this partition is in flight. */
  readonly settled: () => Promise<void>;
  /** Set once its pipeline is being stopped. */
  stopping?: Promise<void>;
}

/** The pipeline of one node over a shared journal; see the module doc. */
export class ClusterWriteBehind<V> extends Emitter<ClusterWriteBehindEvents> {
  /** This node's name. */
  readonly node: string;
  /** The shared journal (its owner closes it). */
  readonly journal: PartitionedJournal;
  /** The dead letters every node shares: list, replay into the journal, purge. */
  readonly deadLetters: DeadLetterStore;
  readonly #options: ClusterWriteBehindOptions<V>;
  readonly #consumer: string;
  readonly #maxBacklog: number;
  readonly #maxEntryBytes: number;
  readonly #overflow: 'wait' | 'reject';
  readonly #coordinator: Coordinator;
  readonly #leaseMs: number;
  readonly #worked = new Map<number, Worked<V>>();
  readonly #retired: Record<(typeof SUMMED)[number], number> = {
    persisted: 0,
    superseded: 0,
    duplicates: 0,
    retried: 0,
    deadLettered: 0,
    batches: 0,
  };
  #written = 0;
  #appending = 0;
  #roomWaiters: (() => void)[] = [];
  #closing: Promise<void> | undefined;
  readonly #unsubscribe: () => void;

  private constructor(options: ClusterWriteBehindOptions<V>, leaseMs: number, node: string) {
    super();
    const { journal } = options;
    this.journal = journal;
    this.node = node;
    this.#leaseMs = leaseMs;
    this.#options = options;
    const { leaseMs: _l, node: _n, journal: _j, ...shared } = options;
    const o = resolveWriteBehindOptions({ ...shared, journal: 'memory' });
    this.#consumer = o.consumer;
    this.#maxBacklog = o.maxBacklog;
    this.#maxEntryBytes = o.maxEntryBytes;
    this.#overflow = o.overflow;
    this.deadLetters = o.deadLetters ?? journal.deadLetters();
    this.#coordinator = new Coordinator(journal, o.consumer, node, leaseMs, {
      start: (lease) => this.#startPartition(lease),
      stop: (lease, reason) => this.#stopPartition(lease, reason),
      failed: (error) => this.emit('cluster:error', { error }),
    });
    this.#unsubscribe = journal.onAppend((partitions) => {
      if (partitions.length === 0) for (const w of this.#worked.values()) w.view.notify();
      else for (const p of partitions) this.#worked.get(p)?.view.notify();
    });
  }

  /** Joins the cluster: takes this node's share of the partitions, then resolves. */
  static async open<V extends Encodable<V>>(
    options: ClusterWriteBehindOptions<V>,
  ): Promise<ClusterWriteBehind<V>> {
    const o = knownOptions('WriteBehind.open() options', options, [
      ...CLUSTER_KNOWN,
      ...WRITE_BEHIND_OPTIONS,
    ]);
    const leaseMs = integerOption('leaseMs', o.leaseMs, 10_000, 100);
    if (o.coalesce === true && (o.sink as { exactlyOnce?: unknown }).exactlyOnce === true) {
      throw new ConfigError(
        'coalesce',
        'false with an exactly-once sink (an entry coalesced away would never be marked as written)',
        true,
      );
    }
    const node = stringOption(
      'node',
      o.node,
      `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    );
    const wb = new ClusterWriteBehind<V>(options, leaseMs, node);
    try {
      await wb.#coordinator.start();
    } catch (error) {
      await wb.close().catch(() => {});
      throw error;
    }
    const early = wb.#early ?? [];
    wb.#early = undefined;
    // After the caller's continuation, which adds its listeners.
    setImmediate(() => {
      for (const acquired of early) wb.emit('partition:acquired', acquired);
    });
    return wb;
  }

  /** The partitions this node works now. */
  owned(): number[] {
    return this.#coordinator.owned;
  }

  /** Resolves with the entry's journal position once it is committed in the shared journal. */
  async write(key: string, value: V, options: WriteOptions = {}): Promise<number> {
    const id = resolveWriteOptions(options);
    const record = { key, payload: value as Payload, ...(id === undefined ? {} : { id }) };
    const [position] = await this.#append([record]);
    return position as number;
  }

  /** Many entries in one append (one transaction): all durable when it resolves, or none. */
  async writeMany(entries: readonly WriteEntry<V>[]): Promise<number[]> {
    if (!Array.isArray(entries)) {
      throw new InputError(`writeMany() takes an array of entries, got ${show(entries)}`);
    }
    if (entries.length > this.#maxBacklog) {
      throw new InputError(
        `writeMany() of ${entries.length} entries exceeds maxBacklog (${this.#maxBacklog}): split it`,
      );
    }
    const records = entries.map((e: WriteEntry<V>, i) => {
      if (typeof e !== 'object' || e === null) {
        throw new InputError(`entries[${i}] must be { key, value, id? }, got ${show(e)}`);
      }
      return {
        key: e.key,
        payload: e.value as Payload,
        ...(e.id === undefined ? {} : { id: e.id }),
      };
    });
    if (records.length === 0) return [];
    return this.#append(records);
  }

  /**
   * Resolves once the entry is through its partition's pipeline on whichever node works it;
   * rejects with DeadLetteredError if it went to the dead letters.
   */
  async writeAndWait(key: string, value: V, options: WriteOptions = {}): Promise<number> {
    const position = await this.write(key, value, options);
    let delay = WAIT_POLL_MIN_MS;
    for (;;) {
      this.#assertOpen();
      const state = await this.journal.entryState(this.#consumer, position);
      if (state.state === 'deadLettered') {
        throw new DeadLetteredError(position, key, new Error(state.error));
      }
      if (state.state !== 'pending') return position;
      await sleep(systemClock, delay);
      delay = Math.min(delay * 2, WAIT_POLL_MAX_MS);
    }
  }

  /**
   * Sends this node's batches now, and resolves once every entry stored when it was called
   * is through its partition's pipeline, on any node.
   */
  async flush(): Promise<void> {
    this.#assertOpen();
    const { head } = await this.journal.stats();
    let delay = WAIT_POLL_MIN_MS;
    for (;;) {
      await Promise.all([...this.#worked.values()].map((w) => w.wb.flush().catch(() => {})));
      if ((await this.journal.pendingUpTo(this.#consumer, head)) === 0) return;
      this.#assertOpen();
      await sleep(systemClock, delay);
      delay = Math.min(delay * 2, WAIT_POLL_MAX_MS);
    }
  }

  /** The shared journal's head, size and checkpoints. */
  stats(): Promise<JournalStats> {
    return this.journal.stats();
  }

  /** This node's counts now (see ClusterMetrics). */
  metrics(): ClusterMetrics {
    const sum = { ...this.#retired };
    let backlog = 0;
    let backlogBytes = 0;
    for (const { wb } of this.#worked.values()) {
      const m = wb.metrics();
      for (const name of SUMMED) sum[name] += m[name];
      backlog += m.backlog;
      backlogBytes += m.backlogBytes;
    }
    return {
      node: this.node,
      partitions: this.owned(),
      written: this.#written,
      appending: this.#appending,
      ...sum,
      backlog,
      backlogBytes,
    };
  }

  /**
   * Stops taking writes, finishes what each partition's pipeline read (within
   * `deadlineMs`), commits, releases every lease and leaves the cluster.
   */
  close(options?: { deadlineMs?: number }): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    try {
      const { deadlineMs } = resolveCloseOptions('WriteBehind.close() options', options);
      this.#closeDeadlineMs = deadlineMs;
    } catch (error) {
      return Promise.reject(error);
    }
    for (const wake of this.#roomWaiters.splice(0)) wake();
    this.#closing = (async () => {
      await this.#coordinator.close();
      this.#unsubscribe();
    })();
    return this.#closing;
  }

  /** `close()` with no deadline, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #closeDeadlineMs = Infinity;
  /** Partitions acquired while opening, announced once `open()` has resolved. */
  #early: ClusterWriteBehindEvents['partition:acquired'][] | undefined = [];

  async #append(records: JournalRecord[]): Promise<number[]> {
    this.#assertOpen();
    const n = records.length;
    while (this.#appending > 0 && this.#appending + n > this.#maxBacklog) {
      if (this.#overflow === 'reject')
        throw new QueueFullError('the journal append queue', this.#maxBacklog);
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      this.#assertOpen();
    }
    this.#appending += n;
    try {
      const positions = await this.journal.append(records, { maxRecordBytes: this.#maxEntryBytes });
      this.#written += n;
      return positions;
    } finally {
      this.#appending -= n;
      const waiters = this.#roomWaiters.splice(0);
      for (const wake of waiters) wake();
    }
  }

  async #startPartition(lease: PartitionLease): Promise<void> {
    const o = this.#options;
    const share = (total: number | undefined, fallback: number): number =>
      Math.max(1, Math.ceil((total ?? fallback) / this.journal.partitions));
    const lanes = o.workers ?? 1;
    const fenced = fencedSink(o.sink, {
      journalId: this.journal.id,
      consumer: this.#consumer,
      partition: lease.partition,
      node: this.node,
      epoch: lease.epoch,
    });
    const view = new PartitionView(this.journal, lease, this.#consumer, this.node, () => {
      // Already let go by the coordinator, or never fully started: stop it here.
      if (!this.#coordinator.lost(lease)) void this.#stopPartition(lease, 'lost');
    });
    const { leaseMs: _l, node: _n, journal: _j, ...rest } = o;
    // open() bound V by Encodable already; the partition's pipeline takes the same values.
    const options = {
      ...(rest as Omit<WriteBehindOptions<V>, 'journal'>),
      sink: fenced.sink,
      journal: view,
      workers: lanes,
      // Read ahead two batches per lane at most: a handover finishes little more than the
      // batches in flight.
      maxBacklog: Math.min(share(o.maxBacklog, 100_000), 2 * lanes * (o.batch?.maxSize ?? 500)),
      maxBacklogBytes: share(o.maxBacklogBytes, 64 * 1024 * 1024),
      retain: o.retain === Infinity ? Infinity : share(o.retain, 100_000),
      deadLetters: view.deadLetters(o.deadLetters),
    };
    const wb = (await WriteBehind.open(
      options as unknown as WriteBehindOptions<Payload>,
    )) as unknown as WriteBehind<V>;
    this.#forward(wb, view);
    this.#worked.set(lease.partition, { view, wb, settled: fenced.settled });
    const acquired = { partition: lease.partition, epoch: lease.epoch };
    // While opening, held back: listeners added once `open()` resolves see the first ones.
    if (this.#early !== undefined) this.#early.push(acquired);
    else this.emit('partition:acquired', acquired);
    // Lost while the pipeline was opening (the coordinator's stop found nothing to stop).
    if (!this.#coordinator.holds(lease)) await this.#stopPartition(lease, 'lost');
  }

  /** Stops a partition's pipeline once (a second call waits for the first). */
  #stopPartition(lease: PartitionLease, reason: ReleaseReason): Promise<void> {
    const worked = this.#worked.get(lease.partition);
    if (worked === undefined || worked.view.lease !== lease) return Promise.resolve();
    // Lost during a handover: nothing more is read; what is running ends on its deadline.
    if (worked.stopping !== undefined && reason !== 'rebalance' && reason !== 'close') {
      void worked.view.close();
    }
    worked.stopping ??= this.#stop(worked, lease, reason);
    return worked.stopping;
  }

  async #stop(worked: Worked<V>, lease: PartitionLease, reason: ReleaseReason): Promise<void> {
    const lost = reason === 'lost' || reason === 'failed';
    // Lost: nothing it reads or writes counts any more; a read in flight ends at once.
    if (lost) await worked.view.close();
    try {
      // A handover finishes the batches read, within half a lease (renewed meanwhile); what
      // is left waits in the journal for the next owner.
      const deadlineMs = lost ? 0 : Math.min(this.#closeDeadlineMs, this.#leaseMs / 2);
      await worked.wb.close({ deadlineMs });
      // A write the pipeline gave up on may still be running in the database: the lease is
      // released only once it has landed, so the next owner's writes come after it.
      if (!lost) await worked.settled();
    } catch (error) {
      // The partition is let go anyway (its entries wait in the journal for the next owner).
      // A pipeline that failed on its own was reported already (pipeline:failed).
      if (reason !== 'failed') this.emit('cluster:error', { error });
    } finally {
      const m = worked.wb.metrics();
      for (const name of SUMMED) this.#retired[name] += m[name];
      await worked.view.close();
      if (this.#worked.get(lease.partition) === worked) this.#worked.delete(lease.partition);
      this.emit('partition:released', { partition: lease.partition, epoch: lease.epoch, reason });
    }
  }

  /** Passes a partition pipeline's events on, with journal positions, not ordinals. */
  #forward(wb: WriteBehind<V>, view: PartitionView): void {
    const names: (keyof WriteBehindEvents)[] = [
      'batch:flushed',
      'sink:retry',
      'sink:unavailable',
      'sink:available',
      'deadLetters:retry',
      'journal:readFailed',
      'checkpoint:failed',
      'pipeline:failed',
    ];
    for (const name of names) {
      wb.on(name, (payload) => this.emit(name, payload as never));
    }
    // A pipeline that stopped on its own (the journal could not be read): let the partition
    // go; the next tick takes it again.
    wb.on('pipeline:failed', () => void this.#coordinator.lost(view.lease, 'failed'));
    wb.on('entry:deadLettered', (payload) =>
      this.emit('entry:deadLettered', {
        ...payload,
        position: view.realPosition(payload.position),
      }),
    );
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) {
      throw new ClosedError('write-behind is closed: the write was not accepted');
    }
  }
}

/**
 * The sink as a partition's pipeline calls it: every write carries the partition's lease
 * (`SinkContext.fence`), and the writes in flight are known, so a handover can wait for
 * the last one to land before the lease goes; closing is left to the sink's owner.
 */
function fencedSink<V>(
  sink: Sink<V>,
  fence: SinkFence,
): { sink: Sink<V>; settled: () => Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  return {
    sink: {
      writeBatch: (entries, context) => {
        const write = sink.writeBatch(entries, { ...context, fence });
        inFlight.add(write);
        const forget = (): void => void inFlight.delete(write);
        write.then(forget, forget);
        return write;
      },
      classify: (error) => sink.classify(error),
      close: () => Promise.resolve(),
    },
    settled: async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
