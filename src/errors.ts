/**
 * The sluice error hierarchy.
 *
 * Every error sluice raises is a {@link SluiceError} with a stable `code`, so callers can
 * branch on `err.code` (or `instanceof`) without parsing messages. Two families matter most
 * and must not be confused:
 *
 * - "the component is gone": {@link ClosedError} — the work was NOT processed;
 * - "your work failed": {@link BatchError} — the work reached the flush, which failed;
 *   `cause` holds what the flush threw.
 */

/** Stable error codes, one per class. */
export type SluiceErrorCode =
  | 'ERR_SLUICE_CLOSED'
  | 'ERR_SLUICE_BATCH'
  | 'ERR_SLUICE_QUEUE_FULL'
  | 'ERR_SLUICE_TIMEOUT'
  | 'ERR_SLUICE_CONFIG'
  | 'ERR_SLUICE_INPUT'
  | 'ERR_SLUICE_ENCODE'
  | 'ERR_SLUICE_ENTRY_TOO_LARGE'
  | 'ERR_SLUICE_JOURNAL_FORMAT'
  | 'ERR_SLUICE_JOURNAL_WRITE'
  | 'ERR_SLUICE_JOURNAL_READ'
  | 'ERR_SLUICE_JOURNAL_LOCKED'
  | 'ERR_SLUICE_LEASE_LOST'
  | 'ERR_SLUICE_SINK'
  | 'ERR_SLUICE_DEAD_LETTERED'
  | 'ERR_SLUICE_RESTART_BUDGET'
  | 'ERR_SLUICE_DISCARDED'
  | 'ERR_SLUICE_WORKER_CRASHED'
  | 'ERR_SLUICE_WORKER_STUCK'
  | 'ERR_SLUICE_WORKER_FATAL'
  | 'ERR_SLUICE_THREAD_EXIT'
  | 'ERR_SLUICE_USAGE'
  | 'ERR_SLUICE_MISSING_DEPENDENCY';

/** Base class of every error sluice raises. */
export class SluiceError extends Error {
  /** Stable, one per class: branch on it instead of parsing `message`. */
  readonly code: SluiceErrorCode;

  constructor(code: SluiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The concrete class's name (`'ClosedError'`...), so logs and stack traces show it. */
  override get name(): string {
    return this.constructor.name;
  }
}

/** The component was closed before this work was accepted or processed; it was not processed. */
export class ClosedError extends SluiceError {
  constructor(message = 'closed: no new work is accepted', options?: { cause?: unknown }) {
    super('ERR_SLUICE_CLOSED', message, options);
  }
}

/** The flush that carried this item failed as a whole; `cause` is what it threw. */
export class BatchError extends SluiceError {
  /** Number of items in the failed batch. */
  readonly batchSize: number;
  /** How many times the flush was attempted before giving up. */
  readonly attempts: number;

  constructor(cause: unknown, batchSize: number, attempts: number) {
    super(
      'ERR_SLUICE_BATCH',
      `flush of a batch of ${batchSize} failed after ${attempts} attempt(s): ${messageOf(cause)}`,
      { cause },
    );
    this.batchSize = batchSize;
    this.attempts = attempts;
  }
}

/** A bounded queue was full and its overflow policy is `reject`. */
export class QueueFullError extends SluiceError {
  /** The limit that was reached. */
  readonly capacity: number;

  constructor(what: string, capacity: number) {
    super('ERR_SLUICE_QUEUE_FULL', `${what} is full (capacity ${capacity})`);
    this.capacity = capacity;
  }
}

/** A deadline passed before the work finished; its outcome is unknown. */
export class TimeoutError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_TIMEOUT', message, options);
  }
}

/** An option was given a value it cannot take. Names the option, the value and its type. */
export class ConfigError extends SluiceError {
  /** The option's name, dotted when nested (`labels.env`). */
  readonly option: string;
  /** The value that was refused, as given. */
  readonly value: unknown;

