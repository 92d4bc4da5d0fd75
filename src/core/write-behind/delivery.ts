/**
 * Delivery: one lane's batch into the sink, whatever the sink does.
 *
 * - A batch is cut into sink writes of at most `batchMaxBytes` (one entry at least), and,
 *   with `coalesce`, keeps only the newest version of each key.
 * - An outage (`sink.classify(error) === 'unavailable'`) retries the write as it is, with
 *   backoff, for as long as it takes: `sink:unavailable` once, then `sink:available`.
 * - An error that blames entries (`'rejected'`, `'unknown'`) splits the write in halves until
 *   the failing entries are found; the others land, each failing one is dead-lettered with
 *   its error and attempt count. When every entry of a write then fails alone with one and
 *   the same `'unknown'` error, that was the sink failing: an outage again.
 * - An entry the journal could not decode never reaches the sink: it is dead-lettered as
 *   it is stored.
 * - The dead-letter store is retried for as long as it fails; only closing (the signal)
 *   gives up, and then the entries stay in the journal.
 */
import { DeadLetteredError, messageOf } from '../../errors.js';
import type { DeadLetterStore } from '../../journal/dead-letters.js';
import type { JournalEntry } from '../../journal/journal.js';
import type { Sink, SinkEntry, SinkFailure, SinkWriteResult } from '../../sink/sink.js';
import { sleep, type Clock } from '../clock.js';
import { computeDelay, retry, type RetryPolicy } from '../retry.js';
import type { WriteBehindEvents } from './types.js';

export interface DeliveryOptions<V> {
  readonly sink: Sink<V>;
  readonly store: DeadLetterStore;
  readonly clock: Clock;
  readonly retry: RetryPolicy;
  readonly coalesce: boolean;
  readonly batchMaxBytes: number;
  /** Aborted when the pipeline closes: a write in progress gives up, its entries stay. */
  readonly signal: AbortSignal;
  /** The entry's id at the sink. */
  readonly sinkId: (entry: JournalEntry) => string;
  readonly emit: <E extends keyof WriteBehindEvents>(
    event: E,
    payload: WriteBehindEvents[E],
  ) => void;
}

/** What one batch came to: how many went to the sink, and the entries dead-lettered. */
export interface Delivered {
  /** Entries after coalescing: what the sink was asked to take. */
  readonly size: number;
  readonly deadLettered: ReadonlyMap<number, DeadLetteredError>;
}

export class Delivery<V> {
  persisted = 0;
  superseded = 0;
  duplicates = 0;
  retried = 0;
  deadLettered = 0;
  outages = 0;
  /** When the current outage began; undefined while the sink takes writes. */
  unavailableSince: number | undefined;
  readonly #o: DeliveryOptions<V>;

  constructor(options: DeliveryOptions<V>) {
    this.#o = options;
  }

