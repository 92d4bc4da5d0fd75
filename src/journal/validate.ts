/**
 * Argument checks every journal backend runs at the call, so a bad argument gets the same
 * typed error whatever the backend, and nothing of the call is written.
 */
import { InputError, show } from '../errors.js';
import type { Codec, Encoded } from './codec.js';
import type { JournalRecord, ReadOptions, Region } from './journal.js';
import { checkRegion } from './region.js';

/** A record checked and encoded, ready to store. */
export interface EncodedRecord {
  readonly key: string;
  readonly type: string | undefined;
  readonly id: string | undefined;
  readonly payload: Encoded;
}

export function encodeRecords(records: readonly JournalRecord[], codec: Codec): EncodedRecord[] {
  if (!Array.isArray(records)) {
    throw new InputError(`append() takes an array of records, got ${typeof records}`);
  }
  const out = new Array<EncodedRecord>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as JournalRecord;
    if (typeof r !== 'object' || r === null) {
      throw new InputError(`record ${i} must be an object, got ${r === null ? 'null' : typeof r}`);
    }
    if (typeof r.key !== 'string' || r.key.length === 0) {
      throw new InputError(`record ${i}: key must be a non-empty string, got ${show(r.key)}`);
    }
    if (r.type !== undefined && typeof r.type !== 'string') {
      throw new InputError(`record ${i}: type must be a string when given, got ${typeof r.type}`);
    }
    if (r.id !== undefined && (typeof r.id !== 'string' || r.id.length === 0)) {
      throw new InputError(`record ${i}: id must be a non-empty string when given`);
    }
    out[i] = { key: r.key, type: r.type, id: r.id, payload: codec.encode(r.payload) };
  }
  return out;
}

export function checkPosition(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InputError(`${name} must be an integer >= 0, got ${show(value)}`);
  }
  return value;
}

export function checkConsumer(consumer: unknown): string {
  if (typeof consumer !== 'string' || consumer.length === 0) {
    throw new InputError(`consumer must be a non-empty string, got ${show(consumer)}`);
  }
  return consumer;
}

export function checkLimit(limit: unknown): number {
  if (limit === undefined) return 1000;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InputError(`limit must be an integer >= 1, got ${show(limit)}`);
  }
  return limit;
}

/** Checks `read(after, options)` arguments; returns the limit and region to use. */
export function checkRead(
  after: unknown,
  options: ReadOptions,
): { limit: number; region: Region | undefined } {
  checkPosition('after', after);
  return { limit: checkLimit(options.limit), region: checkRegion(options.region) };
}

/** Rejects instead of throwing, so a bad call surfaces where it is awaited. */
export function rejecting<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}
