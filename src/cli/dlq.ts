/**
 * `sluice dlq list|replay|purge <journal>`: the entries the sink refused, kept with why. The
 * journal is a file, or a postgres:// cluster journal (whose letters every node shares).
 * Replay appends them to the journal again, so the pipeline retries them on its next run
 * (or at once, if one is running on that journal); purge removes them for good.
 */
import {
  replayDeadLetters,
  type DeadLetter,
  type DeadLetterStore,
} from '../journal/dead-letters.js';
import type { Journal } from '../journal/journal.js';
import { isPostgresUrl, openClusterJournal } from './cluster-journal.js';
import { UsageError, positiveInteger } from './fail.js';
import { count, table } from './format.js';
import { openJournalFile } from './journal-file.js';

/** What the dead-letter commands need of a journal: its store, and append for replay. */
type LetterJournal = Pick<Journal, 'append' | 'close'> & { deadLetters(): DeadLetterStore };

/** Where the journal is: a file, or a postgres:// cluster journal in `schema`. */
export interface DlqTarget {
  readonly journal: string;
  readonly schema: string;
}

async function withJournal(
  target: DlqTarget,
  action: (j: LetterJournal) => Promise<number>,
): Promise<number> {
  const journal: LetterJournal = isPostgresUrl(target.journal)
    ? (await openClusterJournal(target.journal, target.schema, 'sluice dlq')).journal
    : await openJournalFile(target.journal);
  try {
    return await action(journal);
  } finally {
    await journal.close();
  }
}

export function dlqList(
  path: DlqTarget,
  options: { limit: number; after: number; json: boolean },
): Promise<number> {
  return withJournal(path, async (journal) => {
    const store = journal.deadLetters();
    const letters = await store.list({ after: options.after, limit: options.limit });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
      return 0;
    }
    const total = await store.count();
    if (letters.length === 0) {
      process.stdout.write(
        total === 0 ? 'no dead letters\n' : `no dead letters after id ${options.after}\n`,
      );
      return 0;
    }
    for (const l of letters) {
      process.stdout.write(
        `#${l.id}\n` +
          table([
            ['key', l.key],
            ['entry', `${l.entryId} (position ${count(l.position)})`],
            [
              'failed',
              `${new Date(l.failedAt).toISOString()} after ${l.attempts} attempt${l.attempts === 1 ? '' : 's'}`,
            ],
            ['error', l.error],
            ['payload', preview(l.payload)],
          ]) +
          '\n',
      );
    }
    const last = letters.at(-1) as DeadLetter;
    const more = total - letters.length;
    process.stdout.write(
      `\n${count(letters.length)} of ${count(total)} dead letter${total === 1 ? '' : 's'}` +
        (more > 0 ? `; next page: --after ${last.id}` : '') +
        '\n',
    );
    return 0;
  });
}

function preview(payload: unknown): string {
  const text =
    payload instanceof Uint8Array ? `<${payload.length} bytes>` : JSON.stringify(payload);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The ids named on the command line, or every id in the store with --all. */
async function chosenIds(
  journal: LetterJournal,
  ids: readonly string[],
  all: boolean,
  verb: string,
): Promise<number[]> {
  if (all && ids.length > 0) throw new UsageError(`${verb}: give ids or --all, not both`);
  if (!all) {
    if (ids.length === 0) throw new UsageError(`${verb}: name the dead letter ids, or use --all`);
    return ids.map((id) => positiveInteger('a dead letter id', id));
  }
  const store = journal.deadLetters();
  const every: number[] = [];
  for (let after = 0; ;) {
    const page = await store.list({ after, limit: 1000 });
    if (page.length === 0) return every;
    for (const l of page) every.push(l.id);
    after = (page.at(-1) as DeadLetter).id;
  }
}

export function dlqReplay(path: DlqTarget, ids: readonly string[], all: boolean): Promise<number> {
  return withJournal(path, async (journal) => {
    const chosen = await chosenIds(journal, ids, all, 'dlq replay');
    const { replayed, positions } = await replayDeadLetters(journal.deadLetters(), journal, chosen);
    const missing = chosen.length - replayed;
    process.stdout.write(
      replayed === 0
        ? 'nothing replayed: no dead letters with those ids\n'
        : `replayed ${count(replayed)} dead letter${replayed === 1 ? '' : 's'} into the journal at position${replayed === 1 ? '' : 's'} ${positions.length <= 5 ? positions.join(', ') : `${positions[0]}…${positions.at(-1)}`}; ` +
            `the pipeline writes ${replayed === 1 ? 'it' : 'them'} on its next run` +
            (missing > 0 ? ` (${count(missing)} id${missing === 1 ? '' : 's'} not found)` : '') +
            '\n',
    );
    return 0;
  });
}

export function dlqPurge(path: DlqTarget, ids: readonly string[], all: boolean): Promise<number> {
  return withJournal(path, async (journal) => {
    const chosen = await chosenIds(journal, ids, all, 'dlq purge');
    const removed = await journal.deadLetters().remove(chosen);
    const missing = chosen.length - removed.length;
    process.stdout.write(
      `purged ${count(removed.length)} dead letter${removed.length === 1 ? '' : 's'}` +
        (missing > 0 ? ` (${count(missing)} id${missing === 1 ? '' : 's'} not found)` : '') +
        '\n',
    );
    return 0;
  });
}
