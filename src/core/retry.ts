/**
 * RetryPolicy: retries as data plus a pure function.
 *
 * A policy says how many attempts to make and how long to wait between them; the delay is
 * exponential with jitter and computed by {@link computeDelay}, which is pure so tests and
 * docs can tabulate it. {@link retry} runs a function under a policy and is the one place
 * in sluice that loops on failure.
 *
 * ```ts
 * const policy = resolveRetryPolicy({ maxAttempts: 5, minDelayMs: 100 });
 * await retry(() => sink.write(rows), policy, { isRetryable, signal });
 * ```
 */
import { ConfigError } from '../errors.js';
import { systemClock, sleep, type Clock } from './clock.js';
import { choiceOption, integerOption, knownOptions, numberOption } from './options.js';

/**
 * How a delay is randomised: `full` waits a uniform time in [0, base) (the default, which
 * spreads retries of many clients best), `equal` waits base/2 plus up to base/2, `none`
 * waits exactly base.
 */
export type Jitter = 'full' | 'equal' | 'none';

/**
 * How many attempts to make and how long to wait between them: exponential backoff with
 * jitter, computed by {@link computeDelay}. Fill one in with {@link resolveRetryPolicy}.
 */
export interface RetryPolicy {
  /** Attempts in all, the first included; 1 means never retry. @default 3 */
  readonly maxAttempts: number;
  /** Base delay after the first failure, in ms. @default 100 */
  readonly minDelayMs: number;
  /** Upper bound of the base delay, in ms. @default 30000 */
  readonly maxDelayMs: number;
  /** Growth of the base delay per failed attempt. @default 2 */
  readonly multiplier: number;
  /** How the delay is randomised. @default 'full' */
  readonly jitter: Jitter;
}

/** The defaults {@link resolveRetryPolicy} fills in (the one place they are written). */
export const defaultRetryPolicy: RetryPolicy = Object.freeze({
  maxAttempts: 3,
  minDelayMs: 100,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: 'full',
});

const retryPolicyFields: readonly (keyof RetryPolicy)[] = [
  'maxAttempts',
  'minDelayMs',
  'maxDelayMs',
  'multiplier',
  'jitter',
];

/**
 * Fills defaults and validates every field; throws {@link ConfigError} naming the bad field,
 * or the nearest known name for a field it does not know (`maxAttempt`, `delayMs`).
 */
export function resolveRetryPolicy(input?: Partial<RetryPolicy>, prefix = 'retry'): RetryPolicy {
  const o = knownOptions(prefix, input, retryPolicyFields);
  const d = defaultRetryPolicy;
  const policy: RetryPolicy = {
    maxAttempts: integerOption(`${prefix}.maxAttempts`, o.maxAttempts, d.maxAttempts, 1),
    minDelayMs: numberOption(`${prefix}.minDelayMs`, o.minDelayMs, d.minDelayMs, 0),
    maxDelayMs: numberOption(`${prefix}.maxDelayMs`, o.maxDelayMs, d.maxDelayMs, 0),
    multiplier: numberOption(`${prefix}.multiplier`, o.multiplier, d.multiplier, 1),
    jitter: choiceOption(`${prefix}.jitter`, o.jitter, d.jitter, ['full', 'equal', 'none']),
  };
  if (policy.maxDelayMs < policy.minDelayMs) {
    throw new ConfigError(
      `${prefix}.maxDelayMs`,
      `a number >= ${prefix}.minDelayMs (${policy.minDelayMs})`,
      policy.maxDelayMs,
    );
  }
  return Object.freeze(policy);
}

/**
 * The wait after failed attempt number `attempt` (1-based): base =
 * min(maxDelayMs, minDelayMs * multiplier^(attempt-1)), then jittered with `random()` in
 * [0, 1).
 */
export function computeDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const exp = policy.minDelayMs * policy.multiplier ** Math.max(0, attempt - 1);
  const base = Math.min(policy.maxDelayMs, exp);
  switch (policy.jitter) {
    case 'none':
      return base;
    case 'equal':
      return base / 2 + random() * (base / 2);
    case 'full':
      return random() * base;
  }
}

/** Options of {@link retry}. */
export interface RetryOptions {
  /** Aborting stops further attempts and waits; the pending promise rejects with the reason. */
  signal?: AbortSignal;
  /** Whether an error is worth another attempt. @default every error */
  isRetryable?: (error: unknown) => boolean;
  /** Called before each wait. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Source of time for the waits. @default systemClock */
  clock?: Clock;
  /** Jitter source, in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Calls `fn(attempt)` (1-based) until it resolves, the error is not retryable, attempts run
 * out, or the signal aborts. Rejects with the last error itself (or the abort reason if the
 * signal aborts during a wait).
 */
export async function retry<T>(
  fn: (attempt: number) => PromiseLike<T> | T,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  const clock = options.clock ?? systemClock;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (
        attempt >= policy.maxAttempts ||
        options.signal?.aborted === true ||
        (options.isRetryable !== undefined && !options.isRetryable(error))
      ) {
        throw error;
      }
      const delayMs = computeDelay(attempt, policy, options.random);
      options.onRetry?.(error, attempt, delayMs);
      await sleep(clock, delayMs, options.signal);
    }
  }
}
