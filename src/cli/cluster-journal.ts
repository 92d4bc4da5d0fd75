/**
 * Opening a cluster journal the user named by URL (`postgres://...`): pg must be installed,
 * the server reachable, and the schema must hold a sluice cluster journal already; a
 * command that only looks must not create one where a schema name was mistyped.
 */
import type pg from 'pg';
// Loads without pg (the adapter loads it when a journal opens).
import { PostgresJournal } from '../adapters/postgres/index.js';
import { JournalReadError } from '../index.js';
import { quote, requireOptional } from '../backend.js';
import { UsageError } from './fail.js';

/** Whether a command's journal argument names a PostgreSQL cluster journal. */
export function isPostgresUrl(arg: string): boolean {
  return /^postgres(ql)?:\/\//i.test(arg);
}

/** The URL as it may be printed: without its password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

const SCHEMA = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Opens the cluster journal at `url` in `schema`. A missing pg package is a
 * MissingDependencyError naming it; a server that cannot be reached a JournalReadError; a
 * schema without a journal a UsageError.
 */
export async function openClusterJournal(
  url: string,
  schema: string,
  command: string,
): Promise<{ journal: PostgresJournal; shown: string }> {
  if (!SCHEMA.test(schema)) {
    throw new UsageError(
      `--schema must be a SQL identifier (letters, digits, underscores), got ${JSON.stringify(schema)}`,
    );
  }
  const shown = redactUrl(url);
  const { Client } = requireOptional<typeof pg>('pg', `${command} postgres://`);
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A connection lost mid-query fails that query, which reports it; the client's own
  // 'error' event must not end the process first.
  client.on('error', () => {});
  let connected = false;
  try {
    await client.connect();
    connected = true;
    const { rows } = await client.query<{ found: boolean }>(
      'SELECT to_regclass($1) IS NOT NULL AS found',
      [`${quote(schema)}.leases`],
    );
    if (rows[0]?.found !== true) {
      throw new UsageError(`no sluice cluster journal in schema ${schema} at ${shown}`);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new JournalReadError(`cannot read the journal at ${shown}: ${(error as Error).message}`, {
      cause: error,
    });
  } finally {
    if (connected) await client.end();
  }
  return { journal: await PostgresJournal.open({ connectionString: url, schema }), shown };
}
