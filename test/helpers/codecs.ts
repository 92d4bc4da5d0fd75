/**
 * A codec that breaks its contract for two payloads, as user code might: 'as a number'
 * encodes to 42 (neither text nor bytes), 'as broken text' to text holding a lone
 * surrogate (stored as UTF-8, it would come back as U+FFFD). Anything else is JSON.
 */
import { jsonCodec, type Codec } from '../../src/index.js';

const RETURNS: Record<string, unknown> = { 'as a number': 42, 'as broken text': '"\uD800"' };

export const misbehavingCodec: Codec = {
  encode: (payload) =>
    typeof payload === 'string' && payload in RETURNS
      ? (RETURNS[payload] as string)
      : jsonCodec.encode(payload),
  decode: (stored) => jsonCodec.decode(stored),
};

/** The EncodeError messages an append (`record`) or a dead letter (`letter`) `i` gets. */
export const misbehavingCodecRefusal = {
  number: (what: 'record' | 'letter', i: number): RegExp =>
    new RegExp(
      `^${what} ${i}: the codec's encode\\(\\) returned \`42\` \\(number\\); it must return a string or a Uint8Array$`,
    ),
  brokenText: (what: 'record' | 'letter', i: number): RegExp =>
    new RegExp(`^${what} ${i}: the codec's encode\\(\\) returned text that holds a lone surrogate`),
};
