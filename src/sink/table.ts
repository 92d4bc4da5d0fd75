/**
 * What every table sink shares: the options (one resolver, which refuses unknown names),
 * identifier checks (names are validated and
 * quoted, never values), turning an entry into a row, and coalescing a batch by conflict key
 * (the last write wins, as a database refuses to update one row twice in one statement).
 */
import { ConfigError } from '../errors.js';
import { choiceOption, functionOption, knownOptions } from '../core/options.js';
import type { SinkEntry, SinkWriteResult } from './sink.js';

/**
 * The options every table sink (`sqliteSink`, `postgresSink`) takes, besides its own
 * connection. Names are validated as SQL identifiers and quoted; values are always bound.
 */
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
  /**
   * A column (integer, 64-bit: BIGINT / INTEGER) that stores the entry's version. In upsert
   * mode a row is then only overwritten by an entry with a higher version, so a replayed,
   * re-delivered or late entry never puts an older value over a newer one (it is counted as
   * superseded). In insert mode it is stored, for readers to order a key's rows by.
   * @default none (no version guard: the last write delivered wins)
   */
  versionColumn?: string;
  /** Maps an entry to a row; by default the value itself. */
  toRow?: (entry: SinkEntry<V>) => Record<string, unknown>;
}

/** Table sink options checked by {@link resolveTable}, with what a statement needs of them. */
export interface ResolvedTable<V> {
  /** The table, a checked identifier. */
  readonly table: string;
  /** The value columns, checked identifiers. */
  readonly columns: readonly string[];
  /** Upsert on `conflict`, or insert ignoring known ids. */
  readonly mode: 'upsert' | 'insert';
  /** Upsert: the unique-constraint columns; empty in insert mode. */
  readonly conflict: readonly string[];
  /** Insert: the column storing the entry id; `undefined` in upsert mode. */
  readonly idColumn: string | undefined;
  /** The column storing the entry's version, if any. */
  readonly versionColumn: string | undefined;
  /** Every column an INSERT names: `idColumn` (insert mode), `columns`, `versionColumn`. */
  readonly written: readonly string[];
  /** The columns that must carry a unique index: `conflict`, or `idColumn`. */
  readonly unique: readonly string[];
  /**
   * The `ON CONFLICT ...` clause of the mode (SQLite and PostgreSQL share its syntax), with
   * the version guard when there is a version column.
   */
  readonly onConflict: string;
  /**
   * What the rows a statement did not write were: superseded (a versioned upsert whose row
   * held a newer version), duplicates (an insert whose id was there), or nothing can be
   * skipped.
   */
  readonly skipped: 'superseded' | 'duplicates' | undefined;
  /**
   * The row for an entry: `toRow(entry)` (or the value); with an id or version column, its
   * `written` columns, the id and version filled in.
   */
  readonly rowOf: (entry: SinkEntry<V>) => Record<string, unknown>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Returns `value` if it is a plain SQL identifier (letters, digits, underscores; 63 at
 * most, not starting with a digit), else throws ConfigError naming `option`.
 */
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

/** The option names every table sink takes; an adapter adds its own (`database`, `pool`). */
const TABLE_OPTIONS: readonly (keyof TableSinkOptions<unknown>)[] = [
  'table',
  'columns',
  'mode',
  'conflict',
  'idColumn',
  'versionColumn',
  'toRow',
];

/**
 * Resolves the table options of a sink's options bag. `where` names the bag in messages
 * (`'sqliteSink() options'`); `adapterOptions` are the other names the adapter reads itself,
 * so any name in neither list is refused.
 */
export function resolveTable<V>(
  options: TableSinkOptions<V>,
  where = 'table sink options',
  adapterOptions: readonly string[] = [],
): ResolvedTable<V> {
  const o = knownOptions(where, options, [...TABLE_OPTIONS, ...adapterOptions]);
  const table = identifier('table', o.table);
  if (!Array.isArray(o.columns) || o.columns.length === 0) {
    throw new ConfigError('columns', 'a non-empty array of column names', o.columns);
  }
  const columns = (o.columns as unknown[]).map((c, i) => identifier(`columns[${i}]`, c));
  const mode = choiceOption('mode', o.mode, 'upsert', ['upsert', 'insert']);
  // Both are checked whatever the mode; only the mode's own one is used (the other is
  // allowed, so one options object can serve both modes).
  let conflict: string[] = [];
  if (mode === 'upsert' || o.conflict !== undefined) {
    if (!Array.isArray(o.conflict) || o.conflict.length === 0) {
      throw new ConfigError('conflict', 'a non-empty array of columns (upsert mode)', o.conflict);
    }
    conflict = (o.conflict as unknown[]).map((c, i) => identifier(`conflict[${i}]`, c));
    for (const c of conflict) {
      if (!columns.includes(c))
        throw new ConfigError('conflict', `columns among \`columns\``, o.conflict);
    }
  }
  let idColumn: string | undefined = identifier('idColumn', o.idColumn ?? 'sluice_id');
  if (mode === 'upsert') {
    idColumn = undefined;
  } else {
    conflict = [];
    if (columns.includes(idColumn)) {
      throw new ConfigError('idColumn', 'a column not in `columns` (sluice fills it)', idColumn);
    }
  }
  let versionColumn: string | undefined;
  if (o.versionColumn !== undefined) {
    versionColumn = identifier('versionColumn', o.versionColumn);
    if (columns.includes(versionColumn) || versionColumn === idColumn) {
      throw new ConfigError(
        'versionColumn',
        'a column not in `columns` (sluice fills it)',
        versionColumn,
      );
    }
  }
  const toRow = functionOption<(entry: SinkEntry<V>) => Record<string, unknown>>(
    'toRow',
    o.toRow,
    (entry) => entry.value as Record<string, unknown>,
  );
  const written = [
    ...(idColumn === undefined ? [] : [idColumn]),
    ...columns,
    ...(versionColumn === undefined ? [] : [versionColumn]),
  ];
  const updates = written.filter((c) => !conflict.includes(c));
  const target = (idColumn === undefined ? conflict : [idColumn]).map(quote).join(', ');
  let onConflict: string;
  let skipped: ResolvedTable<V>['skipped'];
  if (mode === 'insert' || updates.length === 0) {
    onConflict = `ON CONFLICT (${target}) DO NOTHING`;
    skipped = mode === 'insert' ? 'duplicates' : undefined;
  } else {
    const set = updates.map((c) => `${quote(c)} = excluded.${quote(c)}`).join(', ');
    const guard =
      versionColumn === undefined
        ? ''
        : ` WHERE ${quote(table)}.${quote(versionColumn)} IS NULL OR ${quote(table)}.${quote(versionColumn)} < excluded.${quote(versionColumn)}`;
    onConflict = `ON CONFLICT (${target}) DO UPDATE SET ${set}${guard}`;
    skipped = versionColumn === undefined ? undefined : 'superseded';
  }
  // The written columns only, with no spread: this runs once per entry.
  const rowOf =
    idColumn === undefined && versionColumn === undefined
      ? toRow
      : (entry: SinkEntry<V>): Record<string, unknown> => {
          // A null value (or row) has no columns to give: they are written as NULL.
          const value = toRow(entry) as Record<string, unknown> | null | undefined;
          const row: Record<string, unknown> = {};
          for (const c of written) {
            row[c] = c === idColumn ? entry.id : c === versionColumn ? entry.version : value?.[c];
          }
          return row;
        };
  return {
    table,
    columns,
    mode,
    conflict,
    idColumn,
    versionColumn,
    written,
    unique: idColumn === undefined ? conflict : [idColumn],
    onConflict,
    skipped,
    rowOf,
  };
}

/** The statement's rows that were not written, as a sink reports them. */
export function skippedResult<V>(
  table: ResolvedTable<V>,
  rows: number,
  written: number,
): SinkWriteResult {
  const n = rows - written;
  if (table.skipped === undefined || n <= 0) return {};
  return { [table.skipped]: n };
}

/**
 * Upsert batches: one row per conflict key, the last write (with a version column: the
 * highest version, so a replayed entry in the batch cannot hide a newer one), in the order
 * of the rows kept.
 */
export function coalesce<V>(
  table: ResolvedTable<V>,
  entries: readonly SinkEntry<V>[],
): Record<string, unknown>[] {
  if (table.mode !== 'upsert') return entries.map(table.rowOf);
  return coalesceEntries(table, entries).map((k) => k.row);
}

/** A row of a coalesced batch and the entry it was made from. */
export interface CoalescedRow<V> {
  /** The row, as `toRow` (and the id and version columns) made it. */
  row: Record<string, unknown>;
  /** The entry it stands for (the last of its conflict key, in upsert mode). */
  entry: SinkEntry<V>;
}

/** `coalesce`, keeping each row's entry beside it. */
export function coalesceEntries<V>(
  table: ResolvedTable<V>,
  entries: readonly SinkEntry<V>[],
): CoalescedRow<V>[] {
  if (table.mode !== 'upsert') return entries.map((entry) => ({ row: table.rowOf(entry), entry }));
  const byKey = new Map<string, CoalescedRow<V>>();
  const versioned = table.versionColumn !== undefined;
  for (const e of entries) {
    const row = table.rowOf(e);
    const key = JSON.stringify(table.conflict.map((c) => row[c] ?? null));
    const kept = byKey.get(key);
    if (versioned && kept !== undefined && kept.entry.version > e.version) continue;
    byKey.delete(key);
    byKey.set(key, { row, entry: e });
  }
  return [...byKey.values()];
}
