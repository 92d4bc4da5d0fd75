/**
 * Whose fault a PostgreSQL write failure is, as a table of SQLSTATE classes (the first two
 * characters of the code) and Node's socket error codes.
 *
 * Only what the rows themselves cause is `'rejected'` (and goes to the dead letters once the
 * batch is split down to the entry): bad data (class 22) and constraint violations (23),
 * a value past a server limit (54, such as an index row too large), and an exception a
 * trigger or function raises (P0: how a validation trigger refuses a row). Everything else the
 * server or the network reports means the sink cannot take writes now, and the batch waits
 * and is retried as it is: a lost connection (08), a lock or statement timeout during a
 * migration (55P03, 57014), a table or column renamed away (42P01, 42703), a privilege
 * revoked (42501), a read-only replica (25006), a full disk (53100), a restart (57P0x),
 * serialization failures and deadlocks (40), and no free connection in the pool's wait.
 * An error without a SQLSTATE or socket code (thrown by a `toRow` of yours, say) is
 * `'unknown'`.
 */
import type { SinkFailure } from '../../index.js';
import { NETWORK_ERROR_CODES } from '../../backend.js';

/** SQLSTATE classes whose errors come from the rows written. */
const ROW_CLASSES = new Set([
  '22', // data exception: a value the column type refuses
  '23', // integrity constraint violation: NOT NULL, CHECK, foreign key, unique
  '54', // program limit exceeded: a value past a server limit
  'P0', // raised by a trigger or function (RAISE EXCEPTION): a validation refusing the row
]);

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** What pg and pg-pool say, with no code, when the server or a connection cannot be had now. */
const NO_CODE_UNAVAILABLE =
  /Connection terminated|connection timeout|timeout expired|Query read timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i;

/**
 * Whose fault a PostgreSQL write failure is, by SQLSTATE class and socket error code:
 * `'rejected'` for what the rows cause (bad data 22, constraints 23, server limits 54, a
 * trigger's exception P0), `'unavailable'` for everything else the server or network
 * reports (connection loss, timeouts, a table renamed away, a read-only replica, deadlocks
 * ...), `'unknown'` for an error with neither code.
 */
export function classifyPostgresError(error: unknown): SinkFailure {
  if (typeof error !== 'object' || error === null) return 'unknown';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_ERROR_CODES.has(code)) return 'unavailable';
    if (SQLSTATE.test(code)) return ROW_CLASSES.has(code.slice(0, 2)) ? 'rejected' : 'unavailable';
  }
  // pg reports a socket closed under it, or a timeout of its own, without a code; so does
  // pg-pool when no connection frees up in time (all of them held up by a migration's lock).
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && NO_CODE_UNAVAILABLE.test(message)
    ? 'unavailable'
    : 'unknown';
}
