/**
 * `SqliteJournal.read`: which query a region takes, and the byte bound applied before any
 * payload is decoded.
 *
 * Exact keys (and nothing else) seek the (key, position) index once per key and merge the
 * rows by position; every other region scans the primary key from `after` (see
 * read-query.ts). With a `maxBytes` bound, rows are stepped one at a time so a run of large
 * payloads is never fetched past it; at least one row is always returned.
 */
import { type Codec, type JournalEntry, type Region } from '../../index.js';
import { payloadBytes } from '../../backend.js';
import { decodeEntry, type EntryRow, type EntryStatements } from './entry-row.js';
import { keyQuery, regionQuery } from './read-query.js';

export function readEntries(
  statements: EntryStatements,
  codec: Codec,
  after: number,
  limit: number,
  region: Region | undefined,
  maxBytes: number,
): JournalEntry[] {
  const { keys, keyPrefix, types } = region ?? {};
  let rows: EntryRow[];
  if (keys !== undefined && keyPrefix === undefined && types === undefined) {
    rows = [...new Set(keys)].flatMap((key) => statements.all(keyQuery(key), after, limit));
    rows.sort((a, b) => a.position - b.position);
    rows = rows.slice(0, limit);
    if (maxBytes !== Infinity) rows = upTo(rows, maxBytes);
  } else if (maxBytes === Infinity) {
    rows = statements.all(regionQuery(region), after, limit);
  } else {
    // Row by row: all() would hold every row of the limit at once; stepping costs ~0.3 µs a
    // row more.
    rows = upTo(statements.iterate(regionQuery(region), after, limit), maxBytes);
  }
  return rows.map((row) => decodeEntry(row, codec));
}

/**
 * The first rows whose payloads fit in `maxBytes` (at least one), before decoding them; a
 * statement's iterator is left (and reset) at the first row that does not fit.
 */
function upTo(rows: Iterable<EntryRow>, maxBytes: number): EntryRow[] {
  const out: EntryRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    bytes += payloadBytes(row.payload);
    if (out.length > 0 && bytes > maxBytes) break;
    out.push(row);
  }
  return out;
}
