/**
 * Codec: how payloads become stored bytes and back.
 *
 * The default stores JSON values as JSON text and bytes as they are, so a journal is
 * readable with any SQLite or PostgreSQL client. No value is changed silently: what JSON
 * carries exactly round-trips exactly (plain objects and arrays, strings — lone surrogates
 * included —, finite numbers, booleans, null; a `Uint8Array` payload comes back as bytes);
 * what JSON would turn into something else is refused with an {@link EncodeError} naming
 * its place in the value (`value.tags: Map is not supported`), before anything is written:
 * `undefined` (but as an object property, where it means "absent" and is left out),
 * `NaN`, `±Infinity`, `-0`, `bigint`, functions, symbols, `Map`, `Set`, bytes inside a
 * value, instances of other classes, cycles. Two conversions are kept because they are what
 * the value asks for: a `Date` is stored as its ISO string, and any object with `toJSON()`
 * as what that returns (checked by the same rules).
 */
import { EncodeError, messageOf } from '../errors.js';

/** A value JSON carries exactly: what the default codec stores without changing it. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON value or bytes. */
export type Payload = JsonValue | Uint8Array;

/**
 * The bound of a value type the journal stores as it is: `V extends Encodable<V>` holds for
 * an `interface` or `type` of JSON values (no index signature needed), arrays and tuples of
 * them, and `Uint8Array` as the whole value; it fails for a type with a part the codec
 * refuses or changes: `Map`, `Set`, `Date` (it would arrive as a string: declare the
 * string), `bigint`, functions, bytes inside a value, `undefined` in an array. Parts typed
 * `unknown` pass, and the codec checks them at `write()`.
 */
export type Encodable<V> =
  | Uint8Array
  | ((JsonScalar | object) & {
      [K in keyof V]: V extends readonly unknown[] ? EncodableItem<V[K]> : EncodableField<V[K]>;
    });

type JsonScalar = null | boolean | number | string;
/** Inside a value; the top level is `Encodable` (a conditional there would be circular). */
type EncodableJson<V> = unknown extends V
  ? V
  : V extends JsonScalar
    ? V
    : V extends (...args: never) => unknown
      ? never
      : V extends readonly (infer E)[]
        ? readonly EncodableItem<E>[]
        : V extends object
          ? { [K in keyof V]: EncodableField<V[K]> }
          : never;
/** An array item: `undefined` would be stored as `null`. */
type EncodableItem<V> = V extends undefined ? never : EncodableJson<V>;
/** A property: `undefined` means absent, as JSON leaves it out. */
type EncodableField<V> = V extends undefined ? undefined : EncodableJson<V>;

/** The stored form: text for JSON, bytes for binary. */
export type Encoded = string | Uint8Array;

/** How a journal turns payloads into what it stores, and back; `decode(encode(p))` equals `p`. */
export interface Codec {
  /**
   * The stored form of a payload: well-formed text or bytes (anything else is refused at
   * append with an EncodeError); throws EncodeError for a payload it cannot keep exactly.
   */
  encode(payload: Payload): Encoded;
  /** The payload back from its stored form. */
  decode(stored: Encoded): Payload;
}

/**
 * The default codec: JSON values as JSON text, bytes as they are, so a journal is readable
 * with any SQLite or PostgreSQL client. Anything JSON would change (`undefined` outside an
 * object property, `NaN`, `±Infinity`, `-0`, `bigint`, `Map`, `Set`, class instances,
 * cycles...) is refused with an EncodeError naming its place (`value.tags: Map is not
 * supported`); a `Date` is stored as its ISO string, an object with `toJSON()` as what that
 * returns.
 */
export const jsonCodec: Codec = {
  encode(payload) {
    if (payload instanceof Uint8Array) return payload;
    checkJson(payload);
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (cause) {
      throw new EncodeError(`payload cannot be encoded as JSON: ${(cause as Error).message}`, {
        cause,
      });
    }
    if (text === undefined) {
      throw new EncodeError(`payload cannot be encoded as JSON: got ${typeof payload}`);
    }
    return text;
  },
  decode(stored) {
    return typeof stored === 'string' ? (JSON.parse(stored) as JsonValue) : stored;
  },
};

/** Most nested levels a payload may have (deeper is refused, and so is a cycle). */
const MAX_DEPTH = 1000;

/** Refuses, with an EncodeError naming where, anything JSON would not carry as it is. */
export function checkJson(value: unknown): void {
  walkFromTop(value, false);
}

/**
 * Checks `value` as {@link checkJson} does and returns the length of the JSON text
 * `JSON.stringify` would make of it (UTF-16 code units, as a stored payload is measured),
 * without making it: memory mode measures what it holds this way.
 */
export function jsonLength(value: unknown): number {
  return walkFromTop(value, true);
}

