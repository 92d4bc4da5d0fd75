/**
 * PostgresJournal: a journal in PostgreSQL that many nodes share, split into partitions
 * that one node at a time works (see PartitionedJournal for the promises).
 *
 * - **Appends** of one event-loop turn are one `INSERT ... SELECT FROM unnest(...)`, one
 *   transaction, one round trip; group commits run one at a time, so one node's appends
 *   are ordered as it made them. `appendInTransaction(client, records)` runs the same
 *   statement inside the caller's transaction (the outbox): the entries exist if and only
 *   if that transaction commits.
 * - **Gap-free reads.** Positions come from a sequence, so a transaction that took its
 *   positions early can commit after one that took later ones. A reader therefore goes in
 *   `(tx, position)` order and only below `pg_snapshot_xmin(pg_current_snapshot())`, the
 *   oldest transaction still running: what lies below it will not change, so nothing is
 *   skipped. The price: a long transaction anywhere in the database holds readers back
 *   until it ends.
 * - **Versions** are `position + base`, the base fixed at creation at `now × 1000`, so they
 *   grow with positions and continue above a journal created earlier.
 * - **Leases** are judged by the server's clock (`now()`), never the nodes'.
 *
 * Needs PostgreSQL 13 or later (`xid8`).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import {
  ClosedError,
  ConfigError,
  InputError,
  JournalWriteError,
  LeaseLostError,
  jsonCodec,
  type AppendOptions,
  type JournalEntry,
  type JournalRecord,
  type JournalStats,
  type ClusterStats,
  type DeadLetterStore,
  type PartitionCursor,
  type PartitionLease,
  type PartitionRead,
  type PartitionedJournal,
  type EntryState,
} from '../../index.js';
import {
  identifier,
  integerOption,
  knownOptions,
  quote,
  requireOptional,
  serviceOption,
  stringOption,
  decodedEntry,
  encodeRecords,
  partitionOfKey,
  checkConsumer,
  checkCursor,
  checkLease,
  checkLeaseCall,
  checkPartition,
  checkPartitionRead,
  checkPosition,
  type EncodedRecord,
} from '../../backend.js';
import { PostgresDeadLetters } from './postgres-dead-letters.js';
import { withClient } from './client.js';
import { appendChannel, clusterChannel, journalSchemaSql, literal } from './journal-schema.js';
import { JournalListener } from './journal-listener.js';

/** Options of {@link PostgresJournal.open}. */
export interface PostgresJournalOptions {
  /** The journal opens (and closes) its own pool. Give this or `pool`. */
  connectionString?: string;
  /** A pool to work through (its owner ends it); notifications use one client of their own. */
  pool?: pg.Pool;
  /** The schema holding the journal's tables; created if missing. @default 'sluice' */
  schema?: string;
  /**
   * Partitions: how many nodes can share the work at most. Fixed when the journal is
   * created; opening it with another count is a ConfigError. @default 16 when created, else
   * the stored count
   */
  partitions?: number;
  /** Connections of the journal's own pool. @default 8 */
  maxConnections?: number;
  /** Own pool: a query without an answer this long fails. @default 30000 */
  queryTimeoutMs?: number;
}

const DEFAULT_PARTITIONS = 16;
/**
 * Longest id (or origin) an entry may carry, in UTF-8 bytes: they are indexed, and a btree
 * entry has room for about 2.7 KB (1,000 CJK characters, 3,000 bytes, would not fit).
 */
const MAX_ID_BYTES = 2_000;
/** A connection for lease calls that is not made in this long fails (the tick retries). */
const CONTROL_CONNECT_TIMEOUT_MS = 5_000;
const KNOWN: readonly (keyof PostgresJournalOptions)[] = [
  'connectionString',
  'pool',
  'schema',
  'partitions',
  'maxConnections',
  'queryTimeoutMs',
];

interface Pending {
  readonly records: EncodedRecord[];
  resolve(positions: number[]): void;
  reject(error: unknown): void;
}

interface PendingRead {
  readonly partition: number;
  readonly after: PartitionCursor;
  readonly options: { limit: number; maxBytes?: number };
  resolve(read: PartitionRead): void;
  reject(error: unknown): void;
}

/** A row as `readPartition` selects it. */
interface EntryRow {
  position: string;
  tx_text: string;
  key: string;
  type: string | null;
  id: string | null;
  payload_text: string | null;
  payload_bytes: Buffer | null;
  version: string | null;
  origin: string | null;
  appended_at: string;
}

