import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, MemoryJournal, MemorySink, WriteBehind } from '../../src/index.js';
import {
  journalCollectors,
  prometheusRegistry,
  type PrometheusOptions,
} from '../../src/metrics/prometheus.js';

/** Parses Prometheus text into name{labels} → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

test('prometheusRegistry() exposes the pipeline counters, gauges and quantiles as Prometheus text', async () => {
  const wb = await WriteBehind.open<number>({
    journal: new MemoryJournal(),
    sink: new MemorySink<number>(),
    batch: { maxSize: 10, maxDelayMs: 1 },
  });
  const registry = prometheusRegistry(wb, { labels: { pipeline: 'test' } });
  for (let i = 0; i < 25; i++) await wb.write(`k${i % 5}`, i);
  await wb.flush();
  const text = await registry.metrics();
  assert.match(text, /# TYPE sluice_writes_total counter/);
  const m = parse(text);
  assert.equal(m.get('sluice_writes_total{pipeline="test"}'), 25);
  assert.equal(m.get('sluice_persisted_total{pipeline="test"}'), 25);
  assert.equal(m.get('sluice_backlog{pipeline="test"}'), 0);
  assert.equal(m.get('sluice_backlog_bytes{pipeline="test"}'), 0);
  assert.ok((m.get('sluice_batches_total{pipeline="test"}') ?? 0) >= 3);
  assert.ok((m.get('sluice_batch_size{quantile="1",pipeline="test"}') ?? 99) <= 10);
  assert.ok(m.has('sluice_end_to_end_latency_ms{quantile="0.99",pipeline="test"}'));

  for (let i = 0; i < 5; i++) await wb.write('k', i);
  await wb.flush();
  const again = parse(await registry.metrics());
  assert.equal(
    again.get('sluice_writes_total{pipeline="test"}'),
    30,
    'counters keep counting across scrapes',
  );
  await wb.close();
});

test('prometheusRegistry() shows a sink outage while it lasts, and entries a versioned sink superseded', async () => {
  let down = false;
  const journal = new MemoryJournal();
  const wb = await WriteBehind.open<number>({
    journal,
    sink: new MemorySink<number>({
      versioned: true,
      beforeWrite: () => {
        if (down) throw new Error('the table is being migrated');
      },
      classify: () => 'unavailable',
    }),
    batch: { maxSize: 10, maxDelayMs: 1 },
    retry: { minDelayMs: 1, maxDelayMs: 5 },
  });
  const registry = prometheusRegistry(wb);
  await wb.write('k', 1);
  await wb.flush();
  down = true;
  await wb.write('k', 2);
  await new Promise((r) => setTimeout(r, 30));
  const during = parse(await registry.metrics());
  assert.equal(during.get('sluice_sink_outages_total'), 1);
  assert.ok((during.get('sluice_sink_unavailable_seconds') ?? 0) > 0);
  down = false;
  await wb.flush();
  // An entry older than the row (a replayed dead letter keeps its old version).
  await journal.append([{ key: 'k', payload: 0, version: 1, origin: 'old' }]);
  await wb.flush();
  const after = parse(await registry.metrics());
  assert.equal(after.get('sluice_sink_unavailable_seconds'), 0);
  assert.equal(after.get('sluice_superseded_total'), 1);
  await wb.close();
});

test('journalCollectors() exposes what a journal holds: head, checkpoints, lag, dead letters', async () => {
  const journal = new MemoryJournal();
  await journal.append(Array.from({ length: 7 }, (_, i) => ({ key: 'k', payload: i })));
  await journal.commit('a', 5);
  await journal.commit('b', 2);
  await journal
    .deadLetters()
    .add([
      { position: 1, entryId: '1', key: 'k', payload: 0, version: 1, error: 'bad', attempts: 1 },
    ]);
  const registry = journalCollectors(journal);
  const m = parse(await registry.metrics());
  assert.equal(m.get('sluice_journal_head'), 7);
  assert.equal(m.get('sluice_journal_entries'), 7);
  assert.equal(m.get('sluice_consumer_checkpoint{consumer="a"}'), 5);
  assert.equal(m.get('sluice_consumer_lag{consumer="b"}'), 5);
  assert.equal(m.get('sluice_dead_letters'), 1);
  assert.ok((m.get('sluice_journal_bytes') ?? 0) > 0);

  await journal.append([{ key: 'k', payload: 8 }]);
  const again = parse(await registry.metrics());
  assert.equal(again.get('sluice_journal_head'), 8, 'each scrape reads the journal again');
});

test('prometheusRegistry() and journalCollectors() refuse a misspelled option naming the nearest known one, and bad values', () => {
  const journal = new MemoryJournal();
  const refuses = (options: Record<string, unknown>, pattern: RegExp): void =>
    assert.throws(
      () => journalCollectors(journal, options),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  refuses(
    { prefx: 'app_' },
    /Unknown option `prefx` in Prometheus options; did you mean `prefix`\?/,
  );
  refuses({ lables: { app: 'x' } }, /did you mean `labels`\?/);
  refuses({ prefix: 'app-' }, /Expected `prefix` to be a Prometheus metric name prefix/);
  refuses({ labels: { app: 1 } }, /Expected `labels.app` to be a string/);
  refuses({ labels: { 'a-b': 'x' } }, /Expected `labels` to be label names/);
  refuses({ registry: {} }, /Expected `registry` to be an object with registerMetric\(\)/);
  const wb = { metrics: () => ({}) } as unknown as Parameters<typeof prometheusRegistry>[0];
  assert.throws(
    () => prometheusRegistry(wb, { prefix: 7 } as unknown as PrometheusOptions),
    ConfigError,
  );
  const m = journalCollectors(journal, { prefix: '', labels: { app: 'orders' } });
  assert.match(
    m
      .getMetricsAsArray()
      .map((x) => x.name)
      .join(','),
    /^journal_head,/,
  );
});
