/**
 * Where the pipeline's entries come from: the seam between `write()` and the lanes.
 *
 * - {@link JournalSource} (durable): `append` writes the journal; `take` reads it with a
 *   Cursor from the checkpoint; `commit` moves the checkpoint and trims behind it.
 * - {@link MemorySource} (`journal: 'memory'`): `append` puts entries in a bounded Channel;
 *   `take` receives from it; nothing survives the process.
 *
 * Either way positions increase in the order entries are taken, so the Watermark can tell
 * how far everything has finished.
 */
import { JournalWriteError, SluiceError } from '../../errors.js';
import type { DeadLetterStore } from '../../journal/dead-letters.js';
import type {
  AppendOptions,
  Journal,
  JournalEntry,
  JournalRecord,
  JournalStats,
} from '../../journal/journal.js';
import { JournalSource, type JournalSourceOptions } from './journal-source.js';
import { MemorySource } from './memory-source.js';
import type { ResolvedOptions } from './options.js';

/** The journal's source, holding its consumer, or a memory source for `journal: 'memory'`. */
export async function openSource(
  o: ResolvedOptions<unknown>,
  hooks: Pick<JournalSourceOptions, 'onReadFailed' | 'tailRoom'>,
): Promise<EntrySource> {
  if (o.journal === 'memory') {
    return new MemorySource({ capacity: o.maxBacklog, consumer: o.consumer });
  }
  return JournalSource.open(o.journal, { ...o, ...hooks });
}

export interface EntrySource {
  /** The checkpoint it resumed from (0 in memory mode). */
  readonly committed: number;
  /** The journal behind it; `undefined` in memory mode. */
  readonly journal: Journal | undefined;
  /** Part of the sink id of id-less entries (`<id>:<version>`): unique per journal. */
  readonly id: string;
  /** Payload bytes accepted and not yet taken (memory mode holds them; a journal does not). */
  readonly heldBytes: number;
  /**
   * Checks and measures records before they are let in: the payload bytes the source will
   * hold in memory for them (memory mode; 0 for a journal, which holds nothing), and what
   * `append` then takes without checking again. Throws what `append` would (EncodeError...).
   */
  prepare(records: readonly JournalRecord[], options?: AppendOptions): Prepared;
  /**
   * Stores the records, in order; resolves with their positions once stored, or rejects
   * with what the store refused them with (the pipeline types it: `rethrowRefused`). What
   * the source holds of them in memory is in `heldBytes` as soon as the call returns.
   */
  append(
    records: readonly JournalRecord[],
    options?: AppendOptions,
    prepared?: Prepared,
  ): Promise<number[]>;
  /**
   * The next entries: at least one, at most `limit`, and past the first at most `maxBytes`
   * of payload. Waits for one; resolves `[]` once `signal` aborts.
   */
  take(limit: number, maxBytes: number, signal: AbortSignal): Promise<JournalEntry[]>;
  /**
   * The reader now holds `bytes` of what `take` returned (counted in the same step): the
   * source stops counting them. Until then they stay in `heldBytes`, so no bound check in
   * between sees them nowhere.
   */
  took(bytes: number): void;
  /** Everything at or below `mark` is in the sink or the dead letters: the checkpoint. */
  commit(mark: number): Promise<void>;
  /** After a commit: let go of handled entries behind `mark` (a journal deletes some). */
  trim(mark: number): Promise<void>;
  /** The newest position stored (by anyone). */
  head(): Promise<number>;
  stats(): Promise<JournalStats>;
  /** Where failing entries go unless the options name a store. */
  deadLetters(): DeadLetterStore;
  /** Lets the consumer go (the source is not used after this). */
  release(): Promise<void>;
}

/** Records checked and measured by `EntrySource.prepare`. */
export interface Prepared {
  /** Payload bytes the source will hold for them in memory. */
  readonly bytes: number;
  /** Each record's payload size, where the source keeps that work (memory mode). */
  readonly sizes?: readonly number[];
}

/** Throws a source's refusal as the pipeline reports it: a SluiceError, or a JournalWriteError. */
export function rethrowRefused(error: unknown): never {
  if (error instanceof SluiceError) throw error;
  throw new JournalWriteError(`the journal refused the write: ${String(error)}`, {
    cause: error,
  });
}
