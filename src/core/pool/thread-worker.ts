/**
 * ThreadRunner: one pool worker in a real `worker_threads` Worker.
 *
 * It runs one job at a time (the pool never sends a second before the first settles),
 * answers pings from the thread's own event loop (so a handler stuck in a busy loop cannot
 * answer), and reports the thread's death: an uncaught error at top level or
 * `process.exit()` in the thread ends the run in progress with a crash the pool handles.
 * Unlike an in-process handler it can be stopped: `terminate()` ends the thread, and with it
 * a job stuck in a busy loop.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { ThreadExitError } from '../../errors.js';
import type { PoolJob } from './job.js';
import type { Runner, RunnerFactory } from './worker.js';

export type ToThread =
  | { type: 'job'; id: number; key: string; attempt: number; msg: unknown }
  | { type: 'ping'; id: number };

export type FromThread =
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: unknown }
  | { type: 'pong'; id: number }
  | { type: 'ready' };

/**
 * How a WorkerPool runs each worker in a `worker_threads` thread: the thread loads `module`
 * and runs its handler there. Unlike an in-process handler, a stuck thread can be stopped.
 */
export interface ThreadOptions {
  /** Module (path or URL) exporting the handler as `handler` or default. */
  module: string | URL;
  /** Passed to the handler as `ctx.workerData`. Must be cloneable. */
  workerData?: unknown;
}

/** The error a run gets when its thread dies: thrown at top level, or exited. */
function threadExit(exitCode: number | undefined, cause: unknown): ThreadExitError {
  return new ThreadExitError(
    exitCode,
    cause instanceof Error
      ? `thread threw at top level: ${cause.message}`
      : `thread exited with code ${exitCode}`,
    { cause },
  );
}

const compiled = new URL('./thread-entry.js', import.meta.url);
/**
 * What a new thread runs. Built, that is thread-entry.js. Run from TypeScript source (tests,
 * benchmarks through tsx), the thread first registers tsx, since loader hooks of the parent
 * do not reach worker threads.
 */
const bootstrap: { script: string | URL; eval: boolean } = existsSync(fileURLToPath(compiled))
  ? { script: compiled, eval: false }
  : {
      script: `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(
        new URL('./thread-entry.ts', import.meta.url).href,
      )}); });`,
      eval: true,
    };

function moduleUrl(module: string | URL): string {
  if (module instanceof URL) return module.href;
  return module.startsWith('file:') ? module : new URL(module, `file://${process.cwd()}/`).href;
}

export class ThreadRunner implements Runner {
  readonly isolated = true;
  readonly #worker: Worker;
  #nextId = 0;
  #run: { id: number; resolve: (v: unknown) => void; reject: (e: unknown) => void } | undefined;
  readonly #pings = new Map<number, () => void>();
  #exited = false;
  #ready = false;
  #terminating = false;
  #topLevelError: unknown;

  constructor(
    workerId: number,
    options: ThreadOptions,
    /** Called once if the thread dies without being terminated by us. */
    private readonly onDeath: (error: ThreadExitError) => void,
  ) {
    this.#worker = new Worker(bootstrap.script, {
      eval: bootstrap.eval,
      workerData: { module: moduleUrl(options.module), data: options.workerData, workerId },
    });
    this.#worker.on('message', (m: FromThread) => this.#receive(m));
    this.#worker.on('error', (error) => {
      this.#topLevelError = error;
    });
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      if (this.#terminating) return;
      const death = threadExit(code, this.#topLevelError);
      const run = this.#run;
      this.#run = undefined;
      run?.reject(death);
      this.onDeath(death);
    });
  }

  run(job: PoolJob): Promise<unknown> {
    if (this.#exited) return Promise.reject(threadExit(undefined, this.#topLevelError));
    const id = ++this.#nextId;
    const { skey: key, attempt, msg } = job;
    return new Promise((resolve, reject) => {
      this.#run = { id, resolve, reject };
      this.#worker.postMessage({ type: 'job', id, key, attempt, msg } satisfies ToThread);
    });
  }

  /** Resolves when the thread answers. */
  ping(): Promise<void> {
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      this.#pings.set(id, resolve);
      this.#worker.postMessage({ type: 'ping', id } satisfies ToThread);
    });
  }

  async terminate(): Promise<void> {
    this.#terminating = true;
    if (!this.#exited) await this.#worker.terminate();
  }

  /** Whether the thread has loaded the handler module (pings before that would be unfair). */
  get ready(): boolean {
    return this.#ready;
  }

  #receive(m: FromThread): void {
    if (m.type === 'ready') {
      this.#ready = true;
      return;
    }
    if (m.type === 'pong') {
      this.#pings.get(m.id)?.();
      this.#pings.delete(m.id);
      return;
    }
    const run = this.#run;
    if (run === undefined || run.id !== m.id) return;
    this.#run = undefined;
    if (m.ok) run.resolve(m.value);
    else run.reject(m.error);
  }
}

/** Runners for a pool with `threads`: each worker in a thread of its own. */
export function threadRunners(options: ThreadOptions): RunnerFactory {
  return (workerId, onDeath) => new ThreadRunner(workerId, options, onDeath);
}
