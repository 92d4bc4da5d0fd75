/**
 * Whose fault a MySQL or MariaDB write failure is, as a table of server error numbers,
 * SQLSTATE classes and the socket and protocol codes of the mysql2 driver.
 *
 * Only what the rows themselves cause is `'rejected'` (and goes to the dead letters once the
 * batch is split down to the entry): a value the column refuses (too long, out of range, of
 * the wrong type, NULL in a NOT NULL column), a duplicate on a unique key, a foreign key, a
 * CHECK constraint, a row past a server limit (a row larger than `max_allowed_packet`, or
 * than InnoDB's row size), and a trigger that refuses the row with `SIGNAL`. Those are the
 * numbers below, and anything else in SQLSTATE classes 22 (data) and 23 (integrity) or 45
 * (`SIGNAL SQLSTATE '45000'` with an error number of the trigger's own). Every other server
 * error means the server cannot take writes now, and the batch waits and is retried as it
 * is: a lock wait timeout (1205) or deadlock (1213), a table or column renamed away (1146,
 * 1054), a privilege revoked (1142), a read-only server (1290, 1836), too many connections
 * (1040), a statement killed or timed out (1317, 1927, 1969, 3024), a full table or disk
 * (1114, 1021), a column added NOT NULL without a default (1364). So is a connection refused,
 * reset or lost, and a statement that got no answer in time. An error with none of these
 * (thrown by a `toRow` of yours, say) is `'unknown'`.
 *
 * The data errors are only errors in strict mode (`STRICT_TRANS_TABLES`, the default since
 * MySQL 5.7 and MariaDB 10.2.4); without it the server stores a truncated or zeroed value
 * and warns, which is why the sink refuses a session that is not strict.
 */
import type { SinkFailure } from '../../index.js';
import { NETWORK_ERROR_CODES } from '../../backend.js';

/** Server error numbers that the rows written cause. */
const ROW_ERRORS = new Set([
  1048, // ER_BAD_NULL_ERROR: NULL into a NOT NULL column
  1062, // ER_DUP_ENTRY: a duplicate on a unique key
  1169, // ER_DUP_UNIQUE
  1586, // ER_DUP_ENTRY_WITH_KEY_NAME
  1216, // ER_NO_REFERENCED_ROW: a foreign key
  1217, // ER_ROW_IS_REFERENCED
  1451, // ER_ROW_IS_REFERENCED_2
  1452, // ER_NO_REFERENCED_ROW_2
  1264, // ER_WARN_DATA_OUT_OF_RANGE: a number past the column's range
  1265, // WARN_DATA_TRUNCATED: a value an ENUM or SET does not have
  1292, // ER_TRUNCATED_WRONG_VALUE: a malformed date or number
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: text into a number column
  1367, // ER_ILLEGAL_VALUE_FOR_TYPE
  1406, // ER_DATA_TOO_LONG: a string longer than the column
  1411, // ER_WRONG_VALUE_FOR_TYPE
  1416, // ER_CANT_CREATE_GEOMETRY_OBJECT
  1365, // ER_DIVISION_BY_ZERO: in a generated column, say
  1690, // ER_DATA_OUT_OF_RANGE: arithmetic on the value overflowed
  1300, // ER_INVALID_CHARACTER_STRING: bytes that are not valid in the column's charset
  3140, // ER_INVALID_JSON_TEXT (MySQL's JSON type)
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB's CHECK, and its JSON columns' json_valid)
  1644, // ER_SIGNAL_EXCEPTION: a trigger refusing the row
  1118, // ER_TOO_BIG_ROWSIZE: the row is past InnoDB's row size limit
  1153, // ER_NET_PACKET_TOO_LARGE: the row is past max_allowed_packet
]);

/** SQLSTATE classes whose errors come from the rows written. */
const ROW_CLASSES = new Set(['22', '23', '45']);

/** Socket and driver failures: the server is unreachable, or the connection broke. */
const NETWORK = new Set([
  ...NETWORK_ERROR_CODES,
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

/**
 * Whose fault a MySQL or MariaDB write failure is, by server error number, SQLSTATE class and
 * socket or driver code: `'rejected'` for what the rows cause (a value the column refuses,
 * NULL into NOT NULL, a duplicate or foreign key, a CHECK, a row past a server limit, a
 * trigger's `SIGNAL`; SQLSTATE classes 22, 23 and 45), `'unavailable'` for every other server
 * error (a lock wait timeout, a deadlock, a table renamed away, a read-only server...) and a
 * server refused, lost or silent, `'unknown'` for an error with none of these.
 */
export function classifyMysqlError(error: unknown): SinkFailure {
  if (typeof error !== 'object' || error === null) return 'unknown';
  const { errno, sqlState, code, fatal } = error as {
    errno?: unknown;
    sqlState?: unknown;
    code?: unknown;
    fatal?: unknown;
  };
  // A server's answer carries both; a socket error's errno is a negative number, or absent.
  if (typeof errno === 'number' && typeof sqlState === 'string') {
    if (ROW_ERRORS.has(errno) || ROW_CLASSES.has(sqlState.slice(0, 2))) return 'rejected';
    return 'unavailable';
  }
  if (typeof code === 'string' && NETWORK.has(code)) return 'unavailable';
  // mysql2 marks an error that ended the connection as fatal (a command on a closed one).
  return fatal === true ? 'unavailable' : 'unknown';
}

/** The row errors the sink raises itself: [code, errno, SQLSTATE] as MySQL has them. */
const ROW_ERROR_KINDS = {
  duplicate: ['ER_DUP_ENTRY', 1062, '23000'],
  outOfRange: ['ER_WARN_DATA_OUT_OF_RANGE', 1264, '22003'],
  wrongValue: ['ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', 1366, 'HY000'],
  tooLarge: ['ER_NET_PACKET_TOO_LARGE', 1153, '08S01'],
} as const;

/**
 * An error the sink raises itself, before or after the server, about one row: it carries the
 * number and code MySQL uses for the same condition, so {@link classifyMysqlError} (and code
 * that branches on `errno`) treats it as the server's own.
 */
export function rowError(
  message: string,
  kind: keyof typeof ROW_ERROR_KINDS,
  cause?: unknown,
): Error {
  const [code, errno, sqlState] = ROW_ERROR_KINDS[kind];
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), {
    code,
    errno,
    sqlState,
  });
}
