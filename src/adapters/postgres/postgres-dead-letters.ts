/**
 * PostgresDeadLetters: dead letters in a PostgreSQL table (`<schema>.dead_letters`), so
 * every node working a journal in that database sees, replays and purges the same letters.
 *
 * Guarantees:
 * - `add()` is one transaction: all the letters are kept or none is. A letter for an entry
 *   id and position the table already holds is not kept twice, also when two nodes letter
 *   the same entry at once: both get the one id. Adds take the table's SHARE ROW EXCLUSIVE
 *   lock, so they run one at a time (readers do not wait): two nodes adding overlapping
 *   letters in different orders would otherwise deadlock on the unique index.
 * - Ids come from a sequence taken under that lock, so they increase in the order letters
 *   were added, across nodes, and commit in that order: paging with `list({ after })`
 *   never steps over a letter committed later. `failedAt` is the server's clock, so
 *   letters from several nodes share one clock.
 * - `remove()` is one `DELETE ... RETURNING`: when two nodes remove the same letter, only
 *   one of them gets it back (replay appends it once).
 *
 * The table is created by the journal's schema setup with {@link deadLetterTableSql}; the
 * store itself runs no DDL. Payloads go through the journal codec: JSON text in
 * `payload_text`, bytes in `payload_bytes`.
 *
 * Errors: ids that are not positive integers, or a key or entry id text storage cannot
 * keep, are an InputError, and a payload the codec refuses an EncodeError, before anything
 * is sent; what the server reports is passed on as pg's error, with its SQLSTATE `code`.
 *
 * ```ts
 * await pool.query(deadLetterTableSql('"sluice"'));
 * const letters = new PostgresDeadLetters(pool, 'sluice');
 * const [first] = await letters.list({ limit: 1 });
 * ```
 */
import type pg from 'pg';
import { withClient } from './client.js';
import {
  InputError,
  jsonCodec,
  type Codec,
  type DeadLetter,
  type DeadLetterInput,
  type DeadLetterStore,
} from '../../index.js';
import {
  checkIds,
  checkPosition,
  encodeWith,
  identifier,
  knownOptions,
  quote,
  rejecting,
  serviceOption,
} from '../../backend.js';

/**
 * The DDL of the dead-letter table in `schemaQuoted` (a schema name already quoted, such as
 * `"sluice"`), as `CREATE TABLE IF NOT EXISTS`: run it inside the schema setup.
 */
export function deadLetterTableSql(schemaQuoted: string): string {
  return `CREATE TABLE IF NOT EXISTS ${schemaQuoted}.dead_letters (
  id            bigserial PRIMARY KEY,
  position      bigint  NOT NULL,
  entry_id      text    NOT NULL,
  key           text    NOT NULL,
  payload_text  text,
  payload_bytes bytea,
  version       bigint  NOT NULL,
  error         text    NOT NULL,
  attempts      integer NOT NULL,
  failed_at     bigint  NOT NULL,
  UNIQUE (entry_id, position),
  CONSTRAINT dead_letters_one_payload CHECK ((payload_text IS NULL) <> (payload_bytes IS NULL))
)`;
}

/** Options of {@link PostgresDeadLetters}. */
export interface PostgresDeadLettersOptions {
  /** How payloads are stored: the journal's codec. @default jsonCodec */
  codec?: Codec;
}

/** A row as pg returns it: bigint columns are strings unless the pool parses them. */
interface Row {
  id: string | number;
  position: string | number;
  entry_id: string;
  key: string;
  payload_text: string | null;
  payload_bytes: Buffer | null;
  version: string | number;
  error: string;
  attempts: number;
  failed_at: string | number;
}

const COLUMNS =
  'id, position, entry_id, key, payload_text, payload_bytes, version, error, attempts, failed_at';

/**
 * Dead letters in the PostgreSQL table `<schema>.dead_letters`, shared by every node that
 * works a journal in that schema. Get it from the journal (`journal.deadLetters()`), or make
 * one on a pool of yours once the table exists ({@link deadLetterTableSql}).
 */
export class PostgresDeadLetters implements DeadLetterStore {
  readonly #pool: pg.Pool;
  readonly #codec: Codec;
  readonly #lock: string;
  readonly #add: string;
  readonly #list: string;
  readonly #get: string;
  readonly #remove: string;
  readonly #count: string;

