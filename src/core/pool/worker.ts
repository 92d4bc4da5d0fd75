/**
 * PoolWorker: one serial worker of the pool, with its own queue and its runner.
 *
 * A worker runs one job at a time on its {@link Runner} (a function in this thread, or a
 * thread of its own). It is built with its runner in one step, and `replace()` swaps in a
 * fresh runner under the same id, keeping its queue (supervision). Its `generation` changes
 * on every replacement and abandonment, so the settling of a run it gave up on is ignored.
 *
 * States (asserted):
 *
 * ```
 *   idle ──▶ busy ──▶ idle             busy ──▶ busy   (the next job, straight away)
 *   idle | busy ──▶ stuck             (no answer to a ping in time)
 *   stuck ──▶ busy | idle             (the job ended after all, or a replacement took over)
 *   any ──▶ stopped                   (retired, closed or failed; final)
 * ```
 *
 * Whether a worker is retiring (taken out of rotation by `resize`, finishing its queue) is
 * the pool's to know: it is reported as `'retiring'` in {@link WorkerStats}.
 */
import type { Timer } from '../clock.js';
import type { PoolJob } from './job.js';
import { JobQueue, type QueueTally } from './job-queue.js';

/** A worker's state as reported by `stats()`. */
export type WorkerState = 'idle' | 'busy' | 'stuck' | 'retiring';

/** One worker in `PoolStats.workers`. */
export interface WorkerStats {
  /** Stable for the worker's life, kept when it is replaced. */
  id: number;
  /** What it is doing now. */
  state: WorkerState;
  /** Jobs it ran whose handler returned. */
  processed: number;
  /** Jobs that failed on it: the handler threw, or the worker crashed or got stuck under them. */
  failed: number;
  /** Jobs waiting in its own queue (not the shared one). */
  queued: number;
  /** Latency of the last answered ping, ms; undefined before the first. */
  lastPingMs: number | undefined;
  /** Times it was replaced after a crash or being stuck. */
  restarts: number;
}

/** What runs a worker's jobs, one at a time. */
export interface Runner {
  /** False while a thread is still loading its module: it is not pinged then. */
  readonly ready: boolean;
  /**
   * Whether `terminate()` really stops a job in progress (a thread). An in-process handler
   * goes on after it is abandoned, so its job is never run a second time alongside it.
   */
  readonly isolated: boolean;
  run(job: PoolJob): Promise<unknown>;
  /** Resolves when the runner answers: between jobs for in-process, at once for a thread. */
  ping(): Promise<void>;
  terminate(): Promise<void>;
}

/**
 * Makes a worker's runner. `onDeath` is for a runner that can die on its own (a thread that
 * exits): called once if it does.
 */
export type RunnerFactory = (workerId: number, onDeath: (error: Error) => void) => Runner;

type Phase = 'idle' | 'busy' | 'stuck' | 'stopped';

const transitions: Record<Phase, readonly Phase[]> = {
  idle: ['busy', 'stuck', 'stopped'],
  busy: ['busy', 'idle', 'stuck', 'stopped'],
  stuck: ['busy', 'idle', 'stopped'],
  stopped: [],
};

export class PoolWorker<J extends PoolJob = PoolJob> {
  #phase: Phase = 'idle';
  #runner: Runner;
  /** The job running now; set exactly while busy or stuck. */
  current: J | undefined = undefined;
  /** Its own queue: all its jobs in per-worker modes, sticky jobs in queueing modes. */
  readonly queue: JobQueue<J>;
  processed = 0;
  failed = 0;
  restarts = 0;
  /** Bumped on replacement and abandonment: a settling run of an older generation is ignored. */
  generation = 0;
  /** Supervision: the latency of the last answered ping, and the ping awaiting an answer. */
  lastPingMs: number | undefined = undefined;
  pingTimer: Timer | undefined = undefined;

  constructor(
    readonly id: number,
    levels: number,
    tally: QueueTally,
    private readonly makeRunner: RunnerFactory,
    /** Called when the runner dies on its own between jobs (a thread that exits). */
    private readonly onIdleDeath: (worker: PoolWorker<J>, error: Error) => void,
  ) {
    this.queue = new JobQueue<J>(levels, tally);
    this.#runner = this.#spawn();
  }

  get phase(): Phase {
    return this.#phase;
  }

  get runner(): Runner {
    return this.#runner;
  }

  /** Starts `job`; the returned promise settles with its run (a sync throw becomes a rejection). */
  begin(job: J): Promise<unknown> {
    this.#setPhase('busy');
    this.current = job;
    try {
      return this.#runner.run(job);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Whether a run that began under `generation` for `job` is still this worker's business. */
  isRunning(job: J, generation: number): boolean {
    return this.current === job && this.generation === generation;
  }

  /** Takes the running job off the worker (it ended, or is given up on). */
  takeCurrent(): J | undefined {
    const job = this.current;
    this.current = undefined;
    return job;
  }

  /** Nothing more to run for now. */
  rest(): void {
    if (this.#phase !== 'idle') this.#setPhase('idle');
  }

  markStuck(): void {
    this.#setPhase('stuck');
  }

  /** Forgets the running job's run: whatever it settles with is ignored from now on. */
  disregardRun(): void {
    this.generation++;
  }

  /** A fresh runner under the same id; the queue stays. The old runner is terminated. */
  replace(): void {
    void this.#runner.terminate();
    this.cancelPing();
    this.generation++;
    this.restarts++;
    this.#runner = this.#spawn();
  }

  cancelPing(): void {
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
  }

  /** Final: no more jobs; the runner is terminated. */
  async stop(): Promise<void> {
    if (this.#phase === 'stopped') return;
    this.#setPhase('stopped');
    this.cancelPing();
    await this.#runner.terminate();
  }

  #spawn(): Runner {
    const generation = this.generation;
    return this.makeRunner(this.id, (death) => {
      // A runner that dies between jobs is replaced too, so the queue keeps moving; one that
      // dies during a job ends that run with the error, and the pool handles it there.
      if (this.generation === generation && this.current === undefined) {
        this.onIdleDeath(this, death);
      }
    });
  }

  #setPhase(next: Phase): void {
    if (!transitions[this.#phase].includes(next)) {
      throw new Error(`pool worker ${this.id}: no transition from ${this.#phase} to ${next}`);
    }
    this.#phase = next;
  }
}
