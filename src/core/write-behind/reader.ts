/**
 * Reader: the loop that takes entries from the source and routes them to the lanes, within
 * the pipeline's memory bounds.
 *
 * It takes at most `maxBacklog` unfinished entries, and sizes each take to the payload bytes
 * left under `maxBacklogBytes`, judging by the largest entry of the last take (at first by
 * `maxEntryBytes`, so a first take of large entries cannot fetch more than fits). When
 * either bound is reached it waits for entries to finish. Every entry it routes is begun in
 * the Watermark first, in position order.
 */
import type { JournalEntry } from '../../journal/journal.js';
import type { Watermark } from '../watermark.js';
import type { Lanes } from './lanes.js';
import type { EntrySource } from './source.js';

export interface ReaderOptions {
  readonly maxBacklog: number;
  readonly maxBacklogBytes: number;
  readonly maxEntryBytes: number;
}

export interface ReaderHooks {
  /** Whether to keep reading (false once the pipeline closes or fails). */
  running(): boolean;
  /** Resolves when an entry finishes (or the pipeline stops). */
  finishedOne(): Promise<void>;
  /** The reader took `entry` (its position may be past what this process wrote). */
  taken(entry: JournalEntry): void;
}

export class Reader {
  /** Payload bytes of the entries taken and not yet finished. */
  #heldBytes = 0;
  #entryBytesEstimate: number;

  constructor(
    private readonly source: EntrySource,
    private readonly lanes: Lanes,
    private readonly watermark: Watermark,
    private readonly o: ReaderOptions,
    private readonly hooks: ReaderHooks,
  ) {
    this.#entryBytesEstimate = o.maxEntryBytes;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Counts what a take returned as held, and routes it. */
  #hold(entries: readonly JournalEntry[]): void {
    let largest = 1;
    let taken = 0;
    for (const entry of entries) {
      taken += entry.bytes;
      if (entry.bytes > largest) largest = entry.bytes;
    }
    // Their bytes move from the source's count to ours in one step.
    this.#heldBytes += taken;
    this.source.took(taken);
    for (const entry of entries) {
      this.watermark.begin(entry.position);
      this.hooks.taken(entry);
      this.lanes.route(entry);
    }
    if (entries.length > 0) this.#entryBytesEstimate = largest;
  }

  /** An entry the reader routed is finished: its bytes are free again. */
  finished(entry: JournalEntry): void {
    this.#heldBytes -= entry.bytes;
  }

  /** Reads until `signal` aborts or `running()` says stop; rejects with what it cannot pass. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.hooks.running()) {
      const room = this.o.maxBacklog - this.watermark.pending;
      const bytesRoom = this.o.maxBacklogBytes - this.#heldBytes;
      if (room <= 0 || bytesRoom <= 0) {
        await this.hooks.finishedOne();
        continue;
      }
      const fit = Math.max(1, Math.floor(bytesRoom / this.#entryBytesEstimate));
      // Handed on without a local: a suspended async function keeps its locals, and this
      // one would hold the batch it took last (finished long ago) until the next read.
      this.#hold(await this.source.take(Math.min(room, 1000, fit), bytesRoom, signal));
    }
  }
}
