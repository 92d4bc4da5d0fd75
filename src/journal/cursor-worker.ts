/**
 * CursorWorker: a supervised loop that hands a consumer's entries to a handler, batch by
 * batch, and commits the consumer's checkpoint after each batch it handled.
 *
 * Delivery is at least once: the checkpoint moves only after `handler(batch)` returns, so a
 * crash (of the handler or the process) delivers the batch again from the last committed
 * checkpoint. A handler that throws restarts the loop under the restart policy (`'never'`,
 * `'once'`, or `{ maxRestarts, withinMs }` over a rolling window); when the budget is spent
 * the worker stops and `join()` rejects with {@link RestartBudgetExhaustedError}: a failing
 * consumer is never reported as a clean stop.
 *
 * With `poison: { maxDeliveries, onPoison }`, a batch that failed `maxDeliveries` times in a
 * row is handed to `onPoison` and committed past, so one bad batch cannot stall the consumer.
 *
 * States: running → stopped (handler returned `'stop'`, or `stop()` was called: the current
 * batch finishes first) or failed (budget spent, or the journal failed; `join()` rejects).
 * An idle worker parks on `waitForAppend` instead of polling. A worker holds its consumer
 * (`journal.acquire`) while it runs: a second worker or pipeline on the same consumer fails
 * with JournalLockedError (from `join()`), as two would commit one checkpoint back and forth.
 *
 * ```ts
 * const worker = CursorWorker.start(journal, { consumer: 'mailer', batchSize: 100 }, async (batch) => {
 *   await sendAll(batch);
 * });
 * // ...
 * worker.stop();
 * await worker.join();
 * ```
 */
import { RestartBudgetExhaustedError } from '../errors.js';
import { onAbort } from '../core/callbacks.js';
import { sleep, systemClock, type Clock } from '../core/clock.js';
import { functionOption, integerOption, objectOption } from '../core/options.js';
import { RestartBudget, resolveRestartPolicy, type RestartPolicy } from '../core/restart-budget.js';
import { Cursor } from './cursor.js';
import type { Journal, JournalEntry, Region } from './journal.js';
import { checkConsumer } from './validate.js';

/** What the handler asks for next; nothing means `'continue'`. */
export type CursorAction = 'continue' | 'stop' | void;

export type CursorHandler = (batch: JournalEntry[]) => CursorAction | Promise<CursorAction>;

export interface PoisonOptions {
  /** Failed deliveries of the same batch before it is set aside. Integer >= 1. */
  maxDeliveries: number;
  /** Receives the batch and the last error; the checkpoint then moves past the batch. */
  onPoison: (batch: JournalEntry[], error: unknown) => void | Promise<void>;
}

export interface CursorWorkerOptions {
  /** Name under which the checkpoint is stored. */
  consumer: string;
  /** @default everything */
  region?: Region;
  /** Most entries per handler call. @default 64 */
  batchSize?: number;
  /** Longest an idle worker waits before looking again (appends wake it sooner). @default 1000 */
  idleMs?: number;
  /** @default 'once' */
  restart?: RestartPolicy;
  poison?: PoisonOptions;
  /** Called on each restart with the error that caused it. */
  onRestart?: (error: unknown, restarts: number) => void;
  /** @default systemClock */
  clock?: Clock;
}

export type CursorWorkerState = 'running' | 'stopped' | 'failed';

export class CursorWorker {
  readonly consumer: string;
  readonly #journal: Journal;
  readonly #handler: CursorHandler;
  readonly #region: Region | undefined;
  readonly #batchSize: number;
  readonly #idleMs: number;
  readonly #budget: RestartBudget;
  readonly #poison: PoisonOptions | undefined;
  readonly #onRestart: ((error: unknown, restarts: number) => void) | undefined;
  readonly #clock: Clock;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;
  #state: CursorWorkerState = 'running';
  #position = 0;
  #error: unknown;

