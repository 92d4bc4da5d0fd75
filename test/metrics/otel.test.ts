import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Span, SpanOptions, Tracer } from '@opentelemetry/api';
import { ConfigError, MemoryJournal, MemorySink, WriteBehind } from '../../src/index.js';
import { traceWriteBehind } from '../../src/metrics/otel.js';

/** A tracer that records spans (the neighbour of the unit under test). */
function recordingTracer(): {
  tracer: Tracer;
  spans: { name: string; options: SpanOptions; status?: unknown; ended: boolean }[];
} {
  const spans: { name: string; options: SpanOptions; status?: unknown; ended: boolean }[] = [];
  const tracer = {
    startSpan(name: string, options: SpanOptions = {}): Span {
      const record: { name: string; options: SpanOptions; status?: unknown; ended: boolean } = {
        name,
        options,
        ended: false,
      };
      spans.push(record);
      const span = {
        setStatus: (status: unknown) => {
          record.status = status;
          return span;
        },
        recordException: () => undefined,
        end: () => {
          record.ended = true;
        },
      };
      return span as unknown as Span;
    },
  } as unknown as Tracer;
  return { tracer, spans };
}

test('traceWriteBehind() makes a span per flush, per dead letter and per retry', async () => {
  let fail = 1;
  const sink = new MemorySink<number>({
    beforeWrite: () => {
      if (fail-- > 0) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    },
    classify: (e) => ((e as { code?: string }).code === 'ECONNRESET' ? 'unavailable' : 'rejected'),
    check: (e) => {
      if (e.value < 0) throw new RangeError('negative');
    },
  });
  const wb = await WriteBehind.open<number>({
    journal: new MemoryJournal(),
    sink,
    workers: 1,
    batch: { maxSize: 10, maxDelayMs: 1 },
    retry: { minDelayMs: 1, maxDelayMs: 2 },
  });
  const { tracer, spans } = recordingTracer();
  const stop = traceWriteBehind(wb, tracer);
  for (const v of [1, 2, -3, 4]) await wb.write('k', v);
  await wb.flush();
  stop();
  const names = spans.map((s) => s.name);
  assert.ok(names.includes('sluice.flush'));
  assert.ok(names.includes('sluice.retry'));
  assert.ok(names.includes('sluice.dead_letter'));
  const flush = spans.find((s) => s.name === 'sluice.flush');
  assert.equal(typeof flush?.options.attributes?.['sluice.batch_size'], 'number');
  assert.ok(spans.every((s) => s.ended));
  const before = spans.length;
  await wb.write('k', 5);
  await wb.flush();
  assert.equal(spans.length, before, 'no spans after stop()');
  await wb.close();
});

test('traceWriteBehind() refuses a tracer without startSpan()', () => {
  const source = { on: () => () => {} } as unknown as Parameters<typeof traceWriteBehind>[0];
  assert.throws(
    () => traceWriteBehind(source, 'sluice' as unknown as Tracer),
    (e: unknown) =>
      e instanceof ConfigError &&
      /Expected `tracer` to be an object with startSpan\(\)/.test(e.message),
  );
});