  /** `message` replaces the usual "Expected `option` to be..." (an unknown option's name). */
  constructor(option: string, expected: string, value: unknown, message?: string) {
    super(
      'ERR_SLUICE_CONFIG',
      message ?? `Expected \`${option}\` to be ${expected}, got ${show(value)}`,
    );
    this.option = option;
    this.value = value;
  }
}

/**
 * A package this feature needs is not installed (an optional peer dependency: `pg`, `mysql2`,
 * `better-sqlite3`...), or cannot be loaded on this Node.js; the message names what to
 * install. `cause` is the loader's error.
 */
export class MissingDependencyError extends SluiceError {
  /** The package to install. */
  readonly dependency: string;

  constructor(dependency: string, message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_MISSING_DEPENDENCY', message, options);
    this.dependency = dependency;
  }
}

/** A call got an argument it cannot take (an empty key, a position past the head...). */
export class InputError extends SluiceError {
  constructor(message: string) {
    super('ERR_SLUICE_INPUT', message);
  }
}

/** A payload could not be encoded; nothing of the call that carried it was written. */
export class EncodeError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_ENCODE', message, options);
  }
}

/** An entry's encoded payload is larger than the limit; nothing of the call was written. */
export class EntryTooLargeError extends SluiceError {
  /** The payload's encoded size (characters of its JSON text, or bytes). */
  readonly bytes: number;
  /** The limit it went past, in the same unit; the message names the option that set it. */
  readonly limit: number;

  constructor(bytes: number, limit: number, option: string) {
    super(
      'ERR_SLUICE_ENTRY_TOO_LARGE',
      `the value is ${bytes.toLocaleString('en-US')} bytes encoded, more than \`${option}\` (${limit.toLocaleString('en-US')})`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** A file is not a sluice journal, or was written by a newer schema than this version reads. */
export class JournalFormatError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_JOURNAL_FORMAT', message, options);
  }
}

/**
 * The journal's storage refused a write (a full disk, an I/O error, a file locked past the
 * busy timeout); `cause` is the storage's own error. Nothing of the call was written.
 */
export class JournalWriteError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_JOURNAL_WRITE', message, options);
  }
}

/**
 * The journal could not be read (a damaged page, an I/O error, a journal closed under the
 * pipeline) even after retries; the pipeline has stopped, and what it had not finished
 * stays in the journal for the next open. `cause` is the last failure.
 */
export class JournalReadError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_JOURNAL_READ', message, options);
  }
}

/** Who holds a journal consumer, as recorded when the hold was taken. */
export interface JournalHolder {
  /** The holding process's id. */
  readonly pid: number;
  /** The holding machine's host name (`os.hostname()`). */
  readonly host: string;
  /** When the hold was taken, in ms since the epoch. */
  readonly since: number;
}

/**
 * A journal consumer is already worked by a live pipeline (in this process or another): two
 * would deliver every entry twice and move one checkpoint back and forth. `holder` names the
 * one that has it, when it could be read.
 */
export class JournalLockedError extends SluiceError {
  /** The consumer that is already held. */
  readonly consumer: string;
  /** Who holds it; `undefined` when that could not be read. */
  readonly holder: JournalHolder | undefined;

  constructor(where: string, consumer: string, holder: JournalHolder | undefined) {
    const who =
      holder === undefined
        ? 'another pipeline'
        : `pid ${holder.pid} on ${holder.host} since ${new Date(holder.since).toISOString()}`;
    super(
      'ERR_SLUICE_JOURNAL_LOCKED',
      `consumer "${consumer}" of ${where} is held by ${who}: one pipeline per journal consumer`,
    );
    this.consumer = consumer;
    this.holder = holder;
  }
}

/**
 * A node no longer holds the lease of a partition of a shared journal (it expired while the
 * node was paused or cut off, and another node took it over): what it tried to commit was
 * refused, so it cannot move the partition's checkpoint behind the new owner's back.
 */
export class LeaseLostError extends SluiceError {
  /** The partition. */
  readonly partition: number;
  /** The epoch the node held it at. */
  readonly epoch: number;

