/**
 * How the CLI fails: one line on stderr naming what was wrong, and a non-zero exit; never a
 * stack trace, which tells a user of the command nothing (SLUICE_DEBUG=1 prints it).
 */
import { SluiceError } from '../errors.js';

/** A mistake in how the command was called: exit code 2, like a usage error. */
export class UsageError extends SluiceError {
  constructor(message: string) {
    super('ERR_SLUICE_USAGE', message);
  }
}

export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError ? 2 : 1;
}

export function describe(error: unknown): string {
  if (error instanceof SluiceError) return error.message;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/** Runs a command's action; on failure prints one line and exits. */
export async function run(action: () => Promise<number | void>): Promise<void> {
  try {
    const code = await action();
    if (typeof code === 'number' && code !== 0) process.exitCode = code;
  } catch (error) {
    process.stderr.write(`sluice: ${describe(error).split('\n')[0]}\n`);
    if (process.env['SLUICE_DEBUG'] === '1') console.error(error);
    process.exitCode = exitCodeOf(error);
  }
}

/** Parses a positive integer option, or throws a UsageError naming the flag. */
export function positiveInteger(flag: string, value: string | undefined, min = 1): number {
  const n = Number(value);
  if (value === undefined || !/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `${flag} must be an integer ≥ ${min}, got ${JSON.stringify(value ?? null)}`,
    );
  }
  return n;
}
