/**
 * JournalSource: the durable side of the pipeline. Writes go into the journal; a Cursor
 * reads from the consumer's checkpoint; the checkpoint moves to the watermark and handled
 * entries are trimmed behind it, in bounded steps.
 *
 * The tail from memory: a journal that hands over what this process appends
 * (`Journal.onAppended`) lets the reader take those entries without reading them back.
 * They are the same entries a read returns (decoded from what was stored), taken only where
 * they continue the cursor exactly; anything else (a restart's backlog, another process's
 * appends, a tail dropped because it outgrew the room the backlog bound leaves) is read from
 * the journal, which stays the only source of truth: a crash loses nothing the tail held.
 *
 * A failed read is tried again with backoff (a disk that errs for a moment), READ_ATTEMPTS
 * times in a row; then, or when the journal is closed under the pipeline, `take` rejects
 * with a typed error and the pipeline stops.
 */
import { ClosedError, JournalReadError } from '../../errors.js';
import { messageOf } from '../../errors.js';
import { Cursor } from '../../journal/cursor.js';
import { MemoryDeadLetters, type DeadLetterStore } from '../../journal/dead-letters.js';
import type {
  AppendOptions,
  ConsumerHold,
  Journal,
  JournalEntry,
  JournalRecord,
  JournalStats,
} from '../../journal/journal.js';
import { sleep, type Clock } from '../clock.js';
import { Deque } from '../deque.js';
import { computeDelay, retry, type RetryPolicy } from '../retry.js';
import type { EntrySource, Prepared } from './source.js';

/** Retries of one journal read before the pipeline stops (with backoff between them). */
const READ_ATTEMPTS = 8;
/** Entries deleted from the journal per trim: at least, and at most. */
const TRIM_MIN = 1_000;
const TRIM_MAX = 10_000;
const NOTHING_HELD: Prepared = { bytes: 0 };

export interface JournalSourceOptions {
  readonly consumer: string;
  readonly retain: number;
  readonly retry: RetryPolicy;
  readonly clock: Clock;
  /** A read failed and is tried again after `delayMs`. */
  readonly onReadFailed: (attempt: number, delayMs: number, error: unknown) => void;
  /** Payload bytes the in-memory tail may hold now; past it, the tail is dropped. */
  readonly tailRoom: () => number;
}

export class JournalSource implements EntrySource {
  readonly journal: Journal;
  readonly heldBytes = 0;
  readonly #options: JournalSourceOptions;
  readonly #readRetry: RetryPolicy;
  readonly #cursor: Cursor;
  readonly #hold: ConsumerHold;
  /** Lowest position the journal may still hold: where the next trim starts. */
  #retainedFrom: number;
  /** No trim before the mark reaches this: set when another consumer held the last one back. */
  #nextTrimAt = 0;
  /** What this process appended and the reader has not taken: consecutive positions. */
  readonly #tail = new Deque<JournalEntry>();
  #tailBytes = 0;
  readonly #stopTail: (() => void) | undefined;
  /** The last take came from the tail. */
  #tailed = false;

  private constructor(
    journal: Journal,
    hold: ConsumerHold,
    committed: number,
    first: number,
    options: JournalSourceOptions,
  ) {
    this.journal = journal;
    this.#hold = hold;
    this.#options = options;
    this.#readRetry = { ...options.retry, maxAttempts: READ_ATTEMPTS };
    this.#cursor = new Cursor(journal, { position: committed });
    this.committed = committed;
    this.#retainedFrom = first;
    this.#stopTail = journal.onAppended?.((entries) => this.#keep(entries));
  }

  /** Takes the consumer (JournalLockedError while another pipeline holds it). */
  static async open(journal: Journal, options: JournalSourceOptions): Promise<JournalSource> {
    const hold = await journal.acquire(options.consumer);
    try {
      const committed = await journal.committed(options.consumer);
      const { first } = await journal.stats();
      return new JournalSource(journal, hold, committed, first, options);
    } catch (error) {
      await hold.release();
      throw error;
    }
  }

  get id(): string {
    return this.journal.id;
  }

  readonly committed: number;

