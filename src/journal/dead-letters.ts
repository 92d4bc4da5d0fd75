/**
 * Dead letters: entries that could not be written, kept with why, instead of dropped.
 *
 * A store keeps each letter with the error and the attempts made, in the order they
 * failed (ids increase). `replayDeadLetters` puts letters back into a journal, so the
 * pipeline tries them again, and removes them from the store; `remove` purges them.
 *
 * A replayed letter is the same entry again, not a new one: it keeps its key, its sink id
 * (`origin`) and its version, so replay into an insert table is idempotent and into a
 * version-guarded upsert table cannot put an older value over a newer one. It is appended
 * with the journal idempotency id `dead-letter:<id>:<failedAt>`: if replay is interrupted
 * after the append and before the removal, replaying again appends nothing new.
 */
import { InputError } from '../errors.js';
import type { Payload } from './codec.js';
import type { Journal } from './journal.js';
import { rejecting } from './validate.js';

/** A letter as `DeadLetterStore.add()` takes it: a failed entry and why it failed. */
export interface DeadLetterInput {
  /** Journal position the entry had. */
  readonly position: number;
  /** The entry's id (its idempotency key at the sink). */
  readonly entryId: string;
  /** The entry's key. */
  readonly key: string;
  /** The entry's payload (as stored, when it could not be decoded). */
  readonly payload: Payload;
  /** The entry's version (a replay keeps it). */
  readonly version: number;
  /** What the last attempt failed with. */
  readonly error: string;
  /** Attempts at the sink write that refused it; 0 if it never reached the sink. */
  readonly attempts: number;
}

/** A kept letter, as a DeadLetterStore lists it. */
export interface DeadLetter extends DeadLetterInput {
  /** Store id: increases in the order letters were added. */
  readonly id: number;
  /** When it was added, in ms since the epoch. */
  readonly failedAt: number;
}

/**
 * The seam for keeping dead letters: MemoryDeadLetters is the reference, each journal
 * backend brings its own (`Journal.deadLetters()`), and `deadLetterConformance` in
 * `sluice/testing` checks them.
 */
export interface DeadLetterStore {
  /**
   * Keeps the letters; returns their ids. A letter for an entry id and position the store
   * already holds is not kept twice: its existing id is returned (a run that handles an
   * entry again after a restart does not letter it twice; a replayed entry has a new
   * position, so it can be lettered again).
   */
  add(letters: readonly DeadLetterInput[]): Promise<number[]>;
  /** Letters with id > `after`, oldest first, at most `limit` (default 100). */
  list(options?: { after?: number; limit?: number }): Promise<DeadLetter[]>;
  /** The letters with these ids that exist, in id order. */
  get(ids: readonly number[]): Promise<DeadLetter[]>;
  /** Removes these ids; returns the letters removed. */
  remove(ids: readonly number[]): Promise<DeadLetter[]>;
  /** How many letters the store holds. */
  count(): Promise<number>;
}

/** Checks the ids a caller named. */
export function checkIds(ids: unknown): readonly number[] {
  if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id) && (id as number) > 0)) {
    throw new InputError('dead letter ids must be an array of positive integers');
  }
  return ids as number[];
}

/** Appends the named letters to `journal` again and removes them from `store`. */
export async function replayDeadLetters(
  store: DeadLetterStore,
  journal: Pick<Journal, 'append'>,
  ids: readonly number[],
): Promise<{
  /** Letters replayed: those of `ids` the store held. */
  replayed: number;
  /** Their positions in the journal, in id order. */
  positions: number[];
}> {
  const letters = await store.get(checkIds(ids));
  if (letters.length === 0) return { replayed: 0, positions: [] };
  const positions = await journal.append(
    letters.map((l) => ({
      key: l.key,
      id: `dead-letter:${l.id}:${l.failedAt}`,
      payload: l.payload,
      origin: l.entryId,
      version: l.version,
    })),
  );
  await store.remove(letters.map((l) => l.id));
  return { replayed: letters.length, positions };
}

/** The pipeline's dead letters: look at them, put them back in the journal, or purge them. */
export interface DeadLetters {
  /** Letters with id > `after`, oldest first, at most `limit` (default 100). */
  list(options?: { after?: number; limit?: number }): Promise<DeadLetter[]>;
  /** How many letters are kept. */
  count(): Promise<number>;
  /** Appends these letters to the journal again (the pipeline retries them) and removes them. */
  replay(ids: readonly number[]): Promise<{
    /** Letters replayed: those of `ids` that were kept. */
    replayed: number;
    /** Their positions in the journal, in id order. */
    positions: number[];
  }>;
  /** Removes these letters for good; returns how many were removed. */
  purge(ids: readonly number[]): Promise<number>;
}

/** A store seen as a pipeline's dead letters: replay appends to `journal` and removes. */
export function deadLetterView(
  store: DeadLetterStore,
  journal: Pick<Journal, 'append'>,
): DeadLetters {
  return {
    list: (options) => store.list(options),
    count: () => store.count(),
    replay: (ids) => replayDeadLetters(store, journal, ids),
    purge: async (ids) => (await store.remove(ids)).length,
  };
}

/**
 * Why the newest letter for the entry at `position` failed, or `undefined` when the store
 * holds none (a scan of the store, for backends without an index on positions).
 */
export async function letterError(
  store: DeadLetterStore,
  position: number,
): Promise<string | undefined> {
  let error: string | undefined;
  for (let after = 0; ;) {
    const page = await store.list({ after, limit: 1000 });
    // Oldest first: the last match is the newest.
    for (const l of page) if (l.position === position) error = l.error;
    if (page.length < 1000) return error;
    after = (page[page.length - 1] as DeadLetter).id;
  }
}

/** MemoryDeadLetters: the store's reference semantics, in memory. */
export class MemoryDeadLetters implements DeadLetterStore {
  readonly #letters = new Map<number, DeadLetter>();
  /** Letter id by `position:entryId`: one letter per entry and position. */
  readonly #byEntry = new Map<string, number>();
  #nextId = 1;

  add(letters: readonly DeadLetterInput[]): Promise<number[]> {
    const now = Date.now();
    return Promise.resolve(
      letters.map((l) => {
        const entry = `${l.position}:${l.entryId}`;
        const kept = this.#byEntry.get(entry);
        if (kept !== undefined) return kept;
        const id = this.#nextId++;
        this.#byEntry.set(entry, id);
        this.#letters.set(id, { ...l, id, failedAt: now });
        return id;
      }),
    );
  }

  list(options: { after?: number; limit?: number } = {}): Promise<DeadLetter[]> {
    const after = options.after ?? 0;
    const limit = options.limit ?? 100;
    return Promise.resolve([...this.#letters.values()].filter((l) => l.id > after).slice(0, limit));
  }

  get(ids: readonly number[]): Promise<DeadLetter[]> {
    return rejecting(() => {
      const wanted = new Set(checkIds(ids));
      return Promise.resolve([...this.#letters.values()].filter((l) => wanted.has(l.id)));
    });
  }

  async remove(ids: readonly number[]): Promise<DeadLetter[]> {
    const removed = await this.get(ids);
    for (const l of removed) {
      this.#letters.delete(l.id);
      this.#byEntry.delete(`${l.position}:${l.entryId}`);
    }
    return removed;
  }

  count(): Promise<number> {
    return Promise.resolve(this.#letters.size);
  }
}
