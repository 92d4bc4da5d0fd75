/**
 * Which PostgreSQL and network errors are worth retrying, as a table (SQLSTATE codes and
 * classes, and Node's socket error codes). Everything else (constraint violations, bad
 * data, syntax) is permanent: retrying cannot help.
 */

/** SQLSTATE classes (first two characters) that are transient as a whole. */
const CLASSES = new Set([
  '08', // connection exception
]);

/** Single SQLSTATE codes that are transient. */
const CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '53300', // too_many_connections
]);

/** Socket-level failures: the server is unreachable or the connection broke. */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

export function isTransientPostgresError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK.has(code) || CODES.has(code)) return true;
    if (code.length === 5 && CLASSES.has(code.slice(0, 2))) return true;
  }
  // pg reports a socket closed under it without a code.
  const message = (error as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|timeout expired|Query read timeout|Client has encountered a connection error/i.test(
      message,
    )
  );
}