  /** A journal holds nothing in memory: the journal itself checks what it stores. */
  prepare(): Prepared {
    return NOTHING_HELD;
  }

  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    // Not an async function, and the refusal typed by the pipeline: no promise of its own.
    try {
      return this.journal.append(records, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Payload bytes the tail holds now. */
  get tailBytes(): number {
    return this.#tailBytes;
  }

  async take(limit: number, maxBytes: number, signal: AbortSignal): Promise<JournalEntry[]> {
    // After a take from the tail, the journal has more only if its head is past the cursor,
    // which the wait below sees at once: no read just to find nothing.
    let read = !this.#tailed;
    while (!signal.aborted) {
      const fromMemory = this.#fromTail(limit, maxBytes);
      this.#tailed = fromMemory.length > 0;
      if (this.#tailed) return fromMemory;
      if (read) {
        // What is read back and the tail share the backlog's byte bound. A tail that takes
        // more than half the room would squeeze every read until they reach it: it is
        // dropped (the journal has it).
        if (this.#tailBytes > maxBytes / 2) this.#dropTail();
        const entries = await this.#read(limit, Math.max(1, maxBytes - this.#tailBytes), signal);
        if (entries.length > 0) return entries;
      }
      read = true;
      try {
        await this.#cursor.waitForMore({ signal });
      } catch (error) {
        if (signal.aborted) break;
        // The read that follows meets the same trouble and handles it; this only paces it.
        const delayMs = computeDelay(1, this.#options.retry);
        this.#options.onReadFailed(1, delayMs, error);
        await sleep(this.#options.clock, delayMs, signal).catch(() => {
          // Aborted: closing, which the loop checks next.
        });
      }
    }
    return [];
  }

  /** Nothing to hand over: a journal holds no payload in memory for the reader. */
  took(): void {}

  /** Keeps entries this process appended, while they continue the tail. */
  #keep(entries: readonly JournalEntry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const last = this.#tail.peekLast();
    // Not the next ones (another process appended between): the reader reads the gap, and
    // what was kept before it, from the journal.
    if (last !== undefined && first.position !== last.position + 1) this.#dropTail();
    let bytes = 0;
    for (const e of entries) bytes += e.bytes;
    if (this.#tailBytes + bytes > this.#options.tailRoom()) {
      this.#dropTail();
      return;
    }
    for (const e of entries) this.#tail.push(e);
    this.#tailBytes += bytes;
  }

  #dropTail(): void {
    this.#tail.drain();
    this.#tailBytes = 0;
  }

  /**
   * The next entries from the tail, if it continues the cursor exactly (within `limit` and,
   * past the first, `maxBytes`); the cursor moves past them as if it had read them.
   */
  #fromTail(limit: number, maxBytes: number): JournalEntry[] {
    const at = this.#cursor.position;
    // Entries a read from the journal already returned.
    for (let e = this.#tail.peek(); e !== undefined && e.position <= at; e = this.#tail.peek()) {
      this.#tail.shift();
      this.#tailBytes -= e.bytes;
    }
    if (this.#tail.peek()?.position !== at + 1) return [];
    const out: JournalEntry[] = [];
    let bytes = 0;
    for (let e = this.#tail.peek(); e !== undefined && out.length < limit; e = this.#tail.peek()) {
      if (out.length > 0 && bytes + e.bytes > maxBytes) break;
      this.#tail.shift();
      bytes += e.bytes;
      out.push(e);
    }
    this.#tailBytes -= bytes;
    this.#cursor.restore((out[out.length - 1] as JournalEntry).position);
    return out;
  }

  /** One read through the cursor, tried again with backoff while it fails. */
  async #read(limit: number, maxBytes: number, signal: AbortSignal): Promise<JournalEntry[]> {
    let attempts = 0;
    try {
      return await retry(
        (attempt) => {
          attempts = attempt;
          return this.#cursor.pollBatch(limit, { maxBytes });
        },
        this.#readRetry,
        {
          signal,
          clock: this.#options.clock,
          isRetryable: (error) => !(error instanceof ClosedError),
          onRetry: (error, attempt, delayMs) => this.#options.onReadFailed(attempt, delayMs, error),
        },
      );
    } catch (error) {
      if (signal.aborted) return [];
      if (error instanceof ClosedError) {
        throw new ClosedError(
          'the journal was closed while the pipeline was open: close the pipeline first',
          { cause: error },
        );
      }
      throw new JournalReadError(
        `the journal could not be read past position ${this.#cursor.position} (${attempts} attempts): ${messageOf(error)}`,
        { cause: error instanceof JournalReadError ? error.cause : error },
      );
    }
  }

  commit(mark: number): Promise<void> {
    return this.journal.commit(this.#options.consumer, mark);
  }

  /**
   * Deletes handled entries older than the retention window, once at least TRIM_MIN of them
   * have piled up, at most TRIM_MAX at a time (a bounded pause).
   */
  async trim(mark: number): Promise<void> {
    const before = mark + 1 - this.#options.retain;
    if (mark < this.#nextTrimAt || before - this.#retainedFrom < TRIM_MIN) return;
    const target = Math.min(before, this.#retainedFrom + TRIM_MAX);
    const { firstRetained } = await this.journal.truncate(target);
    this.#retainedFrom = firstRetained;
    // Held back (another consumer's checkpoint): try again TRIM_MIN entries later, not on
    // every batch.
    if (firstRetained < target) this.#nextTrimAt = mark + TRIM_MIN;
  }

  async head(): Promise<number> {
    return (await this.journal.stats()).head;
  }

  stats(): Promise<JournalStats> {
    return this.journal.stats();
  }

  deadLetters(): DeadLetterStore {
    return this.journal.deadLetters?.() ?? new MemoryDeadLetters();
  }

  release(): Promise<void> {
    this.#stopTail?.();
    this.#dropTail();
    return this.#hold.release();
  }
}