/** The journal shared by many nodes; see the module doc. */
export class PostgresJournal implements PartitionedJournal {
  readonly id: string;
  readonly partitions: number;
  /** The schema holding the journal's tables. */
  readonly schema: string;
  readonly #pool: pg.Pool;
  /**
   * Heartbeats and leases go through connections of their own: a lease must be renewed in
   * time even while appends and reads keep every data connection busy.
   */
  readonly #control: pg.Pool;
  readonly #ownPool: boolean;
  readonly #versionBase: number;
  readonly #s: string;
  readonly #listener: JournalListener;
  readonly #deadLetters: PostgresDeadLetters;
  readonly #insert: string;
  readonly #read: string;
  #queue: Pending[] = [];
  #reads: PendingRead[] = [];
  readonly #readLateral: string;
  #flushing: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  /** Consumers whose lease rows exist (created at their first heartbeat). */
  readonly #consumers = new Set<string>();

  private constructor(
    pool: pg.Pool,
    control: pg.Pool,
    ownPool: boolean,
    schema: string,
    meta: { id: string; partitions: number; versionBase: number },
    listener: JournalListener,
  ) {
    this.#pool = pool;
    this.#control = control;
    this.#ownPool = ownPool;
    this.schema = schema;
    this.#s = quote(schema);
    this.id = meta.id;
    this.partitions = meta.partitions;
    this.#versionBase = meta.versionBase;
    this.#listener = listener;
    this.#deadLetters = new PostgresDeadLetters(pool, schema);
    const s = this.#s;
    this.#insert =
      `INSERT INTO ${s}.entries (position, part, key, type, id, payload_text, payload_bytes, version, origin, appended_at) ` +
      `SELECT nextval('${s}.entries_position_seq'), r.part, r.key, r.type, r.id, r.pt, r.pb, r.version, r.origin, $9 ` +
      `FROM (SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bigint[], $8::text[]) ` +
      `WITH ORDINALITY AS u(part, key, type, id, pt, pb, version, origin, ord) ORDER BY ord) r ` +
      `ON CONFLICT (id) WHERE id IS NOT NULL DO NOTHING RETURNING position, id`;
    // Ordered by the xid8 column itself (qualified: a bare `tx` in ORDER BY would name the
    // text output column, and text order puts '1000000' before '999999').
    this.#read =
      `SELECT e.position, e.tx::text AS tx_text, e.key, e.type, e.id, e.payload_text, e.payload_bytes, e.version, e.origin, e.appended_at ` +
      `FROM ${s}.entries e WHERE e.part = $1 AND (e.tx, e.position) > ($2::xid8, $3::bigint) ` +
      `AND e.tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY e.tx, e.position LIMIT $4`;
    this.#readLateral =
      `SELECT c.i, r.* FROM unnest($1::int[], $2::int[], $3::xid8[], $4::bigint[], $5::int[]) AS c(i, part, tx, pos, lim) ` +
      `CROSS JOIN LATERAL (SELECT e.position, e.tx::text AS tx_text, e.tx AS tx_order, e.key, e.type, e.id, e.payload_text, e.payload_bytes, e.version, e.origin, e.appended_at ` +
      `FROM ${s}.entries e WHERE e.part = c.part AND (e.tx, e.position) > (c.tx, c.pos) ` +
      `AND e.tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY e.tx, e.position LIMIT c.lim) r ` +
      `ORDER BY c.i, r.tx_order, r.position`;
  }

