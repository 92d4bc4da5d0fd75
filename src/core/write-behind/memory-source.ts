/**
 * MemorySource: the pipeline without a journal (`journal: 'memory'`). Entries wait in a
 * bounded {@link Channel} between `write()` and the lanes: no file, no decoding, and
 * everything not yet in the sink is LOST if the process dies.
 *
 * What the sink receives is the caller's own value (checked at `write`, and measured as the
 * length of its JSON text without making it; not copied): do not change a value after
 * writing it. An id deduplicates at least until its entry and every one before it are finished
 * (the watermark passed it), and usually longer: ids are dropped a generation at a time, once
 * the entries written up to about a backlog later are finished too (and not while nothing
 * more finishes). Versions grow as in a journal (`max(previous + 1, now_ms × 1000)`).
 * Dead letters are kept in memory unless the options name a store.
 */
import { randomBytes } from 'node:crypto';
import { ClosedError } from '../../errors.js';
import { MemoryDeadLetters, type DeadLetterStore } from '../../journal/dead-letters.js';
import type {
  AppendOptions,
  JournalEntry,
  JournalRecord,
  JournalStats,
} from '../../journal/journal.js';
import { measureRecords } from '../../journal/validate.js';
import { Channel } from '../channel.js';
import type { EntrySource, Prepared } from './source.js';

export class MemorySource implements EntrySource {
  readonly journal = undefined;
  readonly committed = 0;
  readonly id = randomBytes(8).toString('hex');
  readonly #channel: Channel<JournalEntry>;
  readonly #consumer: string;
  readonly #deadLetters: MemoryDeadLetters = new MemoryDeadLetters();
  #head = 0;
  #version = 0;
  #mark = 0;
  /** Set once the pipeline let go: nothing is accepted (nobody would read it). */
  #released = false;
  /** Bytes accepted and not yet held by the reader (in the channel, or on their way out). */
  #queuedBytes = 0;
  /**
   * Ids of entries to deduplicate, with their positions (not the entries: a finished entry's
   * value must not outlive it here), in two generations: `#ids` takes new ids; `#oldIds` is
   * dropped whole once the watermark reaches `#oldLast` (the head when it became the old
   * generation, at or past every position in it), and `#ids` becomes the old generation. No
   * id is deleted one by one: a Map that churns through deletes keeps rehashing, and with a
   * backlog of 200,000 each delete is a cache miss.
   */
  #ids = new Map<string, number>();
  #oldIds = new Map<string, number>();
  #oldLast = 0;

  constructor(options: { capacity: number; consumer: string }) {
    this.#channel = new Channel<JournalEntry>({ capacity: options.capacity });
    this.#consumer = options.consumer;
  }

  get heldBytes(): number {
    return this.#queuedBytes;
  }

  /** Checked and measured as a journal would store them: the same errors, the same sizes. */
  prepare(records: readonly JournalRecord[], options?: AppendOptions): Prepared {
    const sizes = measureRecords(records, options);
    let bytes = 0;
    for (const size of sizes) bytes += size;
    return { bytes, sizes };
  }

  async append(
    records: readonly JournalRecord[],
    options?: AppendOptions,
    prepared?: Prepared,
  ): Promise<number[]> {
    if (this.#released) {
      throw new ClosedError(
        'write-behind is closed: a memory-mode pipeline takes nothing after close',
      );
    }
    const sizes = prepared?.sizes ?? measureRecords(records, options);
    // Wall time, as a journal's: versions must order writes across restarts, not ticks.
    const now = Date.now();
    // Sent in position order, in this synchronous step: the channel keeps that order. The
    // channel has room for what admission let in; a send that must wait (and every one
    // after it, to keep the order) is awaited.
    let sends: Promise<boolean>[] | undefined;
    const positions = new Array<number>(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as JournalRecord;
      const known =
        r.id === undefined ? undefined : (this.#ids.get(r.id) ?? this.#oldIds.get(r.id));
      if (known !== undefined) {
        positions[i] = known;
        continue;
      }
      const position = ++this.#head;
      const version = r.version ?? (this.#version = Math.max(this.#version + 1, now * 1000));
      const bytes = sizes[i] as number;
      this.#queuedBytes += bytes;
      const entry: JournalEntry = {
        position,
        key: r.key,
        type: r.type,
        id: r.id,
        payload: r.payload,
        appendedAt: now,
        bytes,
        version,
        origin: r.origin,
      };
      if (r.id !== undefined) this.#ids.set(r.id, position);
      positions[i] = position;
      if (sends === undefined && this.#channel.trySend(entry)) continue;
      (sends ??= []).push(this.#channel.send(entry));
    }
    if (sends !== undefined) await Promise.all(sends);
    return positions;
  }

  async take(limit: number, _maxBytes: number, signal: AbortSignal): Promise<JournalEntry[]> {
    let entries: JournalEntry[];
    try {
      entries = await this.#channel.receiveBatch(limit, 0, { signal });
    } catch (error) {
      if (signal.aborted) return [];
      throw error;
    }
    return entries; // still counted here until the reader says it holds them (`took`)
  }

  took(bytes: number): void {
    this.#queuedBytes -= bytes;
  }

  commit(mark: number): Promise<void> {
    this.#mark = mark;
    if (mark >= this.#oldLast && (this.#oldIds.size > 0 || this.#ids.size > 0)) {
      // Every old id is finished: the old generation goes, and the current one (every
      // position in it at or below the head) takes its place.
      this.#oldIds = this.#ids;
      this.#oldLast = this.#head;
      this.#ids = new Map();
    }
    return Promise.resolve();
  }

  trim(): Promise<void> {
    return Promise.resolve(); // nothing is kept behind the mark
  }

  head(): Promise<number> {
    return Promise.resolve(this.#head);
  }

  stats(): Promise<JournalStats> {
    const pending = this.#head - this.#mark;
    return Promise.resolve({
      head: this.#head,
      first: this.#mark + 1,
      entries: pending,
      bytes: this.#queuedBytes,
      consumers: [{ consumer: this.#consumer, position: this.#mark, lag: pending }],
    });
  }

  deadLetters(): DeadLetterStore {
    return this.#deadLetters;
  }

  async release(): Promise<void> {
    this.#released = true;
    // What is still queued is lost, as memory mode says; nobody waits on it any more.
    await this.#channel.close({ deadlineMs: 0 });
  }
}