  constructor(consumer: string, partition: number, epoch: number) {
    super(
      'ERR_SLUICE_LEASE_LOST',
      `partition ${partition} of consumer "${consumer}" is no longer held at epoch ${epoch}: another node took it over`,
    );
    this.partition = partition;
    this.epoch = epoch;
  }
}

/** A sink could not be set up or reached; `cause` is the driver's own error. */
export class SinkError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_SINK', message, options);
  }
}

/**
 * The entry was refused by the sink and went to the dead letters (`cause` is the sink's
 * error); it can be replayed from there once fixed.
 */
export class DeadLetteredError extends SluiceError {
  /** The entry's journal position. */
  readonly position: number;
  /** The entry's key. */
  readonly key: string;

  constructor(position: number, key: string, cause: unknown) {
    super(
      'ERR_SLUICE_DEAD_LETTERED',
      `entry ${position} (key ${JSON.stringify(key)}) was refused by the sink and dead-lettered: ${messageOf(cause)}`,
      { cause },
    );
    this.position = position;
    this.key = key;
  }
}

/** A supervised loop failed more often than its restart policy allows; `cause` is the last failure. */
export class RestartBudgetExhaustedError extends SluiceError {
  /** Restarts made before the policy ran out. */
  readonly restarts: number;

  constructor(what: string, restarts: number, cause: unknown) {
    super(
      'ERR_SLUICE_RESTART_BUDGET',
      `${what} failed after ${restarts} restart(s) and its restart policy allows no more: ${messageOf(cause)}`,
      { cause },
    );
    this.restarts = restarts;
  }
}

/** Why a job was dropped without running. */
export type DiscardReason = 'ttl' | 'loadshed' | 'rateLimited' | 'shutdown';

/** A job was discarded before it ran; `reason` says why. */
export class DiscardedError extends SluiceError {
  /** Why the job was dropped. */
  readonly reason: DiscardReason;

  constructor(reason: DiscardReason, detail: string) {
    super('ERR_SLUICE_DISCARDED', `job discarded (${reason}): ${detail}`);
    this.reason = reason;
  }
}

/** The worker running this job crashed and the job had no retries left. */
export class WorkerCrashedError extends SluiceError {
  /** The pool worker that crashed (as in `WorkerStats.id`). */
  readonly workerId: number;

  constructor(workerId: number, cause: unknown) {
    super(
      'ERR_SLUICE_WORKER_CRASHED',
      `worker ${workerId} crashed while running this job: ${messageOf(cause)}`,
      {
        cause,
      },
    );
    this.workerId = workerId;
  }
}

/** The worker running this job stopped answering pings and was abandoned. */
export class WorkerStuckError extends SluiceError {
  /** The pool worker that was abandoned (as in `WorkerStats.id`). */
  readonly workerId: number;

  constructor(workerId: number, silentMs: number) {
    super(
      'ERR_SLUICE_WORKER_STUCK',
      `worker ${workerId} did not answer a ping for ${Math.round(silentMs)} ms while running this job and was abandoned`,
    );
    this.workerId = workerId;
  }
}

/**
 * Thrown by a pool handler to say its worker is unusable and must be replaced (the job is
 * retried on the fresh worker, within the pool's restart budget).
 */
export class FatalWorkerError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_WORKER_FATAL', message, options);
  }
}

/** A pool worker's thread exited while it ran a job; the worker is replaced. */
export class ThreadExitError extends SluiceError {
  /** The thread's exit code, when it exited rather than failed to start. */
  readonly exitCode: number | undefined;

  constructor(exitCode: number | undefined, message: string, options?: { cause?: unknown }) {
    super('ERR_SLUICE_THREAD_EXIT', message, options);
    this.exitCode = exitCode;
  }
}

/** A short, safe rendering of any value for an error message: `` `0` (number) ``. */
export function show(value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let text: string;
  try {
    text = typeof value === 'function' ? '[function]' : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return `\`${text}\` (${type})`;
}

/** An error's message, or the thrown value as text. */
export function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
