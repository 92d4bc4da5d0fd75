/**
 * The judge of a cluster run: given what the writers were told (the acknowledged writes)
 * and what the sink holds, says whether every promise held, and if not, names the first
 * key or entry that broke one.
 *
 * The workload it expects: each key has one writer at a time, which writes the key's values
 * with a sequence number `seq` (0, 1, 2, ...), awaiting each write before the next of that
 * key, so per key `seq` is the write order. A write that resolved is acknowledged (it is in
 * the ack log with the position `write` returned); one that did not may still be in the
 * journal (the writer died between the commit and the ack).
 *
 * Rules (each a {@link Violation} `rule`):
 * - `ack`: the acknowledgements themselves are consistent: two writes never share a
 *   position, a write is acknowledged once, and per key a later seq has a higher position
 *   (positions grow with commit order, and a key's writes are sequential).
 * - `missing`: every acknowledged write is in the insert table.
 * - `duplicate`: no entry (id, or key and seq) is in the insert table twice; an
 *   unacknowledged write may be there, at most once.
 * - `mismatch`: the row of an acknowledged id holds that write's key and seq.
 * - `order`: per key, rows arrived (the table's arrival column, filled by the database at
 *   insert) in increasing seq, and increasing version when the table stores it.
 * - `stale`: the upsert table holds, per key, its highest acknowledged seq, or a later one
 *   that was written (and, when the insert table is given, delivered) but not acknowledged.
 * - `regression`: a key of the upsert table (or a partition's checkpoint) never went back
 *   between two looks ({@link Monotonic}, fed while the run goes on).
 *
 * ```ts
 * const latest = watchLatest(pool, schema);          // while the cluster runs
 * ...
 * assertHistory({ acks, inserted: await readInserted(pool, schema),
 *                 latest: await readLatest(pool, schema), monotonic: await latest.stop() });
 * ```
 */
import { AssertionError } from 'node:assert';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';

/** One acknowledged write, as a writer logged it once `write` resolved. */
export interface Ack {
  readonly key: string;
  readonly seq: number;
  /** The id the write was given (the sink's idempotency key). */
  readonly id: string;
  /** The position `write` resolved with. */
  readonly position: number;
  /** Who wrote it (for messages). */
  readonly node?: string;
  /** When it was acknowledged (ms since the epoch). */
  readonly t?: number;
}

/** One row of the insert-mode sink table: one delivered entry. */
export interface InsertedRow {
  /** Order of arrival, assigned by the database at insert (a bigserial). */
  readonly arrival: number;
  readonly id: string;
  readonly key: string;
  readonly seq: number;
  /** The entry's version, when the table stores it. */
  readonly version?: number;
  /** Which node delivered it (for messages). */
  readonly deliverer?: string;
}

/** One row of the version-guarded upsert sink table: a key's newest delivered value. */
export interface LatestRow {
  readonly key: string;
  readonly seq: number;
  readonly version: number;
  readonly deliverer?: string;
}

/** A broken promise: which rule, on which key, and a message that names the entry. */
export interface Violation {
  readonly rule: 'ack' | 'missing' | 'duplicate' | 'mismatch' | 'order' | 'stale' | 'regression';
  readonly key: string;
  readonly message: string;
}

/** What {@link checkHistory} judges; `inserted` and `latest` are each optional. */
export interface History {
  readonly acks: readonly Ack[];
  readonly inserted?: readonly InsertedRow[];
  readonly latest?: readonly LatestRow[];
  /** Watchers fed during the run: their regressions are reported as violations. */
  readonly monotonic?: readonly Monotonic[];
}

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [item]);
    else group.push(item);
  }
  return groups;
}

const showAck = (a: Ack): string =>
  `seq ${a.seq} (id ${a.id}, acknowledged at position ${a.position}${a.node === undefined ? '' : ` by ${a.node}`})`;
const showRow = (r: InsertedRow): string =>
  `seq ${r.seq} (id ${r.id}, arrival ${r.arrival}${r.version === undefined ? '' : `, version ${r.version}`}${r.deliverer === undefined ? '' : `, delivered by ${r.deliverer}`})`;

/**
 * Every violation of the rules in the module doc, in a stable order: by rule as listed
 * there, then by key. Empty when the history is sound.
 */
