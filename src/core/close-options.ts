/**
 * The options bag every `close()` takes, and its one resolver, so `close({ deadlineMs })`
 * is read and checked the same way on every component (see the lifecycle table in the
 * glossary, index.ts). The deadline itself is run by `withinDeadline` (deadline.ts).
 */
import { knownOptions, numberOption } from './options.js';

/** Options of every component's `close()`; a misspelled name is a ConfigError. */
export interface CloseOptions {
  /**
   * Give up on what is not finished this long after `close` was called (milliseconds).
   * @default no deadline
   */
  deadlineMs?: number;
}

export interface ResolvedCloseOptions {
  /** `Infinity` when no deadline was given. */
  readonly deadlineMs: number;
}

/**
 * Validates a `close()` options bag; `where` names it in messages
 * (`'Batcher.close() options'`). A misspelled name (`deadline`) is a ConfigError naming
 * `deadlineMs`, so a typo never turns a bounded close into an unbounded one.
 */
export function resolveCloseOptions(where: string, options: unknown): ResolvedCloseOptions {
  const o = knownOptions(where, options, ['deadlineMs']);
  // Infinity is the default spelled out: no deadline.
  if (o.deadlineMs === Infinity) return { deadlineMs: Infinity };
  return { deadlineMs: numberOption('deadlineMs', o.deadlineMs, Infinity, 0) };
}
