/**
 * MarkWaiters: callers waiting for the watermark to pass a position (`writeAndWait`,
 * `flush`, `close`, the reader when memory is full), and the dead-letter errors of finished
 * positions the mark has not passed yet.
 *
 * Every waiter settles exactly once: when the mark reaches its position (rejecting with
 * DeadLetteredError if that entry was dead-lettered and the caller wants the sink only),
 * when the pipeline closes first (ClosedError, or at once for `anyOutcome` waiters), or when
 * it fails (the failure).
 */
import { ClosedError, type DeadLetteredError, type SluiceError } from '../../errors.js';

interface Waiter {
  readonly position: number;
  readonly anyOutcome: boolean;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class MarkWaiters {
  #waiters: Waiter[] = [];
  /** Dead-lettered positions the mark has not passed yet. */
  readonly #deadLettered = new Map<number, DeadLetteredError>();

  /** Resolves when `position` is finished; see the module doc for how else it settles. */
  when(position: number, mark: number, closed: boolean, anyOutcome: boolean): Promise<void> {
    if (closed && mark < position) {
      // Closed: nothing more will finish, and nobody is left to wake a waiter.
      return anyOutcome ? Promise.resolve() : Promise.reject(closedBeforeSink());
    }
    if (mark >= position) {
      const failure = anyOutcome ? undefined : this.#deadLettered.get(position);
      return failure === undefined ? Promise.resolve() : Promise.reject(failure);
    }
    return new Promise((resolve, reject) =>
      this.#waiters.push({ position, anyOutcome, resolve, reject }),
    );
  }

  /** The entry at `position` went to the dead letters with `error`. */
  deadLettered(position: number, error: DeadLetteredError): void {
    this.#deadLettered.set(position, error);
  }

  /** The mark moved to `mark`: settles every waiter at or below it. */
  reached(mark: number): void {
    if (this.#waiters.length > 0) {
      this.#waiters = this.#waiters.filter((w) => {
        if (w.position > mark) return true;
        const failure = w.anyOutcome ? undefined : this.#deadLettered.get(w.position);
        if (failure === undefined) w.resolve();
        else w.reject(failure);
        return false;
      });
    }
    if (this.#deadLettered.size > 0) {
      for (const [position] of this.#deadLettered) {
        if (position <= mark) this.#deadLettered.delete(position);
      }
    }
  }

  /** The pipeline closed: nothing more will finish. */
  closeAll(): void {
    for (const w of this.#waiters.splice(0)) {
      if (w.anyOutcome) w.resolve();
      else w.reject(closedBeforeSink());
    }
  }

  /** The pipeline stopped on `failure`. */
  failAll(failure: SluiceError): void {
    for (const w of this.#waiters.splice(0)) w.reject(failure);
  }
}

function closedBeforeSink(): ClosedError {
  return new ClosedError(
    'write-behind closed before this entry reached the sink; it stays in the journal',
  );
}
