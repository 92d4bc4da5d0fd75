/**
 * Codec: how payloads become stored bytes and back.
 *
 * The default stores JSON values as JSON text and bytes as they are, so a journal is
 * readable with any SQLite or PostgreSQL client. JSON's own rules apply: `NaN` and
 * `Infinity` are stored as `null`, object properties whose value is `undefined` are left
 * out. A payload JSON cannot represent at all (`undefined`, a function, a `bigint`, a cycle)
 * is refused with {@link EncodeError} before anything is written.
 */
import { EncodeError } from '../errors.js';

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A JSON value or bytes. */
export type Payload = JsonValue | Uint8Array;

/** The stored form: text for JSON, bytes for binary. */
export type Encoded = string | Uint8Array;

export interface Codec {
  encode(payload: Payload): Encoded;
  decode(stored: Encoded): Payload;
}

export const jsonCodec: Codec = {
  encode(payload) {
    if (payload instanceof Uint8Array) return payload;
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
