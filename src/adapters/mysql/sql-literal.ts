/**
 * Values as SQL literals, written so that no value can be read as SQL whatever the session's
 * `sql_mode` and character set: the usual backslash escaping (`\'`) stops escaping anything
 * under `NO_BACKSLASH_ESCAPES`, so a string is quoted with its quotes doubled (`'it''s'`),
 * which both modes read alike, and a string holding a backslash or a NUL travels as its UTF-8
 * bytes in hex with a charset introducer (`_utf8mb4 X'5C27'`), which no mode reads
 * differently.
 *
 * null and undefined are NULL; numbers and bigints are written as they are (NaN and the
 * infinities, which MySQL cannot store, refuse the row); booleans are TRUE / FALSE; bytes
 * are a hex literal; a Date is formatted by the pool (`escape`), so its `timezone` setting
 * applies; functions and symbols refuse the row; any other object is its JSON text.
 */
import { rowError } from './classify.js';

/** What the pool contributes: its own formatting of dates (its `timezone` option). */
export type EscapeDate = (date: Date) => string;

const NEEDS_HEX = /[\\\0]/;

/** `column` names the value in the error that refuses it. */
export function sqlLiteral(value: unknown, escapeDate: EscapeDate, column: string): string {
  if (value === undefined || value === null) return 'NULL';
  switch (typeof value) {
    case 'string':
      return stringLiteral(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw rowError(
          `mysqlSink: the value of \`${column}\` is ${value}, which MySQL cannot store`,
          'outOfRange',
        );
      }
      return String(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'TRUE' : 'FALSE';
    default:
      if (value instanceof Date) return escapeDate(value);
      if (value instanceof Uint8Array) {
        return `X'${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}'`;
      }
      if (typeof value === 'function' || typeof value === 'symbol') {
        throw rowError(`mysqlSink: the value of \`${column}\` is a ${typeof value}`, 'wrongValue');
      }
      return stringLiteral(JSON.stringify(value));
  }
}

function stringLiteral(text: string): string {
  if (NEEDS_HEX.test(text)) return `_utf8mb4 X'${Buffer.from(text, 'utf8').toString('hex')}'`;
  return `'${text.replaceAll("'", "''")}'`;
}
