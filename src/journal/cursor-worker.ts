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
 * Lifecycle (the glossary's table, index.ts): `close({ deadlineMs })` is idempotent and stops
 * reading at once (an idle worker stops waiting; a batch read but not yet handed over is not
 * handed over). A batch already in the handler may finish and is committed, within the
 * deadline. At the deadline the handler's `signal` aborts with a TimeoutError and the worker
 * stops waiting for it: whatever it later returns or throws is ignored and its batch is not
 * committed, so it is delivered again to the consumer's next worker (a handler that ignores
 * its signal may still be running then: at least once, not exactly once). Then the consumer
 * hold is released and `close` resolves `{ drained }`. The deadline bounds the wait for the
 * handler only: a journal call in progress (a read, a commit) is let finish, as a commit cut
 * short could land after the hold is released, and so is an `onPoison` call in progress.
 * How the worker ended is `join()`'s to tell.
 *
 * States: running → closing (`close()`) → stopped; running → stopped (the handler returned
 * `'stop'`); running or closing → failed (budget spent, or the journal failed; `join()`
 * rejects). An idle worker parks on `waitForAppend` instead of polling. A worker holds its
 * consumer (`journal.acquire`) while it runs: a second worker or pipeline on the same
 * consumer fails with JournalLockedError (from `join()`), as two would commit one checkpoint
 * back and forth.
 *
 * ```ts
 * const worker = CursorWorker.start(journal, { consumer: 'mailer', batchSize: 100 }, async (batch, { signal }) => {
 *   await sendAll(batch, { signal });
 * });
 * // ...
 * await worker.close({ deadlineMs: 5_000 });
 * ```
 */
import { RestartBudgetExhaustedError, TimeoutError } from '../errors.js';
import { onAbort } from '../core/callbacks.js';
import { sleep, type Clock } from '../core/clock.js';
import { resolveCloseOptions, type CloseOptions } from '../core/close-options.js';
import { withinDeadline } from '../core/deadline.js';
import { functionOption } from '../core/options.js';
import { RestartBudget } from '../core/restart-budget.js';
import { Cursor } from './cursor.js';
import {
  resolveCursorWorkerOptions,
  type CursorWorkerOptions,
  type ResolvedCursorWorkerOptions,
} from './cursor-worker-options.js';
import type { Journal, JournalEntry } from './journal.js';

export type { CursorWorkerOptions, PoisonOptions } from './cursor-worker-options.js';

/** What the handler asks for next; nothing means `'continue'`. */
export type CursorAction = 'continue' | 'stop' | void;

/** What the handler is told about the call it serves. */
export interface CursorHandlerContext {
  /** Aborted when a `close` deadline passes while this batch is in the handler. */
  readonly signal: AbortSignal;
}

/**
 * Handles one batch, in journal order. The checkpoint moves past the batch only once it
 * returns; a throw restarts the loop under the restart policy (or counts toward `poison`).
 */
export type CursorHandler = (
  batch: JournalEntry[],
  context: CursorHandlerContext,
) => CursorAction | Promise<CursorAction>;

/**
 * `running` → `closing` (`close()`) → `stopped`; `running` → `stopped` (the handler
 * returned `'stop'`); `running` or `closing` → `failed` (restart budget spent, or the
 * journal failed; `join()` rejects).
 */
export type CursorWorkerState = 'running' | 'closing' | 'stopped' | 'failed';

const nextStates: Record<CursorWorkerState, readonly CursorWorkerState[]> = {
  running: ['closing', 'stopped', 'failed'],
  closing: ['stopped', 'failed'],
  stopped: [],
  failed: [],
};

/** What `CursorWorker.close()` resolves with. */
export interface CursorWorkerCloseResult {
  /** Whether the batch in the handler (if any) finished and was committed in time. */
  drained: boolean;
}

/** The loop stopped waiting for a handler at a close deadline. */
const abandoned = Symbol('abandoned');

/**
 * A supervised loop that hands a consumer's entries to a handler, batch by batch, and
 * commits the checkpoint after each batch handled: at-least-once delivery, resumed from the
 * checkpoint after a crash. A handler that throws restarts the loop under the restart
 * policy; once it is spent the worker stops and `join()` rejects with
 * {@link RestartBudgetExhaustedError}. It holds its consumer while it runs: a second worker
 * on it fails with JournalLockedError.
 *
 * ```ts
 * const worker = CursorWorker.start(journal, { consumer: 'mailer' }, async (batch, { signal }) => {
 *   await sendAll(batch, { signal });
 * });
 * await worker.close({ deadlineMs: 5_000 });
 * ```
 */
export class CursorWorker implements AsyncDisposable {
  /** The consumer whose checkpoint it moves. */
  readonly consumer: string;
  readonly #journal: Journal;
  readonly #handler: CursorHandler;
  readonly #options: ResolvedCursorWorkerOptions;
  readonly #budget: RestartBudget;
  readonly #clock: Clock;
  /** Aborted by `close()`: no more reading. */
  readonly #stop = new AbortController();
  /** Aborted at a close deadline: the handler's signal; the loop stops waiting for it. */
  readonly #abandon = new AbortController();
  readonly #context: CursorHandlerContext = { signal: this.#abandon.signal };
  readonly #done: Promise<void>;
  #state: CursorWorkerState = 'running';
  #closing: Promise<CursorWorkerCloseResult> | undefined = undefined;
  #position = 0;
  #error: unknown;