  private constructor(journal: Journal, options: CursorWorkerOptions, handler: CursorHandler) {
    const o = objectOption('options', options);
    this.consumer = checkConsumer(o.consumer);
    this.#journal = journal;
    this.#handler = functionOption<CursorHandler>('handler', handler);
    this.#region = o.region as Region | undefined;
    this.#batchSize = integerOption('batchSize', o.batchSize, 64, 1);
    this.#idleMs = integerOption('idleMs', o.idleMs, 1000, 1);
    this.#clock = (o.clock as Clock | undefined) ?? systemClock;
    this.#budget = new RestartBudget(resolveRestartPolicy(o.restart ?? 'once'), this.#clock);
    if (o.poison !== undefined) {
      const p = objectOption('poison', o.poison);
      this.#poison = {
        maxDeliveries: integerOption('poison.maxDeliveries', p.maxDeliveries, undefined, 1),
        onPoison: functionOption<PoisonOptions['onPoison']>('poison.onPoison', p.onPoison),
      };
    }
    this.#onRestart =
      o.onRestart === undefined
        ? undefined
        : functionOption<(error: unknown, restarts: number) => void>('onRestart', o.onRestart);
    this.#done = this.#run().then(
      () => {
        this.#state = 'stopped';
      },
      (error: unknown) => {
        this.#state = 'failed';
        this.#error = error;
      },
    );
  }

  /** Starts a worker for `options.consumer`, resuming from its committed checkpoint. */
  static start(
    journal: Journal,
    options: CursorWorkerOptions,
    handler: CursorHandler,
  ): CursorWorker {
    return new CursorWorker(journal, options, handler);
  }

  get state(): CursorWorkerState {
    return this.#state;
  }

  /** Restarts taken so far. */
  get restarts(): number {
    return this.#budget.restarts;
  }

  /** Position of the last entry read (handled or in the handler now). */
  get position(): number {
    return this.#position;
  }

  /** Asks the worker to stop after the batch it is handling; idempotent. */
  stop(): void {
    this.#stop.abort();
  }

  /** Resolves when the worker has stopped; rejects with what made it fail. */
  async join(): Promise<void> {
    await this.#done;
    if (this.#state === 'failed') throw this.#error;
  }

  /** One worker per consumer: the consumer is held while the loop runs. */
  async #run(): Promise<void> {
    const hold = await this.#journal.acquire(this.consumer);
    try {
      await this.#loop();
    } finally {
      await hold.release();
    }
  }

  async #loop(): Promise<void> {
    const journal = this.#journal;
    const cursor = new Cursor(journal, this.#region === undefined ? {} : { region: this.#region });
    cursor.restore(await journal.committed(this.consumer));
    let failedFirst = -1;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      const batch = await cursor.pollBatch(this.#batchSize);
      this.#position = cursor.position;
      if (batch.length === 0) {
        await this.#idle(cursor.position);
        continue;
      }
      const first = (batch[0] as JournalEntry).position;
      let action: CursorAction;
      try {
        action = await this.#handler(batch);
      } catch (error) {
        failures = failedFirst === first ? failures + 1 : 1;
        failedFirst = first;
        if (this.#poison !== undefined && failures >= this.#poison.maxDeliveries) {
          await this.#poison.onPoison(batch, error);
          await journal.commit(this.consumer, cursor.position);
          failedFirst = -1;
          continue;
        }
        if (!this.#budget.tryRestart()) {
          throw new RestartBudgetExhaustedError(
            `cursor worker '${this.consumer}'`,
            this.#budget.restarts,
            error,
          );
        }
        this.#onRestart?.(error, this.#budget.restarts);
        cursor.restore(await journal.committed(this.consumer));
        continue;
      }
      await journal.commit(this.consumer, cursor.position);
      failedFirst = -1;
      if (action === 'stop') return;
    }
  }

  /** Parks until something is appended after `position`, `idleMs` passes, or stop. */
  async #idle(position: number): Promise<void> {
    const wait = new AbortController();
    const stopListening = onAbort(this.#stop.signal, () => wait.abort());
    try {
      await Promise.race([
        this.#journal.waitForAppend(position, { signal: wait.signal }),
        sleep(this.#clock, this.#idleMs, wait.signal),
      ]);
    } catch (error) {
      if (!wait.signal.aborted) throw error;
    } finally {
      wait.abort();
      stopListening();
    }
  }
}
