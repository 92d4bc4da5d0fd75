/**
 * Borrowing a connection from a pg pool for more than one statement (a transaction, a COPY).
 *
 * A pool listens for errors only on idle connections: one that breaks while checked out
 * emits 'error' on its client, and with nobody listening that ends the process. `withClient`
 * listens while it lends the client, and drops a connection that broke, whose work failed
 * other than by the server's refusal, or that the work says to `drop` (a failed ROLLBACK),
 * instead of handing it back.
 */
import type pg from 'pg';
import { NETWORK_ERROR_CODES } from '../../backend.js';

/** Runs `work` on a connection of `pool`; see the module doc for what happens when it breaks. */
export async function withClient<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient, drop: (why: unknown) => void) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error): void => {
    // The statement under way fails with it too (pg fails every pending query).
    broken ??= error;
  };
  client.on('error', onError);
  const drop = (why: unknown): void => {
    broken ??= why instanceof Error ? why : new Error(String(why));
  };
  try {
    return await work(client, drop);
  } catch (error) {
    if (!refused(error)) drop(error);
    throw error;
  } finally {
    // A good connection goes back to the pool, which listens while it is idle; a broken one
    // is dropped and keeps this listener for whatever it still reports.
    if (broken === undefined) client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Whether the server refused a statement (a SQLSTATE), rather than the connection failing:
 * not a socket error, not a connection exception (class 08), not a shutdown (57P01-57P03).
 */
export function refused(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    !NETWORK_ERROR_CODES.has(code) &&
    !code.startsWith('08') &&
    !/^57P0[1-3]$/.test(code)
  );
}