  private constructor(journal: Journal, options: CursorWorkerOptions, handler: CursorHandler) {
    const o = resolveCursorWorkerOptions(options);
    this.#options = o;
    this.consumer = o.consumer;
    this.#journal = journal;
    this.#handler = functionOption<CursorHandler>('handler', handler);
    this.#clock = o.clock;
    this.#budget = new RestartBudget(o.restart, o.clock);
    this.#done = this.#run().then(
      () => this.#setState('stopped'),
      (error: unknown) => {
        this.#error = error;
        this.#setState('failed');
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

  /** Where the worker is in its lifecycle. */
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

  /**
   * Stops reading at once, lets the batch in the handler finish within `deadlineMs`, then
   * releases the consumer (see the module doc). Idempotent: later calls return the first
   * call's result. Resolves whether the worker ended by itself or failed meanwhile; `join()`
   * says which.
   */
  close(options?: CloseOptions): Promise<CursorWorkerCloseResult> {
    if (this.#closing !== undefined) return this.#closing;
    const { deadlineMs } = resolveCloseOptions('CursorWorker.close() options', options);
    if (this.#state === 'running') this.#setState('closing');
    this.#stop.abort();
    this.#closing = this.#finishClose(deadlineMs);
    return this.#closing;
  }

  /** `close()` with no deadline, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Resolves when the worker has stopped; rejects with what made it fail. */
  async join(): Promise<void> {
    await this.#done;
    if (this.#state === 'failed') throw this.#error;
  }

  #setState(next: CursorWorkerState): void {
    if (!nextStates[this.#state].includes(next)) {
      throw new Error(`CursorWorker cannot go from '${this.#state}' to '${next}'`);
    }
    this.#state = next;
  }

  async #finishClose(deadlineMs: number): Promise<CursorWorkerCloseResult> {
    // #done never rejects (the loop's failure is kept for join()).
    const drained = await withinDeadline(this.#done, deadlineMs, this.#clock);
    if (!drained) {
      this.#abandon.abort(
        new TimeoutError(
          `close deadline of ${deadlineMs} ms passed while cursor worker '${this.consumer}' was handling a batch; the batch was not committed`,
        ),
      );
      await this.#done;
    }
    return { drained };
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
    const { region, batchSize, poison, onRestart } = this.#options;
    const cursor = new Cursor(journal, region === undefined ? {} : { region });
    cursor.restore(await journal.committed(this.consumer));
    let failedFirst = -1;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      const batch = await cursor.pollBatch(batchSize);
      this.#position = cursor.position;
      // Closed during the read: the batch is not handed over (nor committed).
      if (this.#stop.signal.aborted) return;
      if (batch.length === 0) {
        await this.#idle(cursor.position);
        continue;
      }
      const first = (batch[0] as JournalEntry).position;
      let action: CursorAction | typeof abandoned;
      try {
        action = await this.#handle(batch);
      } catch (error) {
        if (this.#abandon.signal.aborted) return;
        failures = failedFirst === first ? failures + 1 : 1;
        failedFirst = first;
        if (poison !== undefined && failures >= poison.maxDeliveries) {
          await poison.onPoison(batch, error);
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
        onRestart?.(error, this.#budget.restarts);
        cursor.restore(await journal.committed(this.consumer));
        continue;
      }
      if (action === abandoned) return;
      await journal.commit(this.consumer, cursor.position);
      failedFirst = -1;
      if (action === 'stop') return;
    }
  }

  /**
   * The handler's outcome, or `abandoned` once a close deadline passes first. Past the
   * deadline the handler's outcome no longer matters (its batch is not committed and is
   * delivered again); the race keeps a late rejection from going unhandled.
   */
  async #handle(batch: JournalEntry[]): Promise<CursorAction | typeof abandoned> {
    let handled: Promise<CursorAction>;
    try {
      handled = Promise.resolve(this.#handler(batch, this.#context));
    } catch (error) {
      handled = Promise.reject(error);
    }
    let stopListening: (() => void) | undefined;
    const gaveUp = new Promise<typeof abandoned>((resolve) => {
      if (this.#abandon.signal.aborted) resolve(abandoned);
      else stopListening = onAbort(this.#abandon.signal, () => resolve(abandoned));
    });
    try {
      return await Promise.race([handled, gaveUp]);
    } finally {
      stopListening?.();
    }
  }

  /** Parks until something is appended after `position`, `idleMs` passes, or close. */
  async #idle(position: number): Promise<void> {
    const wait = new AbortController();
    const stopListening = onAbort(this.#stop.signal, () => wait.abort());
    try {
      await Promise.race([
        this.#journal.waitForAppend(position, { signal: wait.signal }),
        sleep(this.#clock, this.#options.idleMs, wait.signal),
      ]);
    } catch (error) {
      if (!wait.signal.aborted) throw error;
    } finally {
      wait.abort();
      stopListening();
    }
  }
}
