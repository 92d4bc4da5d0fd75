/**
 * Validation helpers for option resolvers. Each component has one resolver that fills
 * defaults and calls these; a bad value throws a {@link ConfigError} at construction, naming
 * the option, the value and its type.
 */
import { ConfigError, InputError } from '../errors.js';

/**
 * An integer >= `min` (and <= `max` when given); `undefined` yields `fallback`, or is refused
 * when there is no fallback (a required option).
 */
export function integerOption(
  name: string,
  value: unknown,
  fallback: number | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new ConfigError(name, `an integer ${range}`, value);
  }
  return value;
}

/** A finite number >= `min`; `undefined` yields `fallback` (required when there is none). */
export function numberOption(
  name: string,
  value: unknown,
  fallback: number | undefined,
  min: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigError(name, `a finite number >= ${min}`, value);
  }
  return value;
}

/** One of `choices`; `undefined` yields `fallback`. */
export function choiceOption<T extends string>(
  name: string,
  value: unknown,
  fallback: T,
  choices: readonly T[],
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new ConfigError(name, `one of ${choices.map((c) => `'${c}'`).join(' | ')}`, value);
  }
  return value as T;
}

/**
 * A function (required unless `fallback` is given).
 * @typeParam F - The function type the caller expects; only "is a function" is checked.
 */
export function functionOption<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback?: F,
): F {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'function') throw new ConfigError(name, 'a function', value);
  return value as F;
}

/** An options bag: a plain object or `undefined`. */
export function objectOption(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(name, 'an object', value);
  }
  return value as Record<string, unknown>;
}

/** `true`, `false`, or `undefined` for `fallback`; anything else (`'yes'`, `1`) is refused. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(name, 'a boolean', value);
  return value;
}

/** A non-empty string; `undefined` yields `fallback` (required when there is none). */
export function stringOption(name: string, value: unknown, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ConfigError(name, 'a non-empty string', value);
  }
  return value;
}

/**
 * An object that has every method in `methods` (a Clock, a Sink, a Journal...); `undefined`
 * yields `fallback` (required when there is none).
 */
export function serviceOption<T>(
  name: string,
  value: unknown,
  methods: readonly string[],
  fallback?: T,
): T {
  if (value === undefined && fallback !== undefined) return fallback;
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || methods.some((m) => typeof o[m] !== 'function')) {
    throw new ConfigError(name, `an object with ${methods.map((m) => `${m}()`).join(', ')}`, value);
  }
  return value as T;
}

/**
 * An options bag whose every name is in `known`: a misspelled name (`batchSize`,
 * `maxbacklog`) is a ConfigError naming the nearest known one, so a typo never falls back to
 * a default in silence. `where` names the bag in messages (`'WriteBehind.open() options'`,
 * or a nested `'batch'`).
 */
export function knownOptions(
  where: string,
  value: unknown,
  known: readonly string[],
): Record<string, unknown> {
  const o = objectOption(where, value);
  for (const name of Object.keys(o)) {
    if (known.includes(name)) continue;
    const nearest = nearestName(name, known);
    throw new ConfigError(
      name,
      'a known option',
      o[name],
      `Unknown option \`${name}\` in ${where}` +
        (nearest === undefined ? '.' : `; did you mean \`${nearest}\`?`) +
        ` Known options: ${known.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
  return o;
}

/** The known name closest to `name` (edit distance, ignoring case), if any is close at all. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // Far from everything (`foo` against `workers`): better no guess than a wrong one; a name
  // that contains a known one (`batchSize` ⊃ `batch`) is always close.
  const close =
    best !== undefined &&
    (bestDistance <= Math.max(2, Math.floor(name.length / 3)) ||
      name.toLowerCase().includes(best.toLowerCase()));
  return close ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * A per-call options bag (a read's, an append's, a region) whose every name is in `known`:
 * a misspelled name is an InputError naming the nearest known one, never a silent default
 * (a region `{ key: 'a' }` must not read everything).
 */
export function checkNames(what: string, value: object, known: readonly string[]): void {
  // for-in rather than Object.keys: it runs on every append, and needs no array of names.
  for (const name in value) {
    if (known.includes(name) || !Object.hasOwn(value, name)) continue;
    const nearest = nearestName(name, known);
    throw new InputError(
      `${what} has no option \`${name}\`` +
        (nearest === undefined ? '' : `; did you mean \`${nearest}\`?`) +
        ` (known: ${known.map((k) => `\`${k}\``).join(', ')})`,
    );
  }
}
