/**
 * The SQL behind `SqliteJournal.read`, one pure function so the query plans can be checked.
 *
 * - no region: a primary-key range from `after`;
 * - exact keys only: one (key, position) index seek per key, merged by the caller;
 * - anything else: a primary-key range from `after` with the region as a filter. The unary
 *   `+` on `key` keeps SQLite on the primary key: a key-index plan would have to sort every
 *   match before applying the limit.
 *
 * None of them reads entries at or before `after`, so the cost does not grow with the log.
 * Each selects an `EntryRow` (see entry-row.ts).
 */
import type { Region } from '../../index.js';
import { ENTRY_SELECT } from './entry-row.js';

export interface ReadQuery {
  readonly sql: string;
  /** Bind parameters for one read. */
  args(after: number, limit: number): unknown[];
}

export function keyQuery(key: string): ReadQuery {
  return {
    sql: `SELECT ${ENTRY_SELECT} FROM sluice_entries WHERE key = ? AND position > ? ORDER BY position LIMIT ?`,
    args: (after, limit) => [key, after, limit],
  };
}

export function regionQuery(region: Region | undefined): ReadQuery {
  const where = ['position > ?'];
  const params: unknown[] = [];
  if (region !== undefined) {
    const { keys, keyPrefix, types } = region;
    const byKey: string[] = [];
    if (keys !== undefined) {
      byKey.push(`+key IN (${keys.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...keys);
    }
    if (keyPrefix !== undefined) {
      byKey.push('substr(key, 1, length(?)) = ?');
      params.push(keyPrefix, keyPrefix);
    }
    if (byKey.length > 0) where.push(`(${byKey.join(' OR ')})`);
    if (types !== undefined) {
      where.push(`type IN (${types.map(() => '?').join(', ') || 'NULL'})`);
      params.push(...types);
    }
  }
  return {
    sql: `SELECT ${ENTRY_SELECT} FROM sluice_entries WHERE ${where.join(' AND ')} ORDER BY position LIMIT ?`,
    args: (after, limit) => [after, ...params, limit],
  };
}
