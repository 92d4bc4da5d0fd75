/**
 * What every table sink shares: the options, identifier checks (names are validated and
 * quoted, never values), turning an entry into a row, and coalescing a batch by conflict key
 * (the last write wins, as a database refuses to update one row twice in one statement).
 */
import { ConfigError } from '../errors.js';
import { choiceOption, functionOption, objectOption } from '../core/options.js';
import type { SinkEntry } from './sink.js';

export interface TableSinkOptions<V> {
  /** Table written to. A plain SQL identifier: letters, digits, underscores. */
  table: string;
  /** Columns written, taken from the value's properties of the same names (or `toRow`). */
  columns: readonly string[];
  /** `upsert`: insert or update on `conflict`; `insert`: insert, ignoring ids already written. */
  mode: 'upsert' | 'insert';
  /** Upsert: the columns of the unique constraint that identifies a row. */
  conflict?: readonly string[];
  /** Insert: the column (with a unique index) that stores the entry id. @default 'sluice_id' */
  idColumn?: string;
  /** Maps an entry to a row; by default the value itself. */
  toRow?: (entry: SinkEntry<V>) => Record<string, unknown>;
}

export interface ResolvedTable<V> {
  readonly table: string;
  readonly columns: readonly string[];
  readonly mode: 'upsert' | 'insert';
  readonly conflict: readonly string[];
  readonly idColumn: string | undefined;
  /** Every column an INSERT names: `idColumn` (insert mode) first, then `columns`. */
  readonly written: readonly string[];
  /** The columns that must carry a unique index: `conflict`, or `idColumn`. */
  readonly unique: readonly string[];
  /** The `ON CONFLICT ...` clause of the mode (SQLite and PostgreSQL share its syntax). */
  readonly onConflict: string;
  /** The row for an entry: `toRow(entry)` (or the value), plus the id in insert mode. */
  readonly rowOf: (entry: SinkEntry<V>) => Record<string, unknown>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function identifier(option: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new ConfigError(
      option,
      'a SQL identifier (letters, digits, underscores; 63 at most)',
      value,
    );
  }
  return value;
}

/** `"name"`: safe because `identifier` allowed no quote in it. */
export const quote = (name: string): string => `"${name}"`;

export function resolveTable<V>(options: TableSinkOptions<V>): ResolvedTable<V> {
  const o = objectOption('options', options);
  const table = identifier('table', o.table);
  if (!Array.isArray(o.columns) || o.columns.length === 0) {
    throw new ConfigError('columns', 'a non-empty array of column names', o.columns);
  }
  const columns = (o.columns as unknown[]).map((c, i) => identifier(`columns[${i}]`, c));
  const mode = choiceOption('mode', o.mode, 'upsert', ['upsert', 'insert']);
  let conflict: string[] = [];
  let idColumn: string | undefined;
  if (mode === 'upsert') {
    if (!Array.isArray(o.conflict) || o.conflict.length === 0) {
      throw new ConfigError('conflict', 'a non-empty array of columns (upsert mode)', o.conflict);
    }
    conflict = (o.conflict as unknown[]).map((c, i) => identifier(`conflict[${i}]`, c));
    for (const c of conflict) {
      if (!columns.includes(c))
        throw new ConfigError('conflict', `columns among \`columns\``, o.conflict);
    }
  } else {
    idColumn = identifier('idColumn', o.idColumn ?? 'sluice_id');
    if (columns.includes(idColumn)) {
      throw new ConfigError('idColumn', 'a column not in `columns` (sluice fills it)', idColumn);
    }
  }
  const toRow =
    o.toRow === undefined
      ? (entry: SinkEntry<V>) => entry.value as Record<string, unknown>
      : functionOption<(entry: SinkEntry<V>) => Record<string, unknown>>('toRow', o.toRow);
  const written = idColumn === undefined ? columns : [idColumn, ...columns];
  const updates = columns.filter((c) => !conflict.includes(c));
  const target = (idColumn === undefined ? conflict : [idColumn]).map(quote).join(', ');
  const onConflict =
    mode === 'insert' || updates.length === 0
      ? `ON CONFLICT (${target}) DO NOTHING`
      : `ON CONFLICT (${target}) DO UPDATE SET ${updates.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ')}`;
  const rowOf =
    idColumn === undefined
      ? toRow
      : (entry: SinkEntry<V>) => ({ ...toRow(entry), [idColumn]: entry.id });
  return {
    table,
    columns,
    mode,
    conflict,
    idColumn,
    written,
    unique: idColumn === undefined ? conflict : [idColumn],
    onConflict,
    rowOf,
  };
}

/** Upsert batches: one row per conflict key, the last write, in the order of last writes. */
export function coalesce<V>(
  table: ResolvedTable<V>,
  entries: readonly SinkEntry<V>[],
): Record<string, unknown>[] {
  if (table.mode !== 'upsert') return entries.map(table.rowOf);
  const byKey = new Map<string, Record<string, unknown>>();
  for (const e of entries) {
    const row = table.rowOf(e);
    const key = JSON.stringify(table.conflict.map((c) => row[c] ?? null));
    byKey.delete(key);
    byKey.set(key, row);
  }
  return [...byKey.values()];
}
