/**
 * FlushRunner: runs one dispatched batch for the Batcher — the user's `flush` under the
 * optional retry policy — and turns its outcome into one outcome per caller; at a close
 * deadline it gives up on a flush still in flight.
 *
 * Outcomes (the one shape of the Batcher's module doc):
 * - `flush` resolves to nothing → every caller resolves `undefined`;
 * - to an array with one result per item → each caller gets its slot; an `Error` in a slot
 *   rejects only that caller;
 * - to an array of the wrong length → every caller rejects with a `TypeError` stating the
 *   contract;
 * - throws (after retries) → every caller rejects with {@link BatchError} (`cause` kept);
 * - abandoned at a deadline → every caller rejects with {@link TimeoutError} (outcome
 *   unknown) and the flush's signal aborts.
 *
 * Guarantee: each caller settles exactly once. Whichever outcome comes first marks the chunk
 * settled; a later one (a hung flush returning after it was abandoned) changes nothing.
 */
import { BatchError, TimeoutError } from '../errors.js';
import type { BatchChunk } from './batch-chunk.js';
import type { FlushContext, FlushResult, ResolvedBatcherOptions } from './batcher-options.js';
import { retry } from './retry.js';

/** The signal is created only if the flush reads it: most never do, and it is not free. */
class Context implements FlushContext {
  constructor(
    readonly batch: { readonly signal: AbortSignal },
    readonly attempt: number,
  ) {}

  get signal(): AbortSignal {
    return this.batch.signal;
  }
}

export class FlushRunner<I, O> {
  /** Flushes started (retries of one batch not counted). */
  batches = 0;
  /** Callers resolved with a flush result. */
  flushed = 0;
  /** Callers rejected because of their flush (thrown, wrong length, slot error). */
  failed = 0;
  /** Flush retries. */
  retries = 0;

  readonly #options: ResolvedBatcherOptions<I, O>;
  /** Called once per chunk when its flush has returned (after its callers settled). */
  readonly #onDone: (chunk: BatchChunk<I, O>) => void;

  constructor(options: ResolvedBatcherOptions<I, O>, onDone: (chunk: BatchChunk<I, O>) => void) {
    this.#options = options;
    this.#onDone = onDone;
  }

  /** Flushes a dispatched chunk and settles its callers; never rejects. */
  async run(chunk: BatchChunk<I, O>): Promise<void> {
    this.batches++;
    const { flush, retry: policy, isRetryable, clock } = this.#options;
    const items = chunk.items;
    let attempt = 1;
    try {
      let result: FlushResult<O>;
      if (policy === undefined) {
        result = await flush(items, new Context(chunk, 1));
      } else {
        result = await retry(
          (n) => {
            attempt = n;
            return flush(items, new Context(chunk, n));
          },
          policy,
          {
            signal: chunk.signal,
            clock,
            onRetry: () => this.retries++,
            ...(isRetryable === undefined ? {} : { isRetryable }),
          },
        );
      }
      this.#settle(chunk, result);
    } catch (error) {
      this.#fail(chunk, new BatchError(error, chunk.resolves.length, attempt));
    } finally {
      this.#onDone(chunk);
    }
  }

  /**
   * Gives up on an in-flight chunk at a close deadline: its callers reject with
   * TimeoutError (outcome unknown) and its flush's signal aborts. Returns how many callers
   * that rejected (0 if the chunk had already settled).
   */
  abandon(chunk: BatchChunk<I, O>, deadlineMs: number): number {
    if (chunk.settled) return 0;
    chunk.settled = true;
    const error = new TimeoutError(
      `close deadline of ${deadlineMs} ms passed while this item's flush was in flight; its outcome is unknown`,
    );
    (chunk.controller ??= new AbortController()).abort(error);
    for (const reject of chunk.rejects) reject(error);
    return chunk.rejects.length;
  }

  #settle(chunk: BatchChunk<I, O>, result: FlushResult<O>): void {
    if (chunk.settled) return;
    const { resolves, rejects } = chunk;
    const n = resolves.length;
    if (result === undefined) {
      chunk.settled = true;
      for (let i = 0; i < n; i++) (resolves[i] as (value: O) => void)(undefined as O);
      this.flushed += n;
      return;
    }
    if (!Array.isArray(result) || result.length !== n) {
      const got = Array.isArray(result) ? `${result.length} results` : typeof result;
      this.#fail(
        chunk,
        new TypeError(
          `Batcher flush must return nothing or an array with one result per item, in order: got ${got} for ${n} items`,
        ),
      );
      return;
    }
    chunk.settled = true;
    for (let i = 0; i < n; i++) {
      const value = result[i] as O | Error;
      if (value instanceof Error) {
        this.failed++;
        (rejects[i] as (error: unknown) => void)(value);
      } else {
        this.flushed++;
        (resolves[i] as (value: O) => void)(value);
      }
    }
  }

  #fail(chunk: BatchChunk<I, O>, error: unknown): void {
    if (chunk.settled) return;
    chunk.settled = true;
    this.failed += chunk.rejects.length;
    for (const reject of chunk.rejects) reject(error);
  }
}
