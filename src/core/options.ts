/**
 * Validation helpers for option resolvers. Each component has one resolver that fills
 * defaults and calls these; a bad value throws a {@link ConfigError} at construction, naming
 * the option, the value and its type.
 */
import { ConfigError } from '../errors.js';

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

/** A function (required unless `fallback` is given). */
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
