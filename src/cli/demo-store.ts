/**
 * Where the demo's messages land, and the questions its verification asks of them: a SQLite
 * table beside the journal (the embedded default), or a PostgreSQL table.
 */
import { join } from 'node:path';
import { openSqlite } from '../adapters/sqlite/driver.js';
import { sqliteSink } from '../adapters/sqlite/index.js';
import type * as PostgresAdapter from '../adapters/postgres/index.js';
import type Pg from 'pg';
import type { Sink } from '../sink/sink.js';
import { UsageError } from './fail.js';

// A type, not an interface: it must be assignable to a JSON payload.
export type Message = { account: string; seq: number; body: string };

export interface DemoStore {
  /** Where the rows are, for people. */
  readonly where: string;
  readonly sink: Sink<Message>;
  rows(): Promise<number>;
  /** Rows of an account that arrived after a row with a higher or equal seq. */
  outOfOrder(): Promise<number>;
  close(): Promise<void>;
}

const COLUMNS = ['account', 'seq', 'body'];

export function sqliteStore(dir: string, fresh: boolean): DemoStore {
  const path = join(dir, 'store.db');
  const db = openSqlite(path);
  db.pragma('journal_mode = WAL');
  if (fresh) {
    db.exec(`CREATE TABLE messages (
      arrival   INTEGER PRIMARY KEY,
      sluice_id TEXT UNIQUE NOT NULL,
      account   TEXT NOT NULL,
      seq       INTEGER NOT NULL,
      body      TEXT NOT NULL
    )`);
  }
  const sink = sqliteSink<Message>({
    database: db,
    table: 'messages',
    columns: COLUMNS,
    mode: 'insert',
  });
  return {
    where: `table messages in ${path}`,
    sink,
    rows: () =>
      Promise.resolve((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n),
    outOfOrder: () =>
      Promise.resolve(
        (
          db
            .prepare(
              `SELECT count(*) AS n FROM (
                 SELECT seq, lag(seq) OVER (PARTITION BY account ORDER BY arrival) AS prev
                 FROM messages
               ) WHERE prev IS NOT NULL AND seq <= prev`,
            )
            .get() as { n: number }
        ).n,
      ),
    close: async () => {
      await sink.close();
      db.close();
    },
  };
}

const PG_TABLE = 'sluice_demo_messages';

/** Where in the database the PostgreSQL store's table is, and how it is reached. */
export interface PostgresStoreOptions {
  /** Its schema, created if missing. @default the search path's (public) */
  schema?: string;
  /** @default 'sluice_demo_messages' */
  table?: string;
  /** Connections of the store's pool. @default 5 */
  maxConnections?: number;
}

export async function postgresStore(
  url: string,
  fresh: boolean,
  place: PostgresStoreOptions = {},
): Promise<DemoStore> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new UsageError(`--sink takes a postgres:// URL, got ${JSON.stringify(url)}`);
  }
  let adapter: typeof PostgresAdapter;
  let pg: typeof Pg;
  try {
    adapter = await import('../adapters/postgres/index.js');
    pg = (await import('pg')).default;
  } catch {
    throw new UsageError('--sink postgres:// needs the pg package: npm install pg');
  }
  // The names come from the code or from a --schema checked as an identifier.
  const name = place.table ?? PG_TABLE;
  const table = place.schema === undefined ? name : `${place.schema}.${name}`;
  const pool = new pg.Pool({
    connectionString: url,
    max: place.maxConnections ?? 5,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => {
    // An idle connection dropped; the next query opens another.
  });
  try {
    if (fresh) {
      if (place.schema !== undefined)
        await pool.query(`CREATE SCHEMA IF NOT EXISTS ${place.schema}`);
      await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.query(`CREATE TABLE ${table} (
        arrival   bigserial PRIMARY KEY,
        sluice_id text UNIQUE NOT NULL,
        account   text NOT NULL,
        seq       integer NOT NULL,
        body      text NOT NULL
      )`);
    }
    const sink = await adapter.postgresSink<Message>({
      pool,
      table: name,
      ...(place.schema === undefined ? {} : { schema: place.schema }),
      columns: COLUMNS,
      mode: 'insert',
    });
    const one = async (sql: string): Promise<number> =>
      Number(((await pool.query(sql)).rows[0] as { n: string }).n);
    return {
      where: `table ${table} in ${url.replace(/\/\/[^@/]*@/, '//')}`,
      sink,
      rows: () => one(`SELECT count(*) AS n FROM ${table}`),
      outOfOrder: () =>
        one(`SELECT count(*) AS n FROM (
               SELECT seq, lag(seq) OVER (PARTITION BY account ORDER BY arrival) AS prev
               FROM ${table}
             ) t WHERE prev IS NOT NULL AND seq <= prev`),
      close: async () => {
        await sink.close();
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}
