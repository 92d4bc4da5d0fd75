/**
 * PoolEvents: what a WorkerPool announces, named `noun:verb`. The map is closed, so a
 * misspelled event name is a compile error.
 */
import type { DiscardReason } from '../../errors.js';

/**
 * The events a WorkerPool emits (`pool.on('job:failed', ...)`), by name. `key` is the job's
 * key as a string; `workerId` is a `WorkerStats.id`.
 */
export interface PoolEvents {
  /** A worker began a job. */
  'job:started': {
    /** The worker running it. */
    workerId: number;
    /** The job's key, as a string. */
    key: string;
  };
  /** A job's handler returned; `call` resolved with its result. */
  'job:completed': {
    /** The worker that ran it. */
    workerId: number;
    /** The job's key, as a string. */
    key: string;
  };
  /** A job's handler threw; `call` rejected with `error`. */
  'job:failed': {
    /** The worker that ran it. */
    workerId: number;
    /** The job's key, as a string. */
    key: string;
    /** What the handler threw. */
    error: unknown;
  };
  /** A job was dropped before it ran (also reported to `onDiscard`). */
  'job:discarded': {
    /** The job's key, as a string. */
    key: string;
    /** Why it was dropped. */
    reason: DiscardReason;
  };
  /** A worker was replaced under the same id, its queue kept; one restart of the budget. */
  'worker:replaced': {
    /** The worker replaced. */
    workerId: number;
    /** Whether it crashed or was stuck (dead man switch with `kill`). */
    reason: 'crashed' | 'stuck';
    /** What it crashed with, or an Error saying it did not answer a ping in time. */
    error: unknown;
  };
  /** A worker did not answer a ping within the dead man switch's `timeoutMs`. */
  'worker:stuck': {
    /** The silent worker. */
    workerId: number;
    /** How long it has been silent, in ms. */
    silentMs: number;
  };
  /** The restart budget is spent: the pool has failed and every waiting caller rejected. */
  'pool:failed': {
    /** The RestartBudgetExhaustedError, whose `cause` is the last failure. */
    error: Error;
  };
}
