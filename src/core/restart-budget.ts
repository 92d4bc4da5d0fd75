/**
 * RestartBudget: how often a supervised loop may be restarted after a failure.
 *
 * - `'never'`: the first failure is final;
 * - `'once'`: one restart in the loop's lifetime;
 * - `{ maxRestarts, withinMs }`: at most `maxRestarts` restarts in any window of `withinMs`
 *   (a truly rolling window: each restart expires `withinMs` after it happened, so a loop
 *   that fails rarely can run forever, one that fails in a burst is stopped).
 *
 * Shared by the cursor worker and the worker pool so both mean the same thing by a policy.
 */
import { ConfigError } from '../errors.js';
import type { Clock } from './clock.js';
import { integerOption, knownOptions, numberOption } from './options.js';

/**
 * How often a supervised loop may restart after failures: `'never'` (the first failure is
 * final), `'once'` (one restart in its lifetime), or at most `maxRestarts` in any rolling
 * window of `withinMs` (so rare failures never stop it, a burst does).
 */
export type RestartPolicy =
  | 'never'
  | 'once'
  | {
      /** Restarts allowed within the window. */
      maxRestarts: number;
      /** The rolling window, in ms: each restart counts for this long after it happened. */
      withinMs: number;
    };

/**
 * Validates a restart policy: `'never'`, `'once'`, or `{ maxRestarts, withinMs }` with both
 * fields given (there is no sensible default window) and no other name in the object.
 * `name` names the option in messages (`'restart'`, `'threads.restart'`).
 */
export function resolveRestartPolicy(value: unknown, name = 'restart'): RestartPolicy {
  if (value === 'never' || value === 'once') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = knownOptions(name, value, ['maxRestarts', 'withinMs']);
    return {
      maxRestarts: integerOption(`${name}.maxRestarts`, o.maxRestarts, undefined, 0),
      withinMs: numberOption(`${name}.withinMs`, o.withinMs, undefined, 1),
    };
  }
  throw new ConfigError(name, "'never' | 'once' | { maxRestarts, withinMs }", value);
}

/** Counts restarts against a {@link RestartPolicy}; the pool and the cursor worker share it. */
export class RestartBudget {
  /** Times of the restarts still inside the window (all of them for `'once'`). */
  readonly #history: number[] = [];
  #total = 0;

  constructor(
    /** The policy this budget enforces. */
    readonly policy: RestartPolicy,
    private readonly clock: Clock,
  ) {}

  /** Restarts granted so far. */
  get restarts(): number {
    return this.#total;
  }

  /** Takes one restart from the budget; `false` when the policy allows no more. */
  tryRestart(): boolean {
    const policy = this.policy;
    if (policy === 'never') return false;
    if (policy === 'once') {
      if (this.#total >= 1) return false;
    } else {
      const now = this.clock.now();
      while (this.#history.length > 0 && (this.#history[0] as number) <= now - policy.withinMs) {
        this.#history.shift();
      }
      if (this.#history.length >= policy.maxRestarts) return false;
      this.#history.push(now);
    }
    this.#total++;
    return true;
  }
}
