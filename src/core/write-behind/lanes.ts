/**
 * Lanes: where the pipeline's parallelism lives. Each lane is one Batcher whose flushes run
 * one at a time, so a lane makes at most one sink write at a time; an entry goes to the lane
 * its key hashes to (`hashKey(key) % lanes`, the keyed routing of the worker pool), so one
 * key's entries meet one Batcher, in the order they were routed.
 *
 * The lanes are fixed for the pipeline's life: a key never moves, which is what keeps
 * per-key order without a per-key ledger.
 */
import type { JournalEntry } from '../../journal/journal.js';
import { Batcher } from '../batcher.js';
import type { Clock } from '../clock.js';
import { hashKey } from '../pool/routing.js';
import type { Delivered } from './delivery.js';
import type { LaneStats } from './types.js';

export interface LanesOptions {
  readonly count: number;
  readonly maxSize: number;
  readonly maxDelayMs: number;
  /** Entries a lane holds at most (the pipeline's backlog bound keeps it below). */
  readonly maxPending: number;
  readonly clock: Clock;
  /** Writes one lane's batch. */
  readonly deliver: (laneId: number, entries: JournalEntry[]) => Promise<Delivered>;
  /** A routed entry's flush failed in a way the pipeline did not handle. */
  readonly onLost: (error: unknown) => void;
}

interface Lane {
  readonly id: number;
  readonly batcher: Batcher<JournalEntry, void>;
  busy: boolean;
  processed: number;
  failed: number;
  queued: number;
}

export class Lanes {
  readonly #lanes: Lane[];
  readonly #onLost: (error: unknown) => void;
  readonly #deliver: LanesOptions['deliver'];

  constructor(o: LanesOptions) {
    this.#onLost = o.onLost;
    this.#deliver = o.deliver;
    this.#lanes = Array.from({ length: o.count }, (_, id) => ({
      id,
      batcher: new Batcher<JournalEntry, void>({
        maxSize: o.maxSize,
        maxDelayMs: o.maxDelayMs,
        maxPending: Math.max(o.maxSize, o.maxPending),
        clock: o.clock,
        flush: (entries) => this.#flush(this.#lanes[id] as Lane, entries),
      }),
      busy: false,
      processed: 0,
      failed: 0,
      queued: 0,
    }));
  }

  /** Hands the entry to its key's lane. */
  route(entry: JournalEntry): void {
    const lane = this.#lanes[hashKey(entry.key) % this.#lanes.length] as Lane;
    lane.queued++;
    lane.batcher.enqueue(entry, this.#onLost);
  }

  /** Sends what every lane buffers now; resolves once those batches are done. */
  async flush(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.batcher.flush()));
  }

  /** Stops the lanes at once: a batch in flight is abandoned (its entries stay unfinished). */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.batcher.close({ deadlineMs: 0 })));
  }

  /** `outage`: the sink is unavailable, so a busy lane is waiting rather than writing. */
  stats(outage: boolean): LaneStats[] {
    return this.#lanes.map((l) => ({
      id: l.id,
      state: !l.busy ? 'idle' : outage ? 'waiting' : 'writing',
      processed: l.processed,
      failed: l.failed,
      queued: l.queued,
    }));
  }

  async #flush(lane: Lane, entries: JournalEntry[]): Promise<void> {
    lane.busy = true;
    try {
      const { size, deadLettered } = await this.#deliver(lane.id, entries);
      lane.queued -= entries.length;
      lane.failed += deadLettered.size;
      lane.processed += size - deadLettered.size;
    } finally {
      lane.busy = false;
    }
  }
}