  /**
   * Opens the journal in `schema`, creating its tables if missing. Rejects with ConfigError
   * for bad options, a partition count other than the stored one, or PostgreSQL before 13.
   */
  static async open(options: PostgresJournalOptions): Promise<PostgresJournal> {
    const where = 'PostgresJournal.open() options';
    const o = knownOptions(where, options, KNOWN);
    const schema = identifier('schema', o.schema ?? 'sluice');
    if (schema.length > 50)
      throw new ConfigError('schema', 'a name of 50 characters at most', schema);
    const partitions =
      o.partitions === undefined
        ? undefined
        : integerOption('partitions', o.partitions, 16, 1, 4096);
    if ((o.pool === undefined) === (o.connectionString === undefined)) {
      throw new ConfigError(
        'pool',
        'a pg Pool, or `connectionString` instead (exactly one)',
        o.pool,
      );
    }
    const { Pool, Client } = requireOptional<typeof pg>('pg', 'PostgresJournal');
    let pool: pg.Pool;
    if (o.pool !== undefined) {
      pool = serviceOption<pg.Pool>('pool', o.pool, ['query', 'connect', 'end']);
    } else {
      pool = new Pool({
        connectionString: stringOption('connectionString', o.connectionString),
        max: integerOption('maxConnections', o.maxConnections, 8, 2),
        query_timeout: integerOption('queryTimeoutMs', o.queryTimeoutMs, 30_000, 1),
        // A connection attempt into a dead network gives up instead of hanging.
        connectionTimeoutMillis: CONTROL_CONNECT_TIMEOUT_MS * 2,
        allowExitOnIdle: true,
      });
      pool.on('error', () => {
        // A broken idle connection: the next query gets a fresh one.
      });
    }
    const own = o.pool === undefined;
    let control: pg.Pool | undefined;
    try {
      const meta = await setUp(pool, schema, partitions);
      const config = (pool as unknown as { options: pg.ClientConfig }).options;
      control = new Pool({
        ...config,
        max: 2,
        connectionTimeoutMillis: CONTROL_CONNECT_TIMEOUT_MS,
        allowExitOnIdle: true,
      });
      control.on('error', () => {
        // As for the data pool: the next lease call gets a fresh connection.
      });
      const listener = new JournalListener(
        () => new Client(config),
        [appendChannel(schema), clusterChannel(schema)],
      );
      await listener.start();
      return new PostgresJournal(pool, control, own, schema, meta, listener);
    } catch (error) {
      await control?.end();
      if (own) await pool.end();
      throw error;
    }
  }

  partitionOf(key: string): number {
    return partitionOfKey(key, this.partitions);
  }

  // ---- appending ------------------------------------------------------------------------------