  async deliver(entries: readonly JournalEntry[]): Promise<Delivered> {
    const batch = this.#o.coalesce ? newestByKey(entries) : entries;
    const readable = batch.some((e) => e.undecodable !== undefined)
      ? batch.filter((e) => e.undecodable === undefined)
      : batch;
    const refused: Refusal[] = [];
    for (const part of byBytes(readable, this.#o.batchMaxBytes)) {
      refused.push(...(await this.#write(part)));
    }
    for (const e of batch) {
      if (e.undecodable !== undefined) {
        refused.push({ entry: e, error: undecodable(e), kind: 'rejected', attempts: 0 });
      }
    }
    const deadLettered = refused.length === 0 ? NONE : await this.#deadLetter(refused);
    return { size: batch.length, deadLettered };
  }

  /** Writes all but the entries the sink refuses alone, which it returns. */
  async #write(batch: readonly JournalEntry[]): Promise<Refusal[]> {
    if (batch.length === 0) return [];
    for (let attempt = 1; ; attempt++) {
      const refused = await this.#split(batch);
      const first = refused[0];
      const alike =
        batch.length > 1 &&
        first !== undefined &&
        refused.length === batch.length &&
        refused.every((r) => r.kind === 'unknown' && messageOf(r.error) === messageOf(first.error));
      if (!alike) return refused;
      await this.#unavailable(first.error, attempt);
    }
  }

  /** Bisection: writes what it can of `batch`; returns the entries refused alone. */
  async #split(batch: readonly JournalEntry[]): Promise<Refusal[]> {
    const failure = await this.#attempt(batch);
    if (failure === undefined) return [];
    if (batch.length === 1) return [{ entry: batch[0] as JournalEntry, ...failure }];
    const half = Math.ceil(batch.length / 2);
    return [
      ...(await this.#split(batch.slice(0, half))),
      ...(await this.#split(batch.slice(half))),
    ];
  }

  /** One write as it is, retried while the sink is unavailable; the failure that blames it. */
  async #attempt(batch: readonly JournalEntry[]): Promise<Omit<Refusal, 'entry'> | undefined> {
    const signal = this.#o.signal;
    for (let attempt = 1; ; attempt++) {
      // Closing: no new sink write starts (the lanes may still hand over a batch); its
      // entries stay in the journal.
      signal.throwIfAborted();
      let result: SinkWriteResult | void;
      try {
        result = await this.#o.sink.writeBatch(batch.map(this.#toSinkEntry), { signal, attempt });
      } catch (error) {
        if (signal.aborted) throw error; // closing: the batch stays in the journal
        const kind = this.#classify(error);
        if (kind !== 'unavailable') return { error, kind, attempts: attempt };
        await this.#unavailable(error, attempt);
        continue;
      }
      this.persisted += batch.length;
      // What the sink reports besides "written"; a sink in plain JavaScript may resolve to
      // null or anything else that reports nothing: the batch is in the sink all the same.
      if (typeof result === 'object' && result !== null) {
        this.superseded += result.superseded ?? 0;
        this.duplicates += result.duplicates ?? 0;
      }
      if (this.unavailableSince !== undefined) {
        const downMs = this.#o.clock.now() - this.unavailableSince;
        this.unavailableSince = undefined;
        this.#o.emit('sink:available', { downMs });
      }
      return undefined;
    }
  }

  /** The sink cannot take writes now: note the outage, then wait the backoff. */
  async #unavailable(error: unknown, attempt: number): Promise<void> {
    if (this.unavailableSince === undefined) {
      this.unavailableSince = this.#o.clock.now();
      this.outages++;
      this.#o.emit('sink:unavailable', { error });
    }
    const delayMs = computeDelay(attempt, this.#o.retry);
    this.retried++;
    this.#o.emit('sink:retry', { attempt, delayMs, error });
    await sleep(this.#o.clock, delayMs, this.#o.signal);
  }

  #classify(error: unknown): SinkFailure {
    try {
      const kind = this.#o.sink.classify(error);
      return kind === 'unavailable' || kind === 'rejected' ? kind : 'unknown';
    } catch {
      return 'unknown'; // a classifier that throws (or is missing) knows nothing of this error
    }
  }

  async #deadLetter(refused: readonly Refusal[]): Promise<Map<number, DeadLetteredError>> {
    const letters = refused.map(({ entry, error, attempts }) => ({
      position: entry.position,
      entryId: this.#o.sinkId(entry),
      key: entry.key,
      payload: entry.undecodable?.stored ?? entry.payload,
      version: entry.version,
      error: messageOf(error),
      attempts,
    }));
    // Halted (closing, or failed): the entries stay in the journal and are judged again by
    // the next run, rather than lettered now and re-delivered after a checkpoint that no
    // longer moves.
    this.#o.signal.throwIfAborted();
    await retry(() => this.#o.store.add(letters), this.#o.retry, {
      signal: this.#o.signal,
      clock: this.#o.clock,
      onRetry: (error, attempt, delayMs) =>
        this.#o.emit('deadLetters:retry', { attempt, delayMs, error }),
    });
    const out = new Map<number, DeadLetteredError>();
    for (const { entry, error } of refused) {
      this.deadLettered++;
      out.set(entry.position, new DeadLetteredError(entry.position, entry.key, error));
      this.#o.emit('entry:deadLettered', {
        position: entry.position,
        key: entry.key,
        error: messageOf(error),
      });
    }
    return out;
  }

  readonly #toSinkEntry = (entry: JournalEntry): SinkEntry<V> => ({
    id: this.#o.sinkId(entry),
    key: entry.key,
    value: entry.payload as V,
    version: entry.version,
  });
}

/** An entry the sink refused on its own, and why. */
interface Refusal {
  readonly entry: JournalEntry;
  readonly error: unknown;
  readonly kind: SinkFailure;
  readonly attempts: number;
}

const NONE: ReadonlyMap<number, DeadLetteredError> = new Map();

/** The newest version of each key (a replayed entry may be older than one after it). */
function newestByKey(entries: readonly JournalEntry[]): JournalEntry[] {
  const last = new Map<string, JournalEntry>();
  for (const e of entries) {
    const kept = last.get(e.key);
    if (kept === undefined || kept.version <= e.version) last.set(e.key, e);
  }
  return entries.filter((e) => last.get(e.key) === e);
}

/** Cuts a batch, in order, into sink writes of at most `maxBytes` each. */
function byBytes(batch: readonly JournalEntry[], maxBytes: number): (readonly JournalEntry[])[] {
  let total = 0;
  for (const e of batch) total += e.bytes;
  if (total <= maxBytes) return [batch];
  const parts: JournalEntry[][] = [];
  let part: JournalEntry[] = [];
  let bytes = 0;
  for (const e of batch) {
    if (part.length > 0 && bytes + e.bytes > maxBytes) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    part.push(e);
    bytes += e.bytes;
  }
  parts.push(part);
  return parts;
}

function undecodable(entry: JournalEntry): Error {
  return new Error(
    `the journal could not decode entry ${entry.position}: ${entry.undecodable?.error ?? ''}`,
  );
}
