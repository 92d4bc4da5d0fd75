/**
 * How the SQLite journal's storage failures reach callers: typed (JournalReadError,
 * JournalWriteError), with SQLite's error as the cause. Bad arguments and a closed journal
 * keep their own errors.
 */
import { ClosedError, JournalReadError, JournalWriteError, SluiceError } from '../../index.js';
import { rejecting } from '../../backend.js';
import { sqliteError } from './driver.js';

/**
 * Runs a read; a storage failure (a damaged page, an I/O error) becomes a JournalReadError
 * with SQLite's error as the cause.
 */
export function reading<T>(path: string, fn: () => Promise<T>): Promise<T> {
  return rejecting(fn).catch((error: unknown) => {
    throw readError(path, error);
  });
}

/** A storage failure as the caller of a read sees it (sluice's own errors pass as they are). */
export function readError(path: string, error: unknown): unknown {
  if (error instanceof SluiceError) return error;
  sqliteError(error);
  return new JournalReadError(`journal ${path} could not be read: ${String(error)}`, {
    cause: error,
  });
}

/** A storage failure as the caller of a write sees it. */
export function writeError(path: string, error: unknown): unknown {
  if (error instanceof JournalWriteError || error instanceof ClosedError) return error;
  sqliteError(error);
  return new JournalWriteError(
    `journal ${path} could not store this: ${(error as Error).message}`,
    { cause: error },
  );
}
