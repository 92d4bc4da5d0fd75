/**
 * InProcessRunner: runs a pool worker's jobs by calling the pool's `handler` in this thread.
 *
 * One job at a time (the pool never starts a second before the first settles). It answers
 * a ping between jobs, as a mailbox would, so a handler that never settles shows up as a
 * stuck worker. It cannot be stopped: `terminate()` only stops it being used, and a job it
 * was abandoned on goes on running, told through its `signal`.
 */
import type { JobContext, PoolHandler, PoolJob } from './job.js';
import type { Runner, RunnerFactory } from './worker.js';

export class InProcessRunner<M, R> implements Runner {
  readonly ready = true;
  readonly isolated = false;
  /** The run in progress or the last one; a ping waits for it. */
  #last: Promise<unknown> | undefined;

  constructor(
    private readonly workerId: number,
    private readonly handler: PoolHandler<M, R>,
  ) {}

  run(job: PoolJob): Promise<unknown> {
    const ctx: JobContext = {
      workerId: this.workerId,
      key: job.skey,
      attempt: job.attempt,
      get signal() {
        return job.signal;
      },
    };
    const result = Promise.resolve(this.handler(job.msg as M, ctx));
    this.#last = result;
    return result;
  }

  ping(): Promise<void> {
    return this.#last === undefined
      ? Promise.resolve()
      : this.#last.then(
          () => undefined,
          () => undefined, // the run's own caller gets its failure
        );
  }

  terminate(): Promise<void> {
    return Promise.resolve();
  }
}

/** Runners for a pool with an in-process `handler`. */
export function inProcessRunners<M, R>(handler: PoolHandler<M, R>): RunnerFactory {
  return (workerId) => new InProcessRunner(workerId, handler);
}
