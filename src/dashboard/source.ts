/**
 * What the dashboard shows, and where it comes from. A pipeline running in this process
 * (`sluice demo --dashboard`, or your own service) gives everything: rates, latencies,
 * batch sizes, workers. A journal file watched from outside (`sluice dashboard journal.db`)
 * gives what the file holds: appends (the head), the checkpoint, lag and dead letters; its
 * rates come from how those move. A cluster journal (PostgreSQL, shared by several nodes)
 * adds its nodes and partitions: who owns each, its checkpoint and lag (`cluster`).
 */
import type { WriteBehind } from '../core/write-behind.js';
import type { HistogramSnapshot } from '../core/histogram.js';
import type { LaneStats } from '../core/write-behind.js';
import { DEFAULT_CONSUMER, MissingDependencyError } from '../index.js';
import type { ClusterStats } from '../journal/cluster-stats.js';
import type { DeadLetter } from '../journal/dead-letters.js';
import type { ConsumerStats, Journal } from '../journal/journal.js';
import type * as Prometheus from '../metrics/prometheus.js';
import type { Registry } from 'prom-client';

/** The numbers the dashboard shows at one moment, from a {@link DashboardSource}. */
export interface DashboardSample {
  /** When it was taken, ms since the epoch. */
  t: number;
  /** Entries written (a pipeline: accepted by this process; a file: the journal head). */
  written: number;
  /** Entries in the sink (a pipeline: written by this process; a file: the checkpoint). */
  persisted: number;
  /** Entries appended and not yet in the sink or the dead letters. */
  backlog: number;
  /** Journal positions the checkpoint is behind the head. */
  lag: number;
  /** Dead letters kept. */
  deadLetters: number;
  /** The journal's own numbers (see `JournalStats`). */
  journal: {
    /** Position of the newest entry. */
    head: number;
    /** Entries retained. */
    entries: number;
    /** Storage used, in bytes. */
    bytes: number;
    /** Every consumer's checkpoint. */
    consumers: readonly ConsumerStats[];
  };
  /** Only for a cluster journal: its nodes and partitions, for the consumer watched. */
  cluster?: ClusterStats;
  /** Only for a pipeline in this process (see `WriteBehindMetrics`). */
  pipeline?: {
    /** Batches delivered. */
    batches: number;
    /** Sink writes retried during outages. */
    retried: number;
    /** How long the sink has been unable to take writes; 0 while it takes them. */
    unavailableForMs: number;
    /** Times the sink became unavailable. */
    outages: number;
    /** Entries a version-guarded sink did not apply: the row held a newer version. */
    superseded: number;
    /** Entries per batch. */
    batchSize: HistogramSnapshot;
    /** Time to deliver a batch, in ms. */
    flushLatencyMs: HistogramSnapshot;
    /** From `write()` to the sink, in ms. */
    endToEndLatencyMs: HistogramSnapshot;
    /** One entry per lane. */
    workers: LaneStats[];
  };
}

/** Prometheus exposition text, as `/metrics` serves it. */
export interface PrometheusText {
  /** The registry's content type, for the response header. */
  contentType: string;
  /** The metrics text. */
  body: string;
}

/**
 * Where a dashboard's numbers come from: {@link pipelineSource} for a pipeline in this
 * process, {@link journalSource} for a journal watched from outside, or your own.
 */
export interface DashboardSource {
  /** What is watched, for the page's title. */
  readonly title: string;
  /** The numbers now; called every `intervalMs`. */
  sample(): Promise<DashboardSample>;
  /** The oldest `limit` dead letters, for the page's table. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Prometheus text, or undefined when prom-client is not installed. */
  prometheus(): Promise<PrometheusText | undefined>;
}

/** prom-client is an optional peer: without it, /metrics says so instead of failing. */
async function registry(
  build: (m: typeof Prometheus) => Registry,
): Promise<(() => Promise<PrometheusText>) | undefined> {
  try {
    const reg = build(await import('../metrics/prometheus.js'));
    return async () => ({ contentType: reg.contentType, body: await reg.metrics() });
  } catch (error) {
    if (error instanceof MissingDependencyError) return undefined;
    throw error;
  }
}

/**
 * A source for a pipeline in this process: everything, rates, latencies and lanes included.
 * Prometheus text is served when prom-client is installed.
 */
export async function pipelineSource<V>(
  wb: WriteBehind<V>,
  title: string,
): Promise<DashboardSource> {
  const text = await registry((m) =>
    m.journalCollectors(wb.journal ?? { stats: () => wb.stats() }, {
      registry: m.prometheusRegistry(wb),
    }),
  );
  return {
    title,
    async sample() {
      const [stats, deadLetters] = await Promise.all([wb.stats(), wb.deadLetters.count()]);
      const m = wb.metrics();
      return {
        t: Date.now(),
        written: m.written,
        persisted: m.persisted,
        backlog: m.backlog,
        lag: m.lag,
        deadLetters,
        journal: stats,
        pipeline: {
          batches: m.batches,
          retried: m.retried,
          unavailableForMs: m.unavailableForMs,
          outages: m.outages,
          superseded: m.superseded,
          batchSize: m.batchSize,
          flushLatencyMs: m.flushLatencyMs,
          endToEndLatencyMs: m.endToEndLatencyMs,
          workers: m.workers,
        },
      };
    },
    deadLetters: (limit) => wb.deadLetters.list({ limit }),
    prometheus: async () => text?.(),
  };
}

/**
 * What {@link journalSource} watches: a Journal, or a cluster journal, which adds
 * `clusterStats` (a PostgresJournal).
 */
export type WatchedJournal = Pick<Journal, 'stats' | 'deadLetters'> & {
  /** Nodes, leases, checkpoints and lag per partition, dead letters, for `consumer`. */
  clusterStats?(consumer?: string): Promise<ClusterStats>;
};

/**
 * Watches a journal from outside: `consumer` is the checkpoint that counts as "in the sink".
 * For a cluster journal, the backlog and lag are the partitions' lag summed (positions have
 * gaps there, so the head minus a checkpoint counts no entries), and every sample carries
 * its `cluster` stats.
 */
export async function journalSource(
  journal: WatchedJournal,
  title: string,
  consumer = DEFAULT_CONSUMER,
): Promise<DashboardSource> {
  const store = journal.deadLetters?.();
  const text = await registry((m) => m.journalCollectors(journal));
  return {
    title,
    async sample() {
      const [stats, cluster] = await Promise.all([
        journal.stats(),
        journal.clusterStats?.(consumer),
      ]);
      const deadLetters = cluster?.deadLetters ?? (await store?.count()) ?? 0;
      // A cluster journal whose consumer has leases: its partitions say what is pending.
      if (cluster !== undefined && cluster.leases.length > 0) {
        const lag = cluster.leases.reduce((sum, l) => sum + l.lag, 0);
        return {
          t: Date.now(),
          written: stats.head,
          persisted: Math.max(0, stats.head - lag),
          backlog: lag,
          lag,
          deadLetters,
          journal: stats,
          cluster,
        };
      }
      const checkpoint = (
        stats.consumers.find((c) => c.consumer === consumer) ?? {
          position: Math.min(...stats.consumers.map((c) => c.position), stats.head),
        }
      ).position;
      return {
        t: Date.now(),
        written: stats.head,
        persisted: checkpoint,
        backlog: stats.head - checkpoint,
        lag: stats.head - checkpoint,
        deadLetters,
        journal: stats,
        ...(cluster === undefined ? {} : { cluster }),
      };
    },
    deadLetters: async (limit) => (store === undefined ? [] : store.list({ limit })),
    prometheus: async () => text?.(),
  };
}
