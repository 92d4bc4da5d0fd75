/**
 * `sluice/prometheus`: a WriteBehind's metrics in Prometheus text, through prom-client.
 *
 * The values are read from `wb.metrics()` when the registry is scraped, so nothing is
 * added to the write path. Counters end in `_total`; latency and batch-size quantiles over
 * recent batches are gauges with a `quantile` label, as a summary's would be.
 *
 * ```ts
 * const registry = prometheusRegistry(wb);
 * http.createServer(async (req, res) => res.end(await registry.metrics())).listen(9464);
 * ```
 *
 * @module sluice/prometheus
 */
import type PromClient from 'prom-client';
import { knownOptions, objectOption, requireOptional, serviceOption } from '../backend.js';

const { Counter, Gauge, Registry } = requireOptional<typeof PromClient>(
  'prom-client',
  'sluice/prometheus',
);
import type { WriteBehindMetrics } from '../core/write-behind.js';
import { ConfigError } from '../errors.js';
import type { Journal } from '../journal/journal.js';

/** Options of {@link prometheusRegistry} and {@link journalCollectors}. */
export interface PrometheusOptions {
  /** Register into this registry instead of a new one. */
  registry?: PromClient.Registry;
  /** Metric name prefix. @default 'sluice_' */
  prefix?: string;
  /** Labels on every metric (e.g. which pipeline). */
  labels?: Record<string, string>;
}

const METRIC_PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The one resolver of `PrometheusOptions`; sets the labels on the registry it returns. */
function resolve(options: unknown): { registry: PromClient.Registry; prefix: string } {
  const o = knownOptions('Prometheus options', options, ['registry', 'prefix', 'labels']);
  const registry =
    o.registry === undefined
      ? new Registry()
      : serviceOption<PromClient.Registry>('registry', o.registry, [
          'registerMetric',
          'metrics',
          'setDefaultLabels',
        ]);
  const prefix = o.prefix ?? 'sluice_';
  if (typeof prefix !== 'string' || !METRIC_PREFIX.test(prefix)) {
    throw new ConfigError(
      'prefix',
      'a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
      prefix,
    );
  }
  const labels = objectOption('labels', o.labels);
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new ConfigError(
        'labels',
        'label names of [a-zA-Z_][a-zA-Z0-9_]* (no leading __)',
        name,
      );
    }
    if (typeof value !== 'string') throw new ConfigError(`labels.${name}`, 'a string', value);
  }
  if (Object.keys(labels).length > 0) registry.setDefaultLabels(labels);
  return { registry, prefix };
}

/** Anything with a metrics snapshot: a WriteBehind. */
export interface HasMetrics {
  /** The snapshot to report; called once per scrape. */
  metrics(): WriteBehindMetrics;
}

/**
 * A prom-client registry with a pipeline's metrics, read from `source.metrics()` once per
 * scrape: counters (`writes_total`, `persisted_total`, `retries_total`, `dead_lettered_total`,
 * `batches_total`...), gauges (`backlog`, `backlog_bytes`, `checkpoint_lag`,
 * `sink_unavailable_seconds`) and quantile gauges (`batch_size`, `flush_latency_ms`,
 * `end_to_end_latency_ms`), each name after `prefix`. Throws ConfigError for a bad option
 * (a prefix or label name Prometheus does not allow).
 */
