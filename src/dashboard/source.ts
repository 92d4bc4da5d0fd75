/**
 * What the dashboard shows, and where it comes from. A pipeline running in this process
 * (`sluice demo --dashboard`, or your own service) gives everything: rates, latencies,
 * batch sizes, workers. A journal file watched from outside (`sluice dashboard journal.db`)
 * gives what the file holds: appends (the head), the checkpoint, lag and dead letters; its
 * rates come from how those move.
 */
import type { WriteBehind } from '../core/write-behind.js';
import type { HistogramSnapshot } from '../core/histogram.js';
import type { LaneStats } from '../core/write-behind.js';
import { DEFAULT_CONSUMER, MissingDependencyError } from '../index.js';
import type { DeadLetter } from '../journal/dead-letters.js';
import type { ConsumerStats, Journal } from '../journal/journal.js';
import type * as Prometheus from '../metrics/prometheus.js';
import type { Registry } from 'prom-client';

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
  deadLetters: number;
  journal: { head: number; entries: number; bytes: number; consumers: readonly ConsumerStats[] };
  /** Only for a pipeline in this process. */
  pipeline?: {
    batches: number;
    retried: number;
    /** How long the sink has been unable to take writes; 0 while it takes them. */
    unavailableForMs: number;
    outages: number;
    superseded: number;
    batchSize: HistogramSnapshot;
    flushLatencyMs: HistogramSnapshot;
    endToEndLatencyMs: HistogramSnapshot;
    workers: LaneStats[];
  };
}

export interface PrometheusText {
  contentType: string;
  body: string;
}

export interface DashboardSource {
  /** What is watched, for the page's title. */
  readonly title: string;
  sample(): Promise<DashboardSample>;
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

/** Watches a journal from outside: `consumer` is the checkpoint that counts as "in the sink". */
export async function journalSource(
  journal: Journal,
  title: string,
  consumer = DEFAULT_CONSUMER,
): Promise<DashboardSource> {
  const store = journal.deadLetters?.();
  const text = await registry((m) => m.journalCollectors(journal));
  return {
    title,
    async sample() {
      const [stats, deadLetters] = await Promise.all([
        journal.stats(),
        store?.count() ?? Promise.resolve(0),
      ]);
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
      };
    },
    deadLetters: async (limit) => (store === undefined ? [] : store.list({ limit })),
    prometheus: async () => text?.(),
  };
}
