/**
 * Argument checks every journal backend runs at the call, so a bad argument gets the same
 * typed error whatever the backend, and nothing of the call is written.
 */
import { EncodeError, EntryTooLargeError, InputError, show } from '../errors.js';
import { jsonCodec, jsonLength, type Codec, type Encoded, type Payload } from './codec.js';
import type { AppendOptions, JournalEntry, JournalRecord, ReadOptions, Region } from './journal.js';
import { checkNames } from '../core/options.js';
import { checkRegion } from './region.js';

/** A record checked and encoded, ready to store. */
export interface EncodedRecord {
  /** The record's key. */
  readonly key: string;
  /** Its type, if it has one. */
  readonly type: string | undefined;
  /** Its idempotency key, if it has one. */
  readonly id: string | undefined;
  /** The payload as the codec encoded it. */
  readonly payload: Encoded;
  /** Undefined: the journal assigns one at append. */
  readonly version: number | undefined;
  /** The sink id of the entry it re-delivers, if it is a re-delivery. */
  readonly origin: string | undefined;
}

/** A string a text column stores as it is: no lone surrogate (UTF-8 has no place for one). */
export function wellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_KEPT =
  'a lone surrogate (half of a UTF-16 pair), which text storage cannot keep';

/**
 * Checks and encodes what `append` was given, so every backend refuses the same input the
 * same way before it writes anything: InputError for a bad record or option, EncodeError
 * from the codec, EntryTooLargeError past `maxRecordBytes`.
 */
export function encodeRecords(
  records: readonly JournalRecord[],
  codec: Codec,
  options: AppendOptions = {},
): EncodedRecord[] {
  const maxBytes = checkAppend(records, options);
  const out = new Array<EncodedRecord>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r = checkRecord(records[i], i);
    const payload = encodeWith(codec, r.payload, 'record', i);
    if (payload.length > maxBytes) {
      throw new EntryTooLargeError(payloadBytes(payload), maxBytes, 'maxEntryBytes');
    }
    out[i] = {
      key: r.key,
      type: r.type,
      id: r.id,
      payload,
      version: r.version,
      origin: r.origin,
    };
  }
  return out;
}

/**
 * `payload` of `record` (or `letter`) `i` encoded by `codec`. Another codec than the JSON one
 * is the caller's code: what it returns must be text or bytes a store keeps exactly (a lone
 * surrogate, stored as UTF-8, would come back as U+FFFD), else an EncodeError. The JSON
 * codec's text always is.
 */
export function encodeWith(
  codec: Codec,
  payload: Payload,
  what: 'record' | 'letter',
  i: number,
): Encoded {
  const encoded = codec.encode(payload);
  if (codec !== jsonCodec) checkEncoded(encoded, what, i);
  return encoded;
}

function checkEncoded(payload: unknown, what: 'record' | 'letter', i: number): void {
  if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
    throw new EncodeError(
      `${what} ${i}: the codec's encode() returned ${show(payload)}; it must return a string or a Uint8Array`,
    );
  }
  if (typeof payload === 'string' && !wellFormed(payload)) {
    throw new EncodeError(
      `${what} ${i}: the codec's encode() returned text that holds ${LONE_SURROGATE_KEPT}`,
    );
  }
}

/**
 * Checks what `append` was given as {@link encodeRecords} does, with the same errors, and
 * returns each payload's size as the JSON codec would store it (JSON text's length, or the
 * bytes' length), without encoding anything: for memory mode, which keeps the values.
 */
export function measureRecords(
  records: readonly JournalRecord[],
  options: AppendOptions = {},
): number[] {
  const maxBytes = checkAppend(records, options);
  const sizes = new Array<number>(records.length);
  for (let i = 0; i < records.length; i++) {
    const { payload } = checkRecord(records[i], i);
    const size = payload instanceof Uint8Array ? payload.byteLength : jsonLength(payload);
    if (size > maxBytes) throw new EntryTooLargeError(size, maxBytes, 'maxEntryBytes');
    sizes[i] = size;
  }
  return sizes;
}

/** The options `append` takes (one array for every call). */
const APPEND_OPTIONS = ['maxRecordBytes'];

/** The options and the array of an append; returns the most bytes a payload may have. */
function checkAppend(records: readonly JournalRecord[], options: AppendOptions): number {
  if (typeof options !== 'object' || options === null) {
    throw new InputError(`append options must be an object when given, got ${show(options)}`);
  }
  checkNames('append options', options, APPEND_OPTIONS);
  if (!Array.isArray(records)) {
    throw new InputError(`append() takes an array of records, got ${typeof records}`);
  }
  return options.maxRecordBytes ?? Infinity;
}

