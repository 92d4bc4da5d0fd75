/**
 * The Batcher's options: their documented type, and the one resolver that fills every
 * default and validates every field at construction (numbers, the `flush` function, the
 * nested retry policy, `isRetryable`, the clock), refusing names it does not know.
 */
import { ConfigError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  knownOptions,
  numberOption,
  serviceOption,
} from './options.js';
import { resolveRetryPolicy, type RetryPolicy } from './retry.js';

/** What a flush is told about the call it serves. */
export interface FlushContext {
  /** Aborted when the batcher gives up on this flush (a `close` deadline passed). */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, ... */
  readonly attempt: number;
}

/** Nothing (every caller gets `undefined`), or one result per item, in order. */
export type FlushResult<O> = ReadonlyArray<O | Error> | void;

/**
 * Writes one batch, in submit order. Return nothing (every caller gets `undefined`) or one
 * result per item, in order: an `Error` in a slot rejects only that caller, a wrong length
 * rejects every caller with a TypeError. A throw (once `retry` gives up) rejects the whole
 * batch with BatchError.
 */
export type FlushFunction<I, O> = (
  items: I[],
  context: FlushContext,
) => FlushResult<O> | PromiseLike<FlushResult<O>>;

/** Options of `new Batcher()`, checked at construction (a bad one is a ConfigError). */
export interface BatcherOptions<I, O> {
  /** Largest batch handed to `flush`; a full batch is flushed at once. Integer >= 1. */
  maxSize: number;
  /** Longest wait after a batch's first item before it is flushed, in ms. @default 10 */
  maxDelayMs?: number;
  /**
   * Most items buffered or in flight at once (integer >= `maxSize`); beyond it `submit`
   * waits or rejects per `overflow`. @default 10 * maxSize
   */
  maxPending?: number;
  /** Flushes allowed to run at the same time. @default 1 */
  maxConcurrentFlushes?: number;
  /** What `submit` does when `maxPending` is reached. @default 'wait' */
  overflow?: 'wait' | 'reject';
  /** Writes one batch; see {@link FlushFunction} for what it may return. */
  flush: FlushFunction<I, O>;
  /** Retries a flush that throws; without it a failed flush is not retried. */
  retry?: Partial<RetryPolicy>;
  /** Which thrown errors the retry policy applies to. @default every error */
  isRetryable?: (error: unknown) => boolean;
  /** Source of time and timers; a ManualClock drives them in tests. @default systemClock */
  clock?: Clock;
}

/** The options with every default filled in and every field checked. */
export interface ResolvedBatcherOptions<I, O> {
  readonly maxSize: number;
  readonly maxDelayMs: number;
  readonly maxPending: number;
  readonly maxConcurrentFlushes: number;
  readonly overflow: 'wait' | 'reject';
  readonly flush: FlushFunction<I, O>;
  /** `undefined`: a failed flush is not retried. */
  readonly retry: RetryPolicy | undefined;
  /** `undefined`: every error is retried (under `retry`). */
  readonly isRetryable: ((error: unknown) => boolean) | undefined;
  readonly clock: Clock;
}

const batcherOptionNames = [
  'maxSize',
  'maxDelayMs',
  'maxPending',
  'maxConcurrentFlushes',
  'overflow',
  'flush',
  'retry',
  'isRetryable',
  'clock',
] as const satisfies readonly (keyof BatcherOptions<unknown, unknown>)[];

/** Fills defaults and validates; throws a ConfigError naming the option, value and type. */
export function resolveBatcherOptions<I, O>(
  options: BatcherOptions<I, O>,
): ResolvedBatcherOptions<I, O> {
  const o = knownOptions('Batcher options', options, batcherOptionNames);
  const maxSize = integerOption('maxSize', o.maxSize, undefined, 1);
  const maxPending = integerOption('maxPending', o.maxPending, maxSize * 10, 1);
  if (maxPending < maxSize) {
    throw new ConfigError('maxPending', `an integer >= maxSize (${maxSize})`, o.maxPending);
  }
  return {
    maxSize,
    maxDelayMs: numberOption('maxDelayMs', o.maxDelayMs, 10, 0),
    maxPending,
    maxConcurrentFlushes: integerOption('maxConcurrentFlushes', o.maxConcurrentFlushes, 1, 1),
    overflow: choiceOption('overflow', o.overflow, 'wait', ['wait', 'reject']),
    flush: functionOption<FlushFunction<I, O>>('flush', o.flush),
    retry:
      o.retry === undefined
        ? undefined
        : resolveRetryPolicy(o.retry as Partial<RetryPolicy>, 'retry'),
    isRetryable:
      o.isRetryable === undefined
        ? undefined
        : functionOption<(error: unknown) => boolean>('isRetryable', o.isRetryable),
    clock: serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
  };
}