export function checkHistory(history: History): Violation[] {
  const violations: Violation[] = [];
  const acksByKey = groupBy(history.acks, (a) => a.key);
  const keys = [...acksByKey.keys()].sort(byKey);

  // ack: the writers' own record is consistent.
  const atPosition = new Map<number, Ack>();
  for (const key of keys) {
    const acks = [...(acksByKey.get(key) as Ack[])].sort(
      (a, b) => a.seq - b.seq || a.position - b.position,
    );
    let before: Ack | undefined;
    for (const a of acks) {
      if (before !== undefined && before.seq === a.seq) {
        violations.push({
          rule: 'ack',
          key,
          message: `ack: key ${key} ${showAck(a)} was acknowledged twice (also at position ${before.position})`,
        });
      } else if (before !== undefined && before.position >= a.position) {
        violations.push({
          rule: 'ack',
          key,
          message: `ack: key ${key} ${showAck(a)} has a position not above its earlier ${showAck(before)}`,
        });
      }
      if (before === undefined || before.seq !== a.seq) before = a;
      const other = atPosition.get(a.position);
      if (other !== undefined && other.id !== a.id) {
        violations.push({
          rule: 'ack',
          key,
          message: `ack: position ${a.position} was returned for two writes: key ${other.key} ${showAck(other)} and key ${key} ${showAck(a)}`,
        });
      }
      atPosition.set(a.position, a);
    }
  }

  const inserted = history.inserted;
  const rowsById = groupBy(inserted ?? [], (r) => r.id);
  const rowsByKey = groupBy(inserted ?? [], (r) => r.key);
  if (inserted !== undefined) {
    // missing, mismatch: every acknowledged write is there, as written.
    for (const key of keys) {
      for (const a of [...(acksByKey.get(key) as Ack[])].sort((x, y) => x.seq - y.seq)) {
        const rows = rowsById.get(a.id);
        if (rows === undefined) {
          violations.push({
            rule: 'missing',
            key,
            message: `missing: key ${key} ${showAck(a)} is not in the sink table`,
          });
          continue;
        }
        const row = rows[0] as InsertedRow;
        if (row.key !== a.key || row.seq !== a.seq) {
          violations.push({
            rule: 'mismatch',
            key,
            message: `mismatch: id ${a.id} was acknowledged as key ${a.key} seq ${a.seq} but the sink row holds key ${row.key} seq ${row.seq}`,
          });
        }
      }
    }
    // duplicate: each entry at most once, by id and by what it carries.
    for (const key of [...rowsByKey.keys()].sort(byKey)) {
      const rows = rowsByKey.get(key) as InsertedRow[];
      const seen = new Map<string, InsertedRow>();
      const seenSeq = new Map<number, InsertedRow>();
      for (const r of rows) {
        const first = seen.get(r.id) ?? seenSeq.get(r.seq);
        if (first !== undefined) {
          violations.push({
            rule: 'duplicate',
            key,
            message: `duplicate: key ${key} ${showRow(r)} is in the sink table twice (first: ${showRow(first)})`,
          });
        }
        seen.set(r.id, r);
        seenSeq.set(r.seq, r);
      }
    }
    // order: per key, arrival order is seq order (and version order).
    for (const key of [...rowsByKey.keys()].sort(byKey)) {
      // A second copy of an entry is a `duplicate`, not also an order violation.
      const seqs = new Set<number>();
      const rows = [...(rowsByKey.get(key) as InsertedRow[])]
        .sort((a, b) => a.arrival - b.arrival)
        .filter((r) => {
          if (seqs.has(r.seq)) return false;
          seqs.add(r.seq);
          return true;
        });
      for (let i = 1; i < rows.length; i++) {
        const before = rows[i - 1] as InsertedRow;
        const r = rows[i] as InsertedRow;
        if (r.seq <= before.seq) {
          violations.push({
            rule: 'order',
            key,
            message: `order: key ${key} ${showRow(r)} arrived after ${showRow(before)}`,
          });
          break;
        }
        if (
          r.version !== undefined &&
          before.version !== undefined &&
          r.version <= before.version
        ) {
          violations.push({
            rule: 'order',
            key,
            message: `order: key ${key} ${showRow(r)} arrived after ${showRow(before)}, with a version not above it`,
          });
          break;
        }
      }
    }
  }

  if (history.latest !== undefined) {
    // stale: each key holds its last acknowledged value, or a later written one.
    const latest = new Map(history.latest.map((r) => [r.key, r]));
    for (const key of keys) {
      const last = (acksByKey.get(key) as Ack[]).reduce((a, b) => (b.seq > a.seq ? b : a));
      const row = latest.get(key);
      if (row === undefined) {
        violations.push({
          rule: 'stale',
          key,
          message: `stale: key ${key} has no row in the upsert table; its last write is ${showAck(last)}`,
        });
      } else if (row.seq < last.seq) {
        violations.push({
          rule: 'stale',
          key,
          message: `stale: key ${key} holds seq ${row.seq} (version ${row.version}${row.deliverer === undefined ? '' : `, by ${row.deliverer}`}) in the upsert table, older than its last write ${showAck(last)}`,
        });
      } else if (row.seq > last.seq && inserted !== undefined) {
        const delivered = (rowsByKey.get(key) ?? []).some((r) => r.seq === row.seq);
        if (!delivered) {
          violations.push({
            rule: 'stale',
            key,
            message: `stale: key ${key} holds seq ${row.seq} in the upsert table, past its last write ${showAck(last)}, and no such entry was delivered`,
          });
        }
      }
    }
  }

  for (const watcher of history.monotonic ?? []) violations.push(...watcher.regressions);
  return violations;
}