/** Record `i` of an append, its fields checked (not its payload). */
function checkRecord(r: JournalRecord | undefined, i: number): JournalRecord {
  if (typeof r !== 'object' || r === null) {
    throw new InputError(`record ${i} must be an object, got ${r === null ? 'null' : typeof r}`);
  }
  // The names are built only for an error: four template strings per record would be ~200
  // bytes of garbage per entry.
  if (!isText(r.key, true)) refuseText(`record ${i}: key`, r.key, true);
  if (!isText(r.type, false)) refuseText(`record ${i}: type`, r.type, false);
  if (!isText(r.id, false)) refuseText(`record ${i}: id`, r.id, false);
  if (!isText(r.origin, false)) refuseText(`record ${i}: origin`, r.origin, false);
  if (r.version !== undefined && !(Number.isSafeInteger(r.version) && r.version >= 1)) {
    throw new InputError(`record ${i}: version must be an integer >= 1, got ${show(r.version)}`);
  }
  return r;
}

/** A key, id or type: a non-empty, well-formed string (optional ones may be undefined). */
export function checkText(what: string, value: unknown, required: boolean): void {
  if (!isText(value, required)) refuseText(what, value, required);
}

/** What {@link checkText} lets pass. */
function isText(value: unknown, required: boolean): boolean {
  return value === undefined
    ? !required
    : typeof value === 'string' && value.length > 0 && wellFormed(value);
}

/** The InputError for a `value` {@link isText} refused, named `what`. */
function refuseText(what: string, value: unknown, required: boolean): never {
  throw new InputError(
    typeof value !== 'string' || value.length === 0
      ? `${what} must be a non-empty string${required ? '' : ' when given'}, got ${show(value)}`
      : `${what} holds ${LONE_SURROGATE_KEPT}: ${show(value)}`,
  );
}

/** The size of a stored payload: characters of JSON text, or bytes. */
export function payloadBytes(payload: Encoded): number {
  return typeof payload === 'string' ? payload.length : payload.byteLength;
}

/** A position argument: an integer >= 0, else InputError naming `name`. */
export function checkPosition(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InputError(`${name} must be an integer >= 0, got ${show(value)}`);
  }
  return value;
}

/** A consumer name: a non-empty string, else InputError. */
export function checkConsumer(consumer: unknown): string {
  if (typeof consumer !== 'string' || consumer.length === 0) {
    throw new InputError(`consumer must be a non-empty string, got ${show(consumer)}`);
  }
  return consumer;
}

/** A read limit: an integer >= 1, else InputError; `undefined` gives the default, 1000. */
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
): {
  /** Most entries to return. */
  limit: number;
  /** The region, or `undefined` for every entry. */
  region: Region | undefined;
  /** Payload bytes to stop at; `Infinity` for no limit. */
  maxBytes: number;
} {
  checkPosition('after', after);
  if (typeof options !== 'object' || options === null) {
    throw new InputError(`read options must be an object when given, got ${show(options)}`);
  }
  checkNames('read options', options, ['region', 'limit', 'maxBytes']);
  return {
    limit: checkLimit(options.limit),
    region: checkRegion(options.region),
    maxBytes: checkMaxBytes(options.maxBytes),
  };
}

/** A read's byte bound: a number >= 1, else InputError; `undefined` gives no bound. */
export function checkMaxBytes(maxBytes: unknown): number {
  if (maxBytes === undefined) return Infinity;
  if (typeof maxBytes !== 'number' || !(maxBytes >= 1)) {
    throw new InputError(`maxBytes must be a number >= 1, got ${show(maxBytes)}`);
  }
  return maxBytes;
}

/** Rejects instead of throwing, so a bad call surfaces where it is awaited. */
export function rejecting<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A stored entry's fields, as `decodedEntry` takes them (its `bytes` come from the payload). */
export interface StoredEntry {
  /** The entry's position. */
  readonly position: number;
  /** Its key. */
  readonly key: string;
  /** Its type, or `null`. */
  readonly type: string | null;
  /** Its idempotency key, or `null`. */
  readonly id: string | null;
  /** When it was appended, in ms since the epoch. */
  readonly appendedAt: number;
  /** Its version. */
  readonly version: number;
  /** The sink id it re-delivers, or `null`. */
  readonly origin: string | null;
}

/**
 * The entry a stored row holds, with its payload decoded. A payload the codec cannot decode
 * is kept as `undecodable`: one damaged row must not stop every read past it.
 */
export function decodedEntry(row: StoredEntry, stored: Encoded, codec: Codec): JournalEntry {
  const entry = {
    position: row.position,
    key: row.key,
    type: row.type ?? undefined,
    id: row.id ?? undefined,
    payload: null as Payload,
    appendedAt: row.appendedAt,
    bytes: payloadBytes(stored),
    version: row.version,
    origin: row.origin ?? undefined,
  };
  try {
    entry.payload = codec.decode(stored);
    return entry;
  } catch (error) {
    return { ...entry, undecodable: { stored, error: String(error) } };
  }
}
