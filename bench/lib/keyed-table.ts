/**
 * The keyed workload of bench/cluster and the table every system under test writes it into.
 *
 * Entry `seq` (0, 1, 2, ...) is ~200 bytes for key `acct-<seq % keys>`, its id `e<seq>`.
 * Its value carries `t0`, the wall-clock time (ms since the epoch, sub-ms precision) of the
 * write call that made it, so the table itself tells when the entry landed:
 *
 * - insert mode: `(sluice_id UNIQUE, account, seq, amount, note, t0)`, a row per entry,
 *   written with `ON CONFLICT (sluice_id) DO NOTHING` (a re-delivery leaves one row);
 * - upsert mode: `(account PRIMARY KEY, seq, amount, note, t0, version)`, a row per key, an
 *   entry applied only over an older version (the version guard).
 *
 * End-to-end latency is sampled by the table: an AFTER INSERT OR UPDATE row trigger on
 * every 16th entry (`seq % 16 = 0`), and on every entry from `sampleAllFrom` on (a condition
 * checked without calling the function for the others), records `(seq, t0, clock_timestamp())` into `<table>_landed`. AFTER ROW
 * triggers fire at the end of the statement, just before its commit, so a sample is the time
 * from the write call until the row was in place, a statement's commit short of visible. A
 * skipped row (a duplicate id, a superseded version) fires nothing. Every system pays for the
 * same trigger on the same entries.
 */
import type pg from 'pg';

/** One entry's value: the row's columns. */
export interface KeyedValue {
  account: string;
  seq: number;
  amount: number;
  note: string;
  /** When the write was called: ms since the epoch, sub-millisecond precision. */
  t0: number;
}

/** Every system's table has these columns, besides its id (insert) or version (upsert). */
export const VALUE_COLUMNS = ['account', 'seq', 'amount', 'note', 't0'] as const;

/** Every 16th entry is sampled end to end. */
export const SAMPLE_EVERY = 16;

export type TableMode = 'insert' | 'upsert';

/** Wall-clock now in ms, sub-millisecond: comparable across processes on one machine. */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

export const keyOf = (seq: number, keys: number): string => `acct-${seq % keys}`;

export const valueOf = (seq: number, keys: number): KeyedValue => ({
  account: keyOf(seq, keys),
  seq,
  amount: (seq * 7919) % 100_000,
  note: 'x'.repeat(150),
  t0: wallClockMs(),
});

/**
 * Creates `schema.name` for `mode` and its end-to-end sampling trigger: every 16th entry,
 * and every entry from `sampleAllFrom` on.
 */
export async function createKeyedTable(
  db: pg.Pool,
  schema: string,
  name: string,
  mode: TableMode,
  sampleAllFrom = Number.MAX_SAFE_INTEGER,
): Promise<void> {
  const t = `${schema}.${name}`;
  await db.query(
    mode === 'upsert'
      ? `CREATE TABLE ${t} (account text PRIMARY KEY, seq bigint NOT NULL, amount integer NOT NULL, note text, t0 double precision NOT NULL, version bigint NOT NULL)`
      : `CREATE TABLE ${t} (sluice_id text UNIQUE, account text NOT NULL, seq bigint NOT NULL, amount integer NOT NULL, note text, t0 double precision NOT NULL)`,
  );
  await db.query(
    `CREATE TABLE ${t}_landed (seq bigint NOT NULL, t0 double precision NOT NULL, landed double precision NOT NULL)`,
  );
  await db.query(
    `CREATE FUNCTION ${t}_sample() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO ${t}_landed VALUES (NEW.seq, NEW.t0, extract(epoch FROM clock_timestamp())::float8 * 1000);
         RETURN NULL;
       END $$`,
  );
  await db.query(
    `CREATE TRIGGER ${name}_sample AFTER INSERT OR UPDATE ON ${t} FOR EACH ROW
       WHEN (NEW.seq % ${SAMPLE_EVERY} = 0 OR NEW.seq >= ${sampleAllFrom}) EXECUTE FUNCTION ${t}_sample()`,
  );
}

/** Rows in the table: entries (insert mode) or keys (upsert mode). */
export async function countRows(db: pg.Pool, schema: string, name: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${name}`);
  return Number(rows[0]?.n);
}

/** Which sampled entries {@link landedLatencies} reads. */
export interface LandedFilter {
  /** Entries whose write was called in this window (wall clock, ms). */
  since?: number;
  until?: number;
  /** Entries `seq` in [fromSeq, toSeq). */
  fromSeq?: number;
  toSeq?: number;
}

/** The sampled end-to-end latencies (ms), the first landing of each entry. */
export async function landedLatencies(
  db: pg.Pool,
  schema: string,
  name: string,
  filter: LandedFilter = {},
): Promise<number[]> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT min(landed) - t0 AS ms FROM ${schema}.${name}_landed
      WHERE t0 >= $1 AND t0 <= $2 AND seq >= $3 AND seq < $4 GROUP BY seq, t0`,
    [
      filter.since ?? 0,
      filter.until ?? Number.MAX_VALUE,
      filter.fromSeq ?? 0,
      filter.toSeq ?? Number.MAX_SAFE_INTEGER,
    ],
  );
  return rows.map((r) => r.ms);
}

/**
 * One statement writing `values` into the table as the sluice sink would: insert ignoring
 * known ids, or a version-guarded upsert (version = seq, which grows with each key's write
 * order; the batch coalesced to its newest entry per key, since one statement cannot update a
 * row twice). For the job queues' workers.
 */
export async function writeRows(
  db: pg.Pool | pg.PoolClient,
  schema: string,
  name: string,
  mode: TableMode,
  values: readonly KeyedValue[],
): Promise<void> {
  let rows = values;
  if (mode === 'upsert' && values.length > 1) {
    const newest = new Map<string, KeyedValue>();
    for (const v of values) {
      const seen = newest.get(v.account);
      if (seen === undefined || seen.seq < v.seq) newest.set(v.account, v);
    }
    rows = [...newest.values()];
  }
  const t = `${schema}.${name}`;
  const columns = [
    rows.map((v) => v.account),
    rows.map((v) => v.seq),
    rows.map((v) => v.amount),
    rows.map((v) => v.note),
    rows.map((v) => v.t0),
  ];
  if (mode === 'insert') {
    await db.query({
      name: `keyed-insert-${name}`,
      text: `INSERT INTO ${t} (sluice_id, account, seq, amount, note, t0)
               SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[], $5::text[], $6::float8[])
             ON CONFLICT (sluice_id) DO NOTHING`,
      values: [rows.map((v) => `e${v.seq}`), ...columns],
    });
  } else {
    await db.query({
      name: `keyed-upsert-${name}`,
      text: `INSERT INTO ${t} AS t (account, seq, amount, note, t0, version)
               SELECT *, s FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::text[], $5::float8[]) AS u(a, s, m, n, z)
             ON CONFLICT (account) DO UPDATE
               SET seq = excluded.seq, amount = excluded.amount, note = excluded.note, t0 = excluded.t0, version = excluded.version
               WHERE t.version < excluded.version`,
      values: columns,
    });
  }
}