/**
 * Throws an AssertionError when {@link checkHistory} finds anything: the message starts
 * with the first violation, then the count per rule and up to `show` more.
 */
export function assertHistory(history: History, show = 10): void {
  const violations = checkHistory(history);
  if (violations.length === 0) return;
  const counts = new Map<string, number>();
  for (const v of violations) counts.set(v.rule, (counts.get(v.rule) ?? 0) + 1);
  const summary = [...counts].map(([rule, n]) => `${n} ${rule}`).join(', ');
  const lines = violations.slice(1, show + 1).map((v) => `  ${v.message}`);
  throw new AssertionError({
    message:
      `${violations[0]?.message}\n(${violations.length} violations: ${summary}; ` +
      `${history.acks.length} acknowledged writes, ${history.inserted?.length ?? '-'} sink rows)` +
      (lines.length > 0 ? `\n${lines.join('\n')}` : ''),
  });
}

/**
 * Per subject, values that may only grow from one look to the next (a key's seq and
 * version in the upsert table, a partition's checkpoint and lease epoch). A value is a
 * number or a tuple compared element by element (a checkpoint is `(tx, position)`). Feed it
 * with {@link observe}; every step back is a `regression` violation.
 */
export class Monotonic {
  readonly #seen = new Map<string, readonly number[]>();
  readonly regressions: Violation[] = [];
  /** How many looks were taken (a watcher that never looked judged nothing). */
  looks = 0;

  constructor(readonly what: string) {}

  /** One look: `value` of `subject` now. `key` names the key the subject belongs to. */
  observe(subject: string, value: number | readonly number[], key = subject, detail = ''): void {
    const now = typeof value === 'number' ? [value] : value;
    const before = this.#seen.get(subject);
    const order = before === undefined ? 1 : compare(now, before);
    if (before !== undefined && order < 0) {
      this.regressions.push({
        rule: 'regression',
        key,
        message: `regression: ${this.what} ${subject} went back from ${show(before)} to ${show(now)}${detail === '' ? '' : ` (${detail})`}`,
      });
    }
    if (order > 0) this.#seen.set(subject, now);
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const show = (v: readonly number[]): string =>
  v.length === 1 ? String(v[0]) : `(${v.join(', ')})`;

/** What a watcher resolves with once stopped. */
export interface Watch {
  stop(): Promise<Monotonic>;
}

/**
 * Polls a table every `everyMs` until stopped, feeding each row to `look`. A failing query
 * (the server busy, a connection cut by the test) is tried again at the next tick.
 */
function poll<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  sql: string,
  monotonic: Monotonic,
  look: (row: R) => void,
  everyMs: number,
): Watch {
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      try {
        const { rows } = await pool.query<R>(sql);
        monotonic.looks++;
        for (const row of rows) look(row);
      } catch {
        // Next tick; a watcher that never managed to look fails its `looks` assertion.
      }
      await delay(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return monotonic;
    },
  };
}

