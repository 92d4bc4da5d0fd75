/**
 * Cursor: reads a journal by pull, from a position, through a region.
 *
 * It cannot miss an entry: it reads the journal itself, not a notification stream, and its
 * position only moves past entries it has returned. Position 0 is "before everything", so
 * the first entry (position 1) is delivered. A cursor keeps no checkpoint of its own; a
 * consumer commits `position` to the journal when it has handled what it read (the
 * {@link CursorWorker} does this).
 *
 * ```ts
 * const cursor = new Cursor(journal, { region: { keyPrefix: 'acct-' } });
 * cursor.restore(await journal.committed('mailer'));
 * for (const entry of await cursor.pollBatch(100)) handle(entry);
 * await journal.commit('mailer', cursor.position);
 * ```
 */
import type { Journal, JournalEntry, Region } from './journal.js';
import { knownOptions } from '../core/options.js';
import { checkRegion } from './region.js';
import { checkLimit, checkPosition } from './validate.js';

/** Options of `new Cursor()`; a misspelled name is a ConfigError. */
export interface CursorOptions {
  /** Which entries to read. @default everything */
  region?: Region;
  /** Read entries after this position. @default 0 */
  position?: number;
}

/**
 * Reads a journal by pull, from a position, through a region. It cannot miss an entry: it
 * reads the journal itself, and its position moves only past entries it has returned. It
 * keeps no checkpoint: commit `position` to the journal once what was read is handled (the
 * CursorWorker does).
 *
 * ```ts
 * const cursor = new Cursor(journal, { region: { keyPrefix: 'acct-' } });
 * cursor.restore(await journal.committed('mailer'));
 * for (const entry of await cursor.pollBatch(100)) handle(entry);
 * await journal.commit('mailer', cursor.position);
 * ```
 */
export class Cursor {
  /** Which entries it reads; `undefined`: every entry. */
  readonly region: Region | undefined;
  #position: number;

  constructor(
    private readonly journal: Journal,
    options: CursorOptions = {},
  ) {
    const o = knownOptions('Cursor options', options, ['region', 'position']);
    this.region = checkRegion(o.region as Region | undefined);
    this.#position = checkPosition('position', o.position ?? 0);
  }

  /** Position of the last entry returned (or restored to); the next read starts after it. */
  get position(): number {
    return this.#position;
  }

  /** Moves the cursor: the next read returns entries after `position`. */
  restore(position: number): void {
    this.#position = checkPosition('position', position);
  }

  /** The next entry in the region, or `undefined` if there is none yet. */
  async poll(): Promise<JournalEntry | undefined> {
    const [entry] = await this.pollBatch(1);
    return entry;
  }

  /**
   * Up to `max` next entries in the region, in order; `[]` if there are none yet. With
   * `maxBytes`, the read stops once the payloads reach it (the first entry comes whatever
   * its size).
   */
  async pollBatch(max: number, options: { maxBytes?: number } = {}): Promise<JournalEntry[]> {
    const limit = checkLimit(max);
    const entries = await this.journal.read(this.#position, {
      limit,
      ...(this.region === undefined ? {} : { region: this.region }),
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
    });
    const last = entries[entries.length - 1];
    if (last !== undefined) this.#position = last.position;
    return entries;
  }

  /** Resolves once the journal holds something past this cursor (at once if it does now). */
  waitForMore(options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.journal.waitForAppend(this.#position, options);
  }
}