export function prometheusRegistry(
  source: HasMetrics,
  options: PrometheusOptions = {},
): PromClient.Registry {
  const { registry, prefix } = resolve(options);
  let snapshot: WriteBehindMetrics | undefined;
  // One snapshot per scrape, taken by whichever collector runs first.
  const read = (): WriteBehindMetrics => (snapshot ??= source.metrics());
  const scraped = (): void => {
    queueMicrotask(() => (snapshot = undefined));
  };

  const counter = (name: string, help: string, value: (m: WriteBehindMetrics) => number): void => {
    let reported = 0;
    new Counter({
      name: `${prefix}${name}`,
      help,
      registers: [registry],
      collect() {
        const now = value(read());
        if (now > reported) this.inc(now - reported);
        reported = now;
        scraped();
      },
    });
  };
  const gauge = (name: string, help: string, value: (m: WriteBehindMetrics) => number): void => {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers: [registry],
      collect() {
        this.set(value(read()));
        scraped();
      },
    });
  };
  const quantiles = (
    name: string,
    help: string,
    pick: (m: WriteBehindMetrics) => { p50: number; p99: number; max: number },
  ): void => {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['quantile'],
      registers: [registry],
      collect() {
        const h = pick(read());
        this.set({ quantile: '0.5' }, h.p50);
        this.set({ quantile: '0.99' }, h.p99);
        this.set({ quantile: '1' }, h.max);
        scraped();
      },
    });
  };

  counter('writes_total', 'Writes accepted into the journal.', (m) => m.written);
  counter('persisted_total', 'Entries written to the sink.', (m) => m.persisted);
  counter('retries_total', 'Sink writes retried while the sink was unavailable.', (m) => m.retried);
  counter(
    'superseded_total',
    'Entries a version-guarded sink did not apply: the row held a newer version.',
    (m) => m.superseded,
  );
  counter('duplicates_total', 'Entries the sink already had (re-deliveries).', (m) => m.duplicates);
  counter('sink_outages_total', 'Times the sink became unable to take writes.', (m) => m.outages);
  gauge(
    'sink_unavailable_seconds',
    'How long the sink has been unable to take writes; 0 while it takes them.',
    (m) => m.unavailableForMs / 1000,
  );
  counter('dead_lettered_total', 'Entries set aside as dead letters.', (m) => m.deadLettered);
  counter('batches_total', 'Batches written to the sink.', (m) => m.batches);
  gauge(
    'backlog',
    'Entries appended and not yet in the sink or the dead letters.',
    (m) => m.backlog,
  );
  gauge(
    'backlog_bytes',
    'Payload bytes the pipeline holds in memory (read, not yet finished).',
    (m) => m.backlogBytes,
  );
  gauge(
    'checkpoint_lag',
    'Journal positions the checkpoint is behind the newest append.',
    (m) => m.lag,
  );
  quantiles('batch_size', 'Entries per batch, over recent batches.', (m) => m.batchSize);
  quantiles(
    'flush_latency_ms',
    'Time to write a batch, ms, over recent batches.',
    (m) => m.flushLatencyMs,
  );
  quantiles(
    'end_to_end_latency_ms',
    'From append to sink, ms, over recent entries.',
    (m) => m.endToEndLatencyMs,
  );
  return registry;
}

/**
 * The journal's own gauges, read from `journal.stats()` (and its dead-letter store) when
 * the registry is scraped: what any process can see in a journal file, pipeline or not.
 */
export function journalCollectors(
  journal: Pick<Journal, 'stats' | 'deadLetters'>,
  options: PrometheusOptions = {},
): PromClient.Registry {
  const { registry, prefix } = resolve(options);
  let stats: ReturnType<Journal['stats']> | undefined;
  // One stats() per scrape: a scrape calls every collector in the same turn, so they all
  // share the call in flight; the next scrape starts a new one.
  const read = (): ReturnType<Journal['stats']> => {
    if (stats === undefined) {
      const pending = journal.stats();
      stats = pending;
      const forget = (): void => {
        if (stats === pending) stats = undefined;
      };
      pending.then(forget, forget);
    }
    return stats;
  };
  const gauge = (
    name: string,
    help: string,
    set: (g: PromClient.Gauge, s: Awaited<ReturnType<Journal['stats']>>) => void,
    labelNames: string[] = [],
  ): void => {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        set(this, await read());
      },
    });
  };
  gauge('journal_head', 'Position of the newest journal entry.', (g, s) => g.set(s.head));
  gauge('journal_entries', 'Entries retained in the journal.', (g, s) => g.set(s.entries));
  gauge('journal_bytes', 'Storage the journal uses, bytes.', (g, s) => g.set(s.bytes));
  gauge(
    'consumer_checkpoint',
    'Position a consumer has committed.',
    (g, s) => {
      for (const c of s.consumers) g.set({ consumer: c.consumer }, c.position);
    },
    ['consumer'],
  );
  gauge(
    'consumer_lag',
    'Entries appended after a consumer checkpoint.',
    (g, s) => {
      for (const c of s.consumers) g.set({ consumer: c.consumer }, c.lag);
    },
    ['consumer'],
  );
  const store = journal.deadLetters?.();
  if (store !== undefined) {
    new Gauge({
      name: `${prefix}dead_letters`,
      help: 'Dead letters waiting in the journal (not replayed or purged).',
      registers: [registry],
      async collect() {
        this.set(await store.count());
      },
    });
  }
  return registry;
}
