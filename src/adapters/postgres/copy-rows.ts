/**
 * Optimistic COPY for postgresSink's insert mode: a batch is streamed with `COPY ... FROM
 * STDIN` (text format) straight into the table, PostgreSQL's cheapest way in, instead of the
 * `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING` statement. COPY is atomic and
 * has no ON CONFLICT: a batch that meets an id already in the table (which only happens
 * when entries are delivered again, after a restart or a takeover) fails whole, writes
 * nothing, and is written again by the statement, which skips the known ids; so are the
 * next batches for a while, as a redelivery comes in runs.
 *
 * Each field is the text the statement's parameters would carry (node-postgres's: `String`
 * of a number or boolean, JSON of an object, `\x` hex of bytes), so a value is stored the
 * same whichever way it went. A batch holding a value whose text node-postgres forms
 * differently (a Date, in the server's local time) goes by the statement; so does every batch
 * of a table with an array column.
 *
 * Uses the pg-copy-streams package (an optional peer dependency, like pg): without it, every
 * batch goes by the statement.
 */
import type pg from 'pg';
import type { from as CopyFrom } from 'pg-copy-streams';
import { quote, requireOptional } from '../../backend.js';
import { refused, withClient } from './client.js';
import { MissingDependencyError } from '../../index.js';

/** Batches written by the statement after one met a known id, before COPY is tried again. */
export const STATEMENT_AFTER_CONFLICT = 16;

/** Loads pg-copy-streams' `from`, or `undefined` when the package is not installed. */
export function loadCopyFrom(): typeof CopyFrom | undefined {
  try {
    return requireOptional<{ from: typeof CopyFrom }>('pg-copy-streams', 'postgresSink COPY').from;
  } catch (error) {
    if (error instanceof MissingDependencyError) return undefined;
    throw error;
  }
}

/** Whether every written column takes COPY's text as the statement takes its parameters. */
export function copyableColumns(types: ReadonlyMap<string, string>, written: readonly string[]) {
  return written.every((c) => !(types.get(c) ?? '').endsWith(']'));
}

/** The COPY statement for the written columns. */
export function copyStatement(schema: string, table: string, written: readonly string[]): string {
  return `COPY ${quote(schema)}.${quote(table)} (${written.map(quote).join(', ')}) FROM STDIN`;
}

/**
 * The rows as COPY text (one line per row, fields in `written` order), or `undefined` when a
 * value's text would differ from what the statement sends (the batch goes by the statement).
 */
export function copyText(
  rows: readonly Record<string, unknown>[],
  written: readonly string[],
): string | undefined {
  let text = '';
  for (const row of rows) {
    for (let i = 0; i < written.length; i++) {
      const field = copyField(row[written[i] as string]);
      if (field === undefined) return undefined;
      text += i === 0 ? field : `\t${field}`;
    }
    text += '\n';
  }
  return text;
}

/** One field in COPY's text format; `undefined` for a value it does not carry the same. */
function copyField(value: unknown): string | undefined {
  switch (typeof value) {
    case 'undefined':
      return '\\N';
    case 'string':
      return escape(value);
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      if (value === null) return '\\N';
      if (value instanceof Uint8Array) {
        return `\\\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`;
      }
      if (value instanceof Date) return undefined;
      return escape(JSON.stringify(value));
    default:
      return undefined;
  }
}

const SPECIAL = /[\\\t\n\r]/;

/** Backslash, tab, newline and carriage return escaped, as COPY's text format reads them. */
function escape(text: string): string {
  if (!SPECIAL.test(text)) return text;
  return text
    .replace(/\\/g, '\\\\')
    .replace(/\t/g, '\\t')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/**
 * Streams `text` through `statement` on a connection of `pool`. A COPY that gets no answer
 * within `timeoutMs` fails (as a query timeout does, so it is retried) and its connection is
 * dropped; so is the connection of any failure but the server's own refusal.
 */
export function copyRows(
  pool: pg.Pool,
  copyFrom: typeof CopyFrom,
  statement: string,
  text: string,
  timeoutMs: number,
): Promise<void> {
  return withClient(pool, async (client) => {
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = client.query(copyFrom(statement));
        const timer = setTimeout(
          () => reject(new Error(`Query read timeout: COPY got no answer within ${timeoutMs} ms`)),
          timeoutMs,
        );
        stream.on('finish', () => {
          clearTimeout(timer);
          resolve();
        });
        stream.on('error', (error: Error) => {
          clearTimeout(timer);
          reject(error);
        });
        stream.end(text);
      });
    } catch (error) {
      // Given up on (a timeout) or cut off: the connection is dropped, but its server session
      // may still be waiting (behind a lock, say), holding a connection slot: cancel it.
      if (!refused(error)) {
        const pid = (client as unknown as { processID: number | null }).processID;
        // Not awaited: with the network down it would hold the failure for a connect timeout.
        if (pid !== null) {
          pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => {
            // Best effort: unreachable too, and the session ends once its socket is found gone.
          });
        }
      }
      throw error;
    }
  });
}
