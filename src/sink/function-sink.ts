/**
 * functionSink: any store, through your function. The function must keep the sink contract
 * itself: all or nothing per call, idempotent by `entry.id`.
 *
 * ```ts
 * const sink = functionSink(async (entries) => { await search.bulkIndex(entries) }, {
 *   isTransient: (e) => e instanceof TimeoutError,
 * });
 * ```
 */
import { functionOption } from '../core/options.js';
import type { Sink, SinkContext, SinkEntry } from './sink.js';

export interface FunctionSinkOptions {
  /** Which errors are worth retrying. @default none */
  isTransient?: (error: unknown) => boolean;
  /** Called once by `close()`. */
  close?: () => void | Promise<void>;
}

export function functionSink<V = unknown>(
  write: (entries: readonly SinkEntry<V>[], context: SinkContext) => void | Promise<void>,
  options: FunctionSinkOptions = {},
): Sink<V> {
  functionOption('write', write);
  const isTransient = options.isTransient ?? (() => false);
  let closed: Promise<void> | undefined;
  return {
    writeBatch: async (entries, context = {}) => {
      await write(entries, context);
    },
    isTransient,
    close: () => (closed ??= Promise.resolve(options.close?.()).then(() => undefined)),
  };
}