/** Watches `<schema>.latest` while the run goes on: no key's seq or version goes back. */
export function watchLatest(pool: pg.Pool, schema: string, everyMs = 50): Watch {
  const m = new Monotonic('upsert table key');
  return poll<{ k: string; seq: number; version: string; deliverer: string | null }>(
    pool,
    `SELECT k, seq, version, deliverer FROM ${schema}.latest`,
    m,
    (r) => {
      const detail = `seq ${r.seq}, version ${r.version}, delivered by ${r.deliverer}`;
      m.observe(`${r.k} seq`, r.seq, r.k, detail);
      m.observe(`${r.k} version`, Number(r.version), r.k, detail);
    },
    everyMs,
  );
}

/**
 * Watches the journal's lease table (`leases`: consumer, part, owner, epoch, cp_tx, cp_pos)
 * while the run goes on: no partition's checkpoint and no lease epoch goes back (a fenced commit from a node that lost its lease changes
 * neither).
 */
export function watchCheckpoints(pool: pg.Pool, schema: string, everyMs = 50): Watch {
  const m = new Monotonic('partition');
  return poll<{
    consumer: string;
    part: number;
    owner: string | null;
    epoch: string;
    cp_tx: string;
    cp_pos: string;
  }>(
    pool,
    `SELECT consumer, part, owner, epoch, cp_tx::text AS cp_tx, cp_pos FROM ${schema}.leases`,
    m,
    (r) => {
      const p = `${r.consumer}/${r.part}`;
      const detail = `owner ${r.owner}, epoch ${r.epoch}, checkpoint (tx ${r.cp_tx}, position ${r.cp_pos})`;
      // Entries are delivered in (tx, position) order: the checkpoint grows as that pair.
      m.observe(`${p} checkpoint`, [Number(r.cp_tx), Number(r.cp_pos)], p, detail);
      m.observe(`${p} epoch`, Number(r.epoch), p, detail);
    },
    everyMs,
  );
}

/** The insert table, `<schema>.ledger`, in arrival order. */
export async function readInserted(pool: pg.Pool, schema: string): Promise<InsertedRow[]> {
  const { rows } = await pool.query<{
    arrival: string;
    sluice_id: string;
    k: string;
    seq: number;
    version: string | null;
    deliverer: string | null;
  }>(
    `SELECT arrival, sluice_id, k, seq, version, deliverer FROM ${schema}.ledger ORDER BY arrival`,
  );
  return rows.map((r) => ({
    arrival: Number(r.arrival),
    id: r.sluice_id,
    key: r.k,
    seq: r.seq,
    ...(r.version === null ? {} : { version: Number(r.version) }),
    ...(r.deliverer === null ? {} : { deliverer: r.deliverer }),
  }));
}

/** The upsert table, `<schema>.latest`. */
export async function readLatest(pool: pg.Pool, schema: string): Promise<LatestRow[]> {
  const { rows } = await pool.query<{
    k: string;
    seq: number;
    version: string;
    deliverer: string | null;
  }>(`SELECT k, seq, version, deliverer FROM ${schema}.latest`);
  return rows.map((r) => ({
    key: r.k,
    seq: r.seq,
    version: Number(r.version),
    ...(r.deliverer === null ? {} : { deliverer: r.deliverer }),
  }));
}

/**
 * Creates the two sink tables the cluster nodes write: `ledger` (insert mode: one row per
 * entry, `arrival` numbering rows in the order they were inserted) and `latest` (upsert
 * guarded by `version`: each key's newest value).
 */
export async function createSinkTables(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(
    `CREATE TABLE ${schema}.ledger (arrival bigserial PRIMARY KEY, sluice_id text UNIQUE NOT NULL,
       k text NOT NULL, seq integer NOT NULL, version bigint, deliverer text,
       at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
  await pool.query(
    `CREATE TABLE ${schema}.latest (k text PRIMARY KEY, seq integer NOT NULL, version bigint NOT NULL, deliverer text)`,
  );
}
