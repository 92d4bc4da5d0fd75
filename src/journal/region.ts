/**
 * Region validation and matching, shared by every backend so they agree on what a region
 * selects (see {@link Region}).
 */
import { InputError } from '../errors.js';
import type { Region } from './journal.js';
import { checkNames } from '../core/options.js';

/** Checks a region at the call that passed it; returns it, or `undefined` for "everything". */
export function checkRegion(region: Region | undefined): Region | undefined {
  if (region === undefined) return undefined;
  if (typeof region !== 'object' || region === null) {
    throw new InputError(`region must be an object, got ${typeof region}`);
  }
  checkNames('region', region, ['keys', 'keyPrefix', 'types']);
  const { keys, keyPrefix, types } = region;
  if (keys !== undefined && (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string'))) {
    throw new InputError('region.keys must be an array of strings');
  }
  if (keyPrefix !== undefined && typeof keyPrefix !== 'string') {
    throw new InputError('region.keyPrefix must be a string');
  }
  if (
    types !== undefined &&
    (!Array.isArray(types) || !types.every((t) => typeof t === 'string'))
  ) {
    throw new InputError('region.types must be an array of strings');
  }
  if (keys === undefined && keyPrefix === undefined && types === undefined) return undefined;
  return region;
}

/** Whether an entry with this key and type is in the region. */
export function inRegion(
  region: Region | undefined,
  key: string,
  type: string | undefined,
): boolean {
  if (region === undefined) return true;
  const { keys, keyPrefix, types } = region;
  if (keys !== undefined || keyPrefix !== undefined) {
    const byKey = keys?.includes(key) === true;
    const byPrefix = keyPrefix !== undefined && key.startsWith(keyPrefix);
    if (!byKey && !byPrefix) return false;
  }
  return types === undefined || (type !== undefined && types.includes(type));
}