  /**
   * `schema` is a plain SQL identifier (a ConfigError otherwise); the pool's owner ends it.
   * Nothing is sent to the server here.
   */
  constructor(pool: pg.Pool, schema: string, options: PostgresDeadLettersOptions = {}) {
    this.#pool = serviceOption<pg.Pool>('pool', pool, ['query', 'connect']);
    const table = `${quote(identifier('schema', schema))}.dead_letters`;
    const o = knownOptions('PostgresDeadLetters options', options, ['codec']);
    this.#codec = serviceOption<Codec>('codec', o.codec, ['encode', 'decode'], jsonCodec);
    this.#lock = `BEGIN; LOCK TABLE ${table} IN SHARE ROW EXCLUSIVE MODE`;
    // The batch is deduplicated first (ON CONFLICT DO UPDATE may not touch a row twice) and
    // inserted in the caller's order (ids increase with it); a letter already kept is
    // "updated" to itself, which returns its id.
    this.#add = `WITH input AS (
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                             $6::bigint[], $7::text[], $8::integer[])
          WITH ORDINALITY AS t(position, entry_id, key, payload_text, payload_bytes, version,
                               error, attempts, n)
      ), firsts AS (
        SELECT DISTINCT ON (entry_id, position) * FROM input ORDER BY entry_id, position, n
      ), kept AS (
        INSERT INTO ${table} AS d
               (position, entry_id, key, payload_text, payload_bytes, version, error, attempts, failed_at)
        SELECT position, entry_id, key, payload_text, payload_bytes, version, error, attempts,
               floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint
          FROM firsts ORDER BY n
        ON CONFLICT (entry_id, position) DO UPDATE SET entry_id = excluded.entry_id
        RETURNING d.id, d.entry_id, d.position
      )
      SELECT kept.id FROM input JOIN kept USING (entry_id, position) ORDER BY input.n`;
    this.#list = `SELECT ${COLUMNS} FROM ${table} WHERE id > $1 ORDER BY id LIMIT $2`;
    this.#get = `SELECT ${COLUMNS} FROM ${table} WHERE id = ANY($1::bigint[]) ORDER BY id`;
    this.#remove = `DELETE FROM ${table} WHERE id = ANY($1::bigint[]) RETURNING ${COLUMNS}`;
    this.#count = `SELECT count(*) AS n FROM ${table}`;
  }

  add(letters: readonly DeadLetterInput[]): Promise<number[]> {
    return rejecting(async () => {
      const given: unknown = letters;
      if (!Array.isArray(given)) {
        throw new InputError(`add() takes an array of letters, got ${typeof given}`);
      }
      if (letters.length === 0) return [];
      // Everything is checked and encoded first: a letter that cannot be kept rejects the
      // call before anything is written.
      const columns = {
        position: [] as number[],
        entryId: [] as string[],
        key: [] as string[],
        text: [] as (string | null)[],
        bytes: [] as (Buffer | null)[],
        version: [] as number[],
        error: [] as string[],
        attempts: [] as number[],
      };
      letters.forEach((l, i) => {
        columns.position.push(checkPosition(`letter ${i}: position`, l.position));
        columns.entryId.push(checkText(`letter ${i}: entryId`, l.entryId));
        columns.key.push(checkText(`letter ${i}: key`, l.key));
        columns.version.push(checkPosition(`letter ${i}: version`, l.version));
        columns.attempts.push(checkPosition(`letter ${i}: attempts`, l.attempts));
        columns.error.push(storableText(String(l.error)));
        const stored = encodeWith(this.#codec, l.payload, 'letter', i);
        columns.text.push(typeof stored === 'string' ? stored : null);
        columns.bytes.push(typeof stored === 'string' ? null : toBuffer(stored));
      });
      return withClient(this.#pool, async (client, drop) => {
        try {
          await client.query(this.#lock);
          const { rows } = await client.query<{ id: string | number }>(this.#add, [
            columns.position,
            columns.entryId,
            columns.key,
            columns.text,
            columns.bytes,
            columns.version,
            columns.error,
            columns.attempts,
          ]);
          await client.query('COMMIT');
          return rows.map((r) => Number(r.id));
        } catch (error) {
          // The caller gets `error`; a connection that cannot even roll back is dropped.
          await client.query('ROLLBACK').catch(drop);
          throw error;
        }
      });
    });
  }

  list(options: { after?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    return rejecting(async () => {
      const after = checkPosition('after', options.after ?? 0);
      const limit = checkPosition('limit', options.limit ?? 100);
      const { rows } = await this.#pool.query<Row>(this.#list, [after, limit]);
      return rows.map((r) => this.#letter(r));
    });
  }

  get(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(async () => {
      const wanted = checkIds(ids);
      if (wanted.length === 0) return [];
      const { rows } = await this.#pool.query<Row>(this.#get, [wanted]);
      return rows.map((r) => this.#letter(r));
    });
  }

  remove(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(async () => {
      const wanted = checkIds(ids);
      if (wanted.length === 0) return [];
      const { rows } = await this.#pool.query<Row>(this.#remove, [wanted]);
      // RETURNING gives no order; the seam promises id order.
      return rows.map((r) => this.#letter(r)).sort((a, b) => a.id - b.id);
    });
  }

  count(): Promise<number> {
    return rejecting(async () => {
      const { rows } = await this.#pool.query<{ n: string | number }>(this.#count);
      return Number(rows[0]?.n ?? 0);
    });
  }

  #letter(r: Row): DeadLetter {
    return {
      id: Number(r.id),
      position: Number(r.position),
      entryId: r.entry_id,
      key: r.key,
      payload: this.#codec.decode(r.payload_text ?? (r.payload_bytes as Buffer)),
      version: Number(r.version),
      error: r.error,
      attempts: r.attempts,
      failedAt: Number(r.failed_at),
    };
  }
}

/** A key or entry id: replay appends it as it is, so it must be kept exactly. */
function checkText(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InputError(`${what} must be a non-empty string, got ${typeof value}`);
  }
  if (storableText(value) !== value) {
    throw new InputError(
      `${what} holds a NUL character or a lone surrogate, which PostgreSQL text cannot keep: ${JSON.stringify(value)}`,
    );
  }
  return value;
}

const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text PostgreSQL can keep: NUL and lone surrogates become U+FFFD. Only for the error
 * message, which is read by people: a letter must not be refused forever for how the
 * failure it records was worded.
 */
function storableText(value: string): string {
  return value.replace(UNSTORABLE, '\uFFFD');
}

/** pg sends a Buffer as bytea (a plain Uint8Array only in recent versions). */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
