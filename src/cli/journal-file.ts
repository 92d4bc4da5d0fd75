/** Opening a journal file the user named: it must exist and be a sluice journal. */
import { existsSync, statSync } from 'node:fs';
import { SqliteJournal } from '../adapters/sqlite/index.js';
import { UsageError } from './fail.js';

export async function openJournalFile(path: string): Promise<SqliteJournal> {
  if (!existsSync(path)) throw new UsageError(`no journal at ${path}: the file does not exist`);
  if (statSync(path).isDirectory()) {
    throw new UsageError(`${path} is a directory; give the journal file (such as journal.db)`);
  }
  return SqliteJournal.open(path, { create: false });
}