  /** Appends in the next group commit; resolves with the positions once committed. */
  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    if (this.#closed) return Promise.reject(new ClosedError('the journal is closed'));
    let encoded: EncodedRecord[];
    try {
      encoded = this.#encode(records, options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (encoded.length === 0) return Promise.resolve([]);
    return new Promise<number[]>((resolve, reject) => {
      this.#queue.push({ records: encoded, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Appends inside the caller's transaction (`client` is between its BEGIN and COMMIT): the
   * entries exist if and only if that transaction commits. Readers wait for it to end
   * before reading past it, so an entry committed late is still delivered.
   */
  async appendInTransaction(
    client: pg.ClientBase,
    records: readonly JournalRecord[],
    options?: AppendOptions,
  ): Promise<number[]> {
    if (this.#closed) throw new ClosedError('the journal is closed');
    if (typeof client !== 'object' || client === null || typeof client.query !== 'function') {
      throw new InputError('appendInTransaction() takes a pg client inside its transaction');
    }
    const encoded = this.#encode(records, options);
    if (encoded.length === 0) return [];
    return this.#insertRows(client, encoded);
  }

  #encode(records: readonly JournalRecord[], options?: AppendOptions): EncodedRecord[] {
    const encoded = encodeRecords(records, jsonCodec, options);
    for (let i = 0; i < encoded.length; i++) {
      const r = encoded[i] as EncodedRecord;
      for (const [name, text] of [
        ['key', r.key],
        ['type', r.type],
        ['id', r.id],
        ['origin', r.origin],
      ] as const) {
        if (text !== undefined && text.includes('\u0000')) {
          throw new InputError(
            `record ${i}: ${name} holds a NUL character, which PostgreSQL text cannot keep`,
          );
        }
      }
      // Ids and origins are indexed: one too long would fail the whole group's INSERT.
      for (const [name, text] of [
        ['id', r.id],
        ['origin', r.origin],
      ] as const) {
        // Only a long text needs counting: no UTF-16 unit takes more than 3 UTF-8 bytes.
        const bytes =
          text === undefined || text.length * 3 <= MAX_ID_BYTES ? 0 : Buffer.byteLength(text);
        if (bytes > MAX_ID_BYTES) {
          throw new InputError(
            `record ${i}: ${name} is ${bytes} bytes in UTF-8; at most ${MAX_ID_BYTES} fit the journal's index`,
          );
        }
      }
    }
    return encoded;
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing !== undefined) return;
    this.#scheduled = true;
    // The rest of this turn's appends join the same transaction.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const group = this.#queue;
    this.#queue = [];
    const all =
      group.length === 1 ? (group[0] as Pending).records : group.flatMap((p) => p.records);
    try {
      const positions = await this.#insertRows(this.#pool, all);
      let at = 0;
      for (const p of group) {
        p.resolve(positions.slice(at, at + p.records.length));
        at += p.records.length;
      }
    } catch (error) {
      const failure = new JournalWriteError(
        `PostgreSQL refused the append: ${(error as Error).message}`,
        { cause: error },
      );
      for (const p of group) p.reject(failure);
    }
  }

  /** One INSERT of `records`; resolves with their positions, in order. */
  async #insertRows(
    db: Pick<pg.ClientBase, 'query'>,
    records: readonly EncodedRecord[],
  ): Promise<number[]> {
    const n = records.length;
    const part = new Array<number>(n);
    const key = new Array<string>(n);
    const type = new Array<string | null>(n);
    const id = new Array<string | null>(n);
    const text = new Array<string | null>(n);
    const bytes = new Array<Buffer | null>(n);
    const version = new Array<number | null>(n);
    const origin = new Array<string | null>(n);
    let ids = 0;
    for (let i = 0; i < n; i++) {
      const r = records[i] as EncodedRecord;
      part[i] = this.partitionOf(r.key);
      key[i] = r.key;
      type[i] = r.type ?? null;
      id[i] = r.id ?? null;
      if (r.id !== undefined) ids++;
      if (typeof r.payload === 'string') {
        text[i] = r.payload;
        bytes[i] = null;
      } else {
        text[i] = null;
        bytes[i] = Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
      }
      version[i] = r.version ?? null;
      origin[i] = r.origin ?? null;
    }
    const result = await db.query<{ position: string; id: string | null }>({
      text: this.#insert,
      values: [part, key, type, id, text, bytes, version, origin, Date.now()],
    });
    const positions = new Array<number>(n);
    if (ids === 0) {
      const sorted = result.rows.map((row) => Number(row.position)).sort((a, b) => a - b);
      for (let i = 0; i < n; i++) positions[i] = sorted[i] as number;
      return positions;
    }
    // Records with ids map by id (an id already stored was not inserted: look it up);
    // the others take the new id-less positions in order.
    const byId = new Map<string, number>();
    const plain: number[] = [];
    for (const row of result.rows) {
      if (row.id === null) plain.push(Number(row.position));
      else byId.set(row.id, Number(row.position));
    }
    plain.sort((a, b) => a - b);
    const missing = [...new Set(id.filter((x): x is string => x !== null && !byId.has(x)))];
    if (missing.length > 0) {
      const found = await db.query<{ position: string; id: string }>({
        text: `SELECT position, id FROM ${this.#s}.entries WHERE id = ANY($1::text[])`,
        values: [missing],
      });
      for (const row of found.rows) byId.set(row.id, Number(row.position));
    }
    let next = 0;
    for (let i = 0; i < n; i++) {
      const own = id[i] as string | null;
      if (own === null) {
        positions[i] = plain[next++] as number;
      } else {
        const p = byId.get(own);
        // Deleted by retention between the insert and the lookup: the id no longer dedupes.
        if (p === undefined)
          throw new JournalWriteError(
            `entry id ${own} vanished during the append; append it again`,
          );
        positions[i] = p;
      }
    }
    return positions;
  }

  // ---- reading --------------------------------------------------------------------------------

  /**
   * Reads of one turn of the event loop (a notification wakes many partitions' readers at
   * once) are one statement: a LATERAL read per partition.
   */
  readPartition(
    partition: number,
    after: PartitionCursor,
    options: { limit: number; maxBytes?: number },
  ): Promise<PartitionRead> {
    if (this.#closed) return Promise.reject(new ClosedError('the journal is closed'));
    try {
      checkPartitionRead(partition, after, options, this.partitions);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<PartitionRead>((resolve, reject) => {
      this.#reads.push({ partition, after, options, resolve, reject });
      if (this.#reads.length === 1) setImmediate(() => void this.#readMany());
    });
  }

  async #readMany(): Promise<void> {
    const reads = this.#reads;
    this.#reads = [];
    try {
      const result =
        reads.length === 1
          ? await this.#pool.query<EntryRow & { i: number }>({
              text: this.#read,
              values: [
                (reads[0] as PendingRead).partition,
                (reads[0] as PendingRead).after.tx,
                (reads[0] as PendingRead).after.position,
                (reads[0] as PendingRead).options.limit,
              ],
            })
          : await this.#pool.query<EntryRow & { i: number }>({
              text: this.#readLateral,
              values: [
                reads.map((_, i) => i),
                reads.map((r) => r.partition),
                reads.map((r) => r.after.tx),
                reads.map((r) => r.after.position),
                reads.map((r) => r.options.limit),
              ],
            });
      const out = reads.map(() => ({
        entries: [] as JournalEntry[],
        cursors: [] as PartitionCursor[],
        total: 0,
        full: false,
      }));
      for (const row of result.rows) {
        const read = out[row.i ?? 0] as (typeof out)[number];
        if (read.full) continue;
        const entry = this.#entry(row);
        const maxBytes = (reads[row.i ?? 0] as PendingRead).options.maxBytes ?? Infinity;
        if (read.entries.length > 0 && read.total + entry.bytes > maxBytes) {
          read.full = true;
          continue;
        }
        read.total += entry.bytes;
        read.entries.push(entry);
        read.cursors.push({ tx: row.tx_text, position: entry.position });
      }
      reads.forEach((r, i) => r.resolve(out[i] as PartitionRead));
    } catch (error) {
      for (const r of reads) r.reject(error);
    }
  }