function walkFromTop(value: unknown, measure: boolean): number {
  // The stacks are reused (a walk leaves them empty): a fresh pair per payload was a few
  // hundred bytes of garbage per entry. A walk inside a walk (a toJSON that encodes) gets
  // its own.
  if (walking) return walk(value, [], [], measure);
  walking = true;
  try {
    return walk(value, path, parents, measure);
  } finally {
    walking = false;
    // Only after a refusal: emptying an array drops its storage, which the next walk would
    // allocate again.
    if (path.length > 0) path.length = 0;
    if (parents.length > 0) parents.length = 0;
  }
}

let walking = false;
const path: (string | number)[] = [];
const parents: object[] = [];

/**
 * `path` holds the property names and indexes down to `value`; `parents` the objects that
 * contain it (a cycle would meet one again). Both are stacks: nothing is allocated per value
 * unless it is refused. With `measure`, returns the length of `value`'s JSON text (else 0).
 */
function walk(
  value: unknown,
  path: (string | number)[],
  parents: object[],
  measure: boolean,
): number {
  switch (typeof value) {
    case 'string':
      return measure ? quotedLength(value) : 0;
    case 'boolean':
      return value ? 4 : 5;
    case 'number':
      if (!Number.isFinite(value)) refuse(path, `${value} is not supported (JSON has no ${value})`);
      if (Object.is(value, -0)) refuse(path, '-0 is not supported (JSON stores it as 0)');
      return measure ? numberLength(value) : 0;
    case 'object':
      break;
    case 'undefined':
      return refuse(path, 'undefined is not supported (JSON has no undefined)');
    default:
      return refuse(path, `${typeof value} is not supported by JSON`);
  }
  if (value === null) return 4;
  if (parents.includes(value)) refuse(path, 'a cycle: the value contains itself');
  if (parents.length >= MAX_DEPTH) refuse(path, `nested deeper than ${MAX_DEPTH} levels`);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    refuse(path, 'bytes inside a value are not supported (only a whole payload may be bytes)');
  }
  parents.push(value);
  let length = 0;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // What JSON.stringify stores is what toJSON returns (a Date: its ISO string).
    if (value instanceof Date && Number.isNaN(value.getTime())) {
      refuse(path, 'an invalid Date (JSON stores null)');
    }
    let json: unknown;
    try {
      json = (value as { toJSON: () => unknown }).toJSON();
    } catch (cause) {
      refuse(path, `its toJSON() threw: ${messageOf(cause)}`, cause);
    }
    length = walk(json, path, parents, measure);
  } else if (Array.isArray(value)) {
    length = value.length === 0 ? 2 : value.length + 1; // brackets and commas
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      path.push(i);
      if (item === undefined) refuse(path, 'undefined in an array (JSON stores null)');
      length += walk(item, path, parents, measure);
      path.pop();
    }
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      length = 1; // the opening brace; each property adds its comma or the closing brace
      for (const name in value) {
        // JSON takes own properties only (not what a prototype lends).
        if (!Object.hasOwn(value, name)) continue;
        const item = (value as Record<string, unknown>)[name];
        if (item === undefined) continue; // an absent property, as JSON leaves it out
        path.push(name);
        length += walk(item, path, parents, measure) + (measure ? quotedLength(name) + 2 : 0);
        path.pop();
      }
      if (length === 1) length = 2;
    } else if (value instanceof Map || value instanceof Set) {
      refuse(
        path,
        `${value instanceof Map ? 'Map' : 'Set'} is not supported (use an object or array)`,
      );
    } else {
      const name = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'a class';
      refuse(path, `an instance of ${name} is not supported (pass a plain object)`);
    }
  }
  parents.pop();
  return length;
}

/** What JSON.stringify escapes: quote, backslash, control characters, any surrogate. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** The length of `text` as a JSON string: quoted, escaped as JSON.stringify escapes it. */
function quotedLength(text: string): number {
  if (!ESCAPED.test(text)) return text.length + 2;
  let length = 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (
      c === 0x22 ||
      c === 0x5c ||
      c === 0x08 ||
      c === 0x09 ||
      c === 0x0a ||
      c === 0x0c ||
      c === 0x0d
    ) {
      length += 2; // \" \\ \b \t \n \f \r
    } else if (c < 0x20) {
      length += 6; // \u00XX
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 2; // a pair, kept as it is
        i++;
      } else {
        length += 6; // a lone high surrogate, as \uXXXX
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      length += 6; // a lone low surrogate
    } else {
      length += 1;
    }
  }
  return length;
}

/** The length of a finite number's JSON text (String(value)); integers without a string. */
function numberLength(value: number): number {
  if (!Number.isSafeInteger(value)) return String(value).length;
  let length = value < 0 ? 2 : 1;
  for (let rest = Math.abs(value); rest >= 10; rest = Math.floor(rest / 10)) length++;
  return length;
}

function refuse(path: readonly (string | number)[], why: string, cause?: unknown): never {
  let where = 'value';
  for (const p of path) {
    if (typeof p === 'number') where += `[${p}]`;
    else where += /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  }
  throw new EncodeError(`${where}: ${why}`, cause === undefined ? undefined : { cause });
}
