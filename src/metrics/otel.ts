/**
 * `sluice/otel`: an OpenTelemetry span per sink flush of a WriteBehind, through
 * `@opentelemetry/api` (spans go wherever your SDK sends them; without one they are no-ops).
 * Also a span per dead-lettered entry and an event per transient retry.
 *
 * ```ts
 * const stop = traceWriteBehind(wb); // trace.getTracer('sluice') unless given a tracer
 * ```
 *
 * @module sluice/otel
 */
import type * as OpenTelemetry from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import type { Emitter } from '../core/events.js';
import { requireOptional, serviceOption } from '../backend.js';

const { SpanStatusCode, trace } = requireOptional<typeof OpenTelemetry>(
  '@opentelemetry/api',
  'sluice/otel',
);
import type { WriteBehindEvents } from '../core/write-behind.js';

/** Starts tracing; returns the function that stops it. */
export function traceWriteBehind(
  source: Pick<Emitter<WriteBehindEvents>, 'on'>,
  tracer?: Tracer,
): () => void {
  const spans = serviceOption<Tracer>('tracer', tracer, ['startSpan'], trace.getTracer('sluice'));
  const stops = [
    source.on('batch:flushed', ({ workerId, size, latencyMs }) => {
      const end = Date.now();
      spans
        .startSpan('sluice.flush', {
          startTime: end - latencyMs,
          attributes: { 'sluice.worker': workerId, 'sluice.batch_size': size },
        })
        .end(end);
    }),
    source.on('entry:deadLettered', ({ position, key, error }) => {
      const span = spans.startSpan('sluice.dead_letter', {
        attributes: { 'sluice.position': position, 'sluice.key': key },
      });
      span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      span.end();
    }),
    source.on('sink:retry', ({ attempt, delayMs, error }) => {
      const span = spans.startSpan('sluice.retry', {
        attributes: { 'sluice.attempt': attempt, 'sluice.delay_ms': delayMs },
      });
      span.recordException(error instanceof Error ? error : String(error));
      span.end();
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
