/**
 * functionSink: any store, through your function. The function must keep the sink contract
 * itself: all or nothing per call, idempotent by `entry.id`.
 *
 * ```ts
 * const sink = functionSink(async (entries) => { await search.bulkIndex(entries) }, {
 *   classify: (e) => (e instanceof TimeoutError ? 'unavailable' : 'unknown'),
 * });
 * ```
 */
import { functionOption, knownOptions } from '../core/options.js';
import type { Sink, SinkContext, SinkEntry, SinkFailure, SinkWriteResult } from './sink.js';

/** Options of {@link functionSink}; a misspelled name is a ConfigError. */
export interface FunctionSinkOptions {
  /**
   * Whose fault a failure is (see `Sink.classify`). @default every failure is `'unknown'`:
   * split to find a bad entry, retried as an outage when every entry fails alike
   */
  classify?: (error: unknown) => SinkFailure;
  /** Called once by `close()`. */
  close?: () => void | Promise<void>;
}

interface ResolvedFunctionSink {
  readonly classify: (error: unknown) => SinkFailure;
  readonly close: () => void | Promise<void>;
}

function resolveFunctionSink(options: unknown): ResolvedFunctionSink {
  const o = knownOptions('functionSink() options', options, ['classify', 'close']);
  return {
    classify: functionOption('classify', o.classify, (): SinkFailure => 'unknown'),
    close: functionOption('close', o.close, () => undefined),
  };
}

/**
 * A sink from any function: `write` gets each batch and must keep the sink contract itself
 * (all or nothing per call, idempotent by `entry.id`). Throws ConfigError for a `write` that
 * is not a function or a bad option.
 *
 * ```ts
 * const sink = functionSink(async (entries) => { await search.bulkIndex(entries) }, {
 *   classify: (e) => (e instanceof TimeoutError ? 'unavailable' : 'unknown'),
 * });
 * ```
 */
export function functionSink<V = unknown>(
  write: (
    entries: readonly SinkEntry<V>[],
    context: SinkContext,
  ) => SinkWriteResult | void | Promise<SinkWriteResult | void>,
  options: FunctionSinkOptions = {},
): Sink<V> {
  functionOption('write', write);
  const { classify, close } = resolveFunctionSink(options);
  let closed: Promise<void> | undefined;
  return {
    writeBatch: async (entries, context = {}) => (await write(entries, context)) ?? undefined,
    classify,
    close: () => (closed ??= Promise.resolve(close()).then(() => undefined)),
  };
}
