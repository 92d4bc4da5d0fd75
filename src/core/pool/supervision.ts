/**
 * Supervisor: keeps a pool's workers alive, within a restart budget.
 *
 * - A worker that crashes (its thread exits or throws at top level; an in-process handler
 *   throws {@link FatalWorkerError}) is replaced under the same id with its queue kept. The
 *   job it was running goes back to the front of that queue if it has retries left, else
 *   its caller gets {@link WorkerCrashedError}. Never silently lost.
 * - With a dead man switch, every worker is pinged every `intervalMs`; one silent for
 *   `timeoutMs` is reported stuck (`worker:stuck`) and, with `kill`, replaced: a thread is
 *   terminated; an in-process worker is abandoned (it cannot be stopped) and its job's
 *   caller gets {@link WorkerStuckError}, never a second run alongside the hung one.
 * - Every replacement draws on the restart budget; when it is spent the pool fails loudly
 *   (see `WorkerPool`): every waiting caller rejects with {@link RestartBudgetExhaustedError}.
 *
 * A worker still loading its module (a thread starting) is not pinged, so a slow start is
 * not taken for stuck.
 */
import { RestartBudgetExhaustedError, WorkerCrashedError, WorkerStuckError } from '../../errors.js';
import type { Clock, Timer } from '../clock.js';
import type { RestartBudget } from '../restart-budget.js';
import type { PoolJob } from './job.js';
import type { PoolEvents } from './pool-events.js';
import type { PoolWorker } from './worker.js';

/**
 * Pings every worker and reports one that does not answer (`worker:stuck`); with `kill`,
 * replaces it. A thread answers from its own event loop, so a handler stuck in a busy loop
 * is caught; a thread still loading its module is not pinged.
 */
export interface DeadManSwitch {
  /** How often each worker is pinged, in ms. */
  intervalMs: number;
  /** A worker silent this long is stuck, in ms. */
  timeoutMs: number;
  /** Replace a stuck worker. @default false (report only) */
  kill?: boolean;
}

/** What the supervisor needs of its pool. */
export interface SupervisedPool<J extends PoolJob> {
  /** False once the pool is closed or failed: crashes no longer matter then. */
  running(): boolean;
  /** Every live worker, active and retiring. */
  workers(): readonly PoolWorker<J>[];
  /** Takes the worker's running job off it: no longer in flight, its key still owned. */
  unseat(worker: PoolWorker<J>): J | undefined;
  /** Ends an unseated job as failed: its caller gets `error`. */
  failJob(worker: PoolWorker<J>, job: J, error: Error): void;
  /** Gives a worker its next job, if any. */
  next(worker: PoolWorker<J>): void;
  /** The restart budget is spent. */
  fail(error: Error): void;
  emit<E extends 'worker:replaced' | 'worker:stuck'>(event: E, payload: PoolEvents[E]): void;
}

export class Supervisor<J extends PoolJob> {
  #pingTimer: Timer | undefined;

  constructor(
    private readonly pool: SupervisedPool<J>,
    private readonly budget: RestartBudget,
    private readonly deadMan: Required<DeadManSwitch> | undefined,
    private readonly clock: Clock,
  ) {}

  /** Starts the pings (with a dead man switch). */
  start(): void {
    const dms = this.deadMan;
    if (dms === undefined || !this.pool.running()) return;
    this.#pingTimer = this.clock.setTimer(
      () => {
        for (const w of this.pool.workers()) this.#ping(w, dms);
        this.start();
      },
      dms.intervalMs,
      { keepAlive: false },
    );
  }

  stop(): void {
    this.#pingTimer?.cancel();
    this.#pingTimer = undefined;
  }

  /** Replaces a worker that crashed or is stuck, keeping its queue; settles its job. */
  replace(worker: PoolWorker<J>, error: unknown, reason: 'crashed' | 'stuck', silentMs = 0): void {
    if (!this.pool.running()) return;
    const job = this.pool.unseat(worker);
    if (job !== undefined) {
      // A stuck in-process handler may still be running: never run its job a second time.
      if (job.retriesLeft > 0 && (reason === 'crashed' || worker.runner.isolated)) {
        job.retriesLeft--;
        job.attempt++;
        worker.queue.enqueue(job, 'front');
      } else {
        job.abort(error);
        this.pool.failJob(
          worker,
          job,
          reason === 'stuck'
            ? new WorkerStuckError(worker.id, silentMs)
            : new WorkerCrashedError(worker.id, error),
        );
      }
    }
    if (!this.budget.tryRestart()) {
      this.pool.fail(new RestartBudgetExhaustedError('worker pool', this.budget.restarts, error));
      return;
    }
    worker.replace();
    this.pool.emit('worker:replaced', { workerId: worker.id, reason, error });
    this.pool.next(worker);
  }

  #ping(worker: PoolWorker<J>, dms: Required<DeadManSwitch>): void {
    if (worker.pingTimer !== undefined || worker.phase === 'stuck' || !worker.runner.ready) return;
    const generation = worker.generation;
    const sentAt = this.clock.now();
    const timer = this.clock.setTimer(
      () => {
        if (worker.generation !== generation || worker.pingTimer !== timer) return;
        worker.pingTimer = undefined;
        const silentMs = this.clock.now() - sentAt;
        worker.lastPingMs = silentMs;
        worker.markStuck();
        this.pool.emit('worker:stuck', { workerId: worker.id, silentMs });
        if (dms.kill) {
          this.replace(
            worker,
            new Error(`no answer to a ping for ${dms.timeoutMs} ms`),
            'stuck',
            silentMs,
          );
        }
      },
      dms.timeoutMs,
      { keepAlive: false },
    );
    worker.pingTimer = timer;
    // A ping never rejects (both runners answer or stay silent), so there is nothing to catch.
    void worker.runner.ping().then(() => {
      if (worker.generation !== generation || worker.pingTimer !== timer) return;
      timer.cancel();
      worker.pingTimer = undefined;
      worker.lastPingMs = this.clock.now() - sentAt;
    });
  }
}