  #entry(row: EntryRow): JournalEntry {
    const position = Number(row.position);
    return decodedEntry(
      {
        position,
        key: row.key,
        type: row.type,
        id: row.id,
        appendedAt: Number(row.appended_at),
        version: row.version === null ? position + this.#versionBase : Number(row.version),
        origin: row.origin,
      },
      row.payload_text ?? (row.payload_bytes as Buffer),
      jsonCodec,
    );
  }

  onAppend(listener: (partitions: readonly number[]) => void): () => void {
    this.#assertOpen();
    return this.#listener.on(appendChannel(this.schema), (payload) => {
      // No payload (a reconnect) or an empty one (too many to name): every partition.
      listener(payload === undefined || payload === '' ? [] : payload.split(',').map(Number));
    });
  }

  onMembership(listener: () => void): () => void {
    this.#assertOpen();
    return this.#listener.on(clusterChannel(this.schema), () => listener());
  }

  // ---- nodes and leases -----------------------------------------------------------------------

  async heartbeat(consumer: string, node: string, ttlMs: number): Promise<string[]> {
    this.#assertOpen();
    checkLeaseCall(consumer, node, ttlMs);
    const s = this.#s;
    if (!this.#consumers.has(consumer)) {
      await this.#control.query({
        text: `INSERT INTO ${s}.leases (consumer, part) SELECT $1, generate_series(0, $2::int - 1) ON CONFLICT DO NOTHING`,
        values: [consumer, this.partitions],
      });
      this.#consumers.add(consumer);
    }
    const result = await this.#control.query<{ node: string; joined: boolean }>({
      text:
        // Joined: new, or back after its heartbeat expired (the CTE sees the row as it was).
        `WITH prev AS (SELECT expires_at FROM ${s}.nodes WHERE consumer = $1 AND node = $2), ` +
        `hb AS (INSERT INTO ${s}.nodes (consumer, node, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond') ` +
        `ON CONFLICT (consumer, node) DO UPDATE SET expires_at = excluded.expires_at RETURNING node) ` +
        `SELECT node, coalesce((SELECT expires_at <= now() FROM prev), true) AS joined FROM hb UNION ALL ` +
        `SELECT node, false FROM ${s}.nodes WHERE consumer = $1 AND node <> $2 AND expires_at > now()`,
      values: [consumer, node, ttlMs],
      query_timeout: ttlMs,
    } as pg.QueryConfig);
    if (result.rows.some((r) => r.joined)) await this.#notifyCluster(consumer);
    return result.rows.map((r) => r.node);
  }

  async leave(consumer: string, node: string): Promise<void> {
    this.#assertOpen();
    checkLeaseCall(consumer, node);
    await this.#control.query({
      text: `DELETE FROM ${this.#s}.nodes WHERE consumer = $1 AND node = $2`,
      values: [consumer, node],
    });
    await this.#notifyCluster(consumer);
  }

  async takeLease(
    consumer: string,
    partition: number,
    node: string,
    ttlMs: number,
  ): Promise<PartitionLease | undefined> {
    this.#assertOpen();
    checkLeaseCall(consumer, node, ttlMs);
    checkPartition(partition, this.partitions);
    const result = await this.#control.query<{ epoch: string; cp_tx: string; cp_pos: string }>({
      text:
        `UPDATE ${this.#s}.leases SET owner = $3, epoch = epoch + 1, expires_at = now() + $4 * interval '1 millisecond' ` +
        `WHERE consumer = $1 AND part = $2 AND (owner IS NULL OR owner = $3 OR expires_at < now()) ` +
        `RETURNING epoch, cp_tx::text AS cp_tx, cp_pos`,
      values: [consumer, partition, node, ttlMs],
      query_timeout: ttlMs,
    } as pg.QueryConfig);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return {
      partition,
      epoch: Number(row.epoch),
      checkpoint: { tx: row.cp_tx, position: Number(row.cp_pos) },
    };
  }

  async renewLeases(
    consumer: string,
    node: string,
    leases: readonly PartitionLease[],
    ttlMs: number,
  ): Promise<number[]> {
    this.#assertOpen();
    checkLeaseCall(consumer, node, ttlMs);
    for (const lease of leases) checkLease(lease, this.partitions);
    if (leases.length === 0) return [];
    const result = await this.#control.query<{ part: number }>({
      text:
        `UPDATE ${this.#s}.leases l SET expires_at = now() + $5 * interval '1 millisecond' ` +
        `FROM unnest($3::int[], $4::bigint[]) AS h(part, epoch) ` +
        `WHERE l.consumer = $1 AND l.owner = $2 AND l.part = h.part AND l.epoch = h.epoch RETURNING l.part`,
      values: [consumer, node, leases.map((l) => l.partition), leases.map((l) => l.epoch), ttlMs],
      query_timeout: ttlMs,
    } as pg.QueryConfig);
    return result.rows.map((r) => r.part);
  }

  async releaseLease(consumer: string, node: string, lease: PartitionLease): Promise<void> {
    this.#assertOpen();
    checkLeaseCall(consumer, node);
    checkLease(lease, this.partitions);
    const result = await this.#control.query({
      text: `UPDATE ${this.#s}.leases SET owner = NULL, expires_at = NULL WHERE consumer = $1 AND part = $2 AND owner = $3 AND epoch = $4`,
      values: [consumer, lease.partition, node, lease.epoch],
    });
    // A stale release changed nothing: nobody needs to look again.
    if (result.rowCount === 1) await this.#notifyCluster(consumer);
  }

  async commitPartition(
    consumer: string,
    node: string,
    lease: PartitionLease,
    cursor: PartitionCursor,
  ): Promise<void> {
    this.#assertOpen();
    checkLeaseCall(consumer, node);
    checkLease(lease, this.partitions);
    checkCursor(cursor);
    const result = await this.#pool.query({
      text:
        `UPDATE ${this.#s}.leases SET cp_tx = $5::xid8, cp_pos = $6 ` +
        `WHERE consumer = $1 AND part = $2 AND owner = $3 AND epoch = $4`,
      values: [consumer, lease.partition, node, lease.epoch, cursor.tx, cursor.position],
    });
    if (result.rowCount !== 1) throw new LeaseLostError(consumer, lease.partition, lease.epoch);
  }

  async trimPartition(partition: number, upTo: PartitionCursor, max: number): Promise<number> {
    this.#assertOpen();
    checkPartition(partition, this.partitions);
    checkCursor(upTo);
    checkPosition('max', max);
    const s = this.#s;
    // An exactly-once sink's marks go with their entries: behind every checkpoint, an entry
    // is never delivered again.
    const result = await this.#pool.query({
      text:
        `WITH lo AS (SELECT cp_tx, cp_pos FROM ${s}.leases WHERE part = $1 ORDER BY cp_tx, cp_pos LIMIT 1), ` +
        `gone AS (SELECT e.position, coalesce(e.origin, e.id, $5 || ':' || coalesce(e.version, e.position + $6)) AS sink_id ` +
        `FROM ${s}.entries e, lo WHERE e.part = $1 ` +
        `AND (e.tx, e.position) <= ($2::xid8, $3::bigint) AND (e.tx, e.position) <= (lo.cp_tx, lo.cp_pos) ` +
        `ORDER BY e.tx, e.position LIMIT $4), ` +
        // A replayed dead letter still in the journal carries the same sink id: keep its mark.
        `marks AS (DELETE FROM ${s}.applied a USING gone g WHERE a.sink_id = g.sink_id ` +
        `AND NOT EXISTS (SELECT 1 FROM ${s}.entries r WHERE r.origin = g.sink_id ` +
        `AND r.position NOT IN (SELECT position FROM gone))) ` +
        `DELETE FROM ${s}.entries WHERE position IN (SELECT position FROM gone)`,
      values: [partition, upTo.tx, upTo.position, max, this.id, this.#versionBase],
    });
    return result.rowCount ?? 0;
  }

  // ---- progress and stats ---------------------------------------------------------------------

  async entryState(consumer: string, position: number): Promise<EntryState> {
    this.#assertOpen();
    checkConsumer(consumer);
    checkPosition('position', position);
    const s = this.#s;
    const result = await this.#pool.query<{ done: boolean | null; found: boolean }>({
      text:
        `SELECT true AS found, (l.cp_tx, l.cp_pos) >= (e.tx, e.position) AS done FROM ${s}.entries e ` +
        `LEFT JOIN ${s}.leases l ON l.consumer = $1 AND l.part = e.part WHERE e.position = $2`,
      values: [consumer, position],
    });
    const row = result.rows[0];
    if (row !== undefined && row.done !== true) return { state: 'pending' };
    const letter = await this.#pool.query<{ error: string }>({
      text: `SELECT error FROM ${s}.dead_letters WHERE position = $1 ORDER BY id DESC LIMIT 1`,
      values: [position],
    });
    const error = letter.rows[0]?.error;
    if (error !== undefined) return { state: 'deadLettered', error };
    return { state: row === undefined ? 'unknown' : 'done' };
  }

  async pendingUpTo(consumer: string, position: number): Promise<number> {
    this.#assertOpen();
    checkConsumer(consumer);
    checkPosition('position', position);
    const s = this.#s;
    const result = await this.#pool.query<{ pending: string }>({
      text:
        // A partition without a lease row (no heartbeat yet) counts from its start.
        `SELECT count(*) AS pending FROM generate_series(0, $3::int - 1) AS p(part) ` +
        `LEFT JOIN ${s}.leases l ON l.consumer = $1 AND l.part = p.part WHERE EXISTS (` +
        `SELECT 1 FROM ${s}.entries e WHERE e.part = p.part ` +
        `AND (e.tx, e.position) > (coalesce(l.cp_tx, '0'::xid8), coalesce(l.cp_pos, 0)) AND e.position <= $2)`,
      values: [consumer, position, this.partitions],
    });
    return Number(result.rows[0]?.pending ?? 0);
  }

  async stats(): Promise<JournalStats> {
    this.#assertOpen();
    const s = this.#s;
    const [totals, consumers] = await Promise.all([
      this.#pool.query<{
        head: string | null;
        first: string | null;
        entries: string;
        bytes: string;
      }>(
        `SELECT max(position) AS head, min(position) AS first, count(*) AS entries, ` +
          `pg_total_relation_size('${s}.entries') AS bytes FROM ${s}.entries`,
      ),
      this.#pool.query<{ consumer: string; position: string; lag: string }>(
        `SELECT l.consumer, min(l.cp_pos) AS position, ` +
          `sum((SELECT count(*) FROM ${s}.entries e WHERE e.part = l.part AND (e.tx, e.position) > (l.cp_tx, l.cp_pos))) AS lag ` +
          `FROM ${s}.leases l GROUP BY l.consumer ORDER BY l.consumer`,
      ),
    ]);
    const t = totals.rows[0] as {
      head: string | null;
      first: string | null;
      entries: string;
      bytes: string;
    };
    const head = Number(t.head ?? 0);
    return {
      head,
      first: t.first === null ? head + 1 : Number(t.first),
      entries: Number(t.entries),
      bytes: Number(t.bytes),
      consumers: consumers.rows.map((r) => ({
        consumer: r.consumer,
        position: Number(r.position),
        lag: Number(r.lag),
      })),
    };
  }

  async clusterStats(consumer = 'write-behind'): Promise<ClusterStats> {
    this.#assertOpen();
    checkConsumer(consumer);
    const s = this.#s;
    const [nodes, leases, head, letters] = await Promise.all([
      this.#pool.query<{ node: string; left: string }>({
        text: `SELECT node, extract(epoch FROM expires_at - now()) * 1000 AS left FROM ${s}.nodes WHERE consumer = $1 AND expires_at > now() ORDER BY node`,
        values: [consumer],
      }),
      this.#pool.query<{
        part: number;
        owner: string | null;
        epoch: string;
        left: string | null;
        cp_pos: string;
        lag: string;
      }>({
        text:
          `SELECT l.part, l.owner, l.epoch, extract(epoch FROM l.expires_at - now()) * 1000 AS left, l.cp_pos, ` +
          `(SELECT count(*) FROM ${s}.entries e WHERE e.part = l.part AND (e.tx, e.position) > (l.cp_tx, l.cp_pos)) AS lag ` +
          `FROM ${s}.leases l WHERE l.consumer = $1 ORDER BY l.part`,
        values: [consumer],
      }),
      this.#pool.query<{ head: string | null }>(`SELECT max(position) AS head FROM ${s}.entries`),
      this.#deadLetters.count(),
    ]);
    const leaseStats = leases.rows.map((r) => {
      const expiresInMs = r.left === null ? null : Math.round(Number(r.left));
      return {
        partition: r.part,
        owner: r.owner,
        epoch: Number(r.epoch),
        expiresInMs,
        checkpoint: Number(r.cp_pos),
        lag: Number(r.lag),
      };
    });
    return {
      consumer,
      partitions: this.partitions,
      head: Number(head.rows[0]?.head ?? 0),
      nodes: nodes.rows.map((n) => ({
        node: n.node,
        expiresInMs: Math.round(Number(n.left)),
        partitions: leaseStats
          .filter((l) => l.owner === n.node && (l.expiresInMs ?? 0) > 0)
          .map((l) => l.partition),
      })),
      leases: leaseStats,
      deadLetters: letters,
    };
  }

  deadLetters(): DeadLetterStore {
    return this.#deadLetters;
  }

  /** Waits for pending appends, stops listening, ends its own pool. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing !== undefined || this.#queue.length > 0 || this.#scheduled) {
      if (this.#flushing !== undefined) await this.#flushing;
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await this.#listener.stop();
    await this.#control.end();
    if (this.#ownPool) await this.#pool.end();
  }

  async #notifyCluster(consumer: string): Promise<void> {
    await this.#control.query({
      text: `SELECT pg_notify(${literal(clusterChannel(this.schema))}, $1)`,
      values: [consumer],
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('the journal is closed');
  }
}

/** Creates the tables if missing; reads (or, when new, stores) the journal's fixed facts. */
async function setUp(
  pool: pg.Pool,
  schema: string,
  partitions: number | undefined,
): Promise<{ id: string; partitions: number; versionBase: number }> {
  const version = await pool.query<{ v: string }>(
    `SELECT current_setting('server_version_num') AS v`,
  );
  if (Number(version.rows[0]?.v) < 130000) {
    throw new ConfigError(
      'connectionString',
      'PostgreSQL 13 or later (the journal needs xid8)',
      version.rows[0]?.v,
    );
  }
  return withClient(pool, async (client, drop) => {
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`sluice:${schema}`]);
      for (const statement of journalSchemaSql(schema)) await client.query(statement);
      const s = quote(schema);
      await client.query({
        text: `INSERT INTO ${s}.meta (name, value) VALUES ('id', $1), ('partitions', $2), ('version_base', $3) ON CONFLICT (name) DO NOTHING`,
        values: [randomUUID(), String(partitions ?? DEFAULT_PARTITIONS), String(Date.now() * 1000)],
      });
      const rows = await client.query<{ name: string; value: string }>(
        `SELECT name, value FROM ${s}.meta`,
      );
      // Transaction ids order the journal. A journal restored onto another server (or a
      // switch-over) comes with ids from the old server's counter, ahead of the new one's:
      // new entries would sort before every checkpoint and never be read. Refuse it.
      const ahead = await client.query<{ ahead: boolean }>(
        `SELECT greatest((SELECT max(cp_tx) FROM ${s}.leases), ` +
          // The newest transaction of each partition, from its index.
          `(SELECT max(newest.tx) FROM generate_series(0, (SELECT value::int FROM ${s}.meta WHERE name = 'partitions') - 1) AS p(part), ` +
          `LATERAL (SELECT tx FROM ${s}.entries e WHERE e.part = p.part ORDER BY tx DESC LIMIT 1) AS newest)) ` +
          `>= pg_snapshot_xmax(pg_current_snapshot()) AS ahead`,
      );
      await client.query('COMMIT');
      const meta = new Map(rows.rows.map((r) => [r.name, r.value]));
      if (ahead.rows[0]?.ahead === true) {
        throw new ConfigError(
          'connectionString',
          `the server the journal in schema ${schema} was written on: its transaction ids are ahead of this server's ` +
            '(restored from another server?); drain it where it was written, then start a new journal here',
          schema,
        );
      }
      const stored = Number(meta.get('partitions'));
      if (partitions !== undefined && stored !== partitions) {
        throw new ConfigError(
          'partitions',
          `${stored}, the count the journal in schema ${schema} was created with`,
          partitions,
        );
      }
      return {
        id: meta.get('id') as string,
        partitions: stored,
        versionBase: Number(meta.get('version_base')),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(drop);
      throw error;
    }
  });
}
