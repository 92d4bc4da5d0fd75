import { closeSync, openSync, writeSync } from 'node:fs';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';

/**
 * Writes a journal of 4,000 entries (payload `{ seq }`) at `path`, then garbage over a page
 * in the middle of it, as a failing disk would. Without the key index nearly every page
 * belongs to the entries' own B-tree, so the damage is met by reading them in order.
 */
export async function damagedJournal(path: string): Promise<void> {
  const journal = await SqliteJournal.open(path, { keyIndex: false });
  for (let i = 0; i < 40; i++) {
    await journal.append(
      Array.from({ length: 100 }, (_, j) => ({ key: `k${j}`, payload: { seq: i * 100 + j } })),
    );
  }
  journal.database.pragma('wal_checkpoint(TRUNCATE)');
  const pages = journal.database.pragma('page_count', { simple: true }) as number;
  const pageSize = journal.database.pragma('page_size', { simple: true }) as number;
  await journal.close();
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.alloc(pageSize, 0x5a), 0, pageSize, Math.floor(pages / 2) * pageSize);
  closeSync(fd);
}
