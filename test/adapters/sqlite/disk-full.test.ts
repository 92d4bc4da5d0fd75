/**
 * A journal on a real, tiny file system (a 1 MiB tmpfs): when it fills, writes reject with
 * JournalWriteError (SQLite's SQLITE_FULL as the cause), nothing acknowledged is lost, and
 * writing resumes once there is room. Mounting needs root (as CI runs); elsewhere the test
 * skips, saying so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { JournalWriteError, MemorySink, WriteBehind } from '../../../src/index.js';
import { SqliteJournal } from '../../../src/adapters/sqlite/index.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir('sluice-tmpfs-');
let skip: string | undefined;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'pipe' });
} catch (error) {
  skip = `needs root to mount a tmpfs (${String(error).split('\n')[0]})`;
}

test(
  'a full disk: JournalWriteError at write(), nothing acknowledged lost, writing resumes with room',
  { skip },
  async (t) => {
    t.after(() => execFileSync('umount', [dir]));
    const path = join(dir, 'journal.db');
    const journal = await SqliteJournal.open(path, { walCheckpointPages: 50 });
    const sink = new MemorySink<{ n: number; pad: string }>({ mode: 'insert' });
    const wb = await WriteBehind.open({ journal, sink, retain: 0 });
    const acked: string[] = [];
    let failure: unknown;
    for (let n = 0; n < 5_000 && failure === undefined; n++) {
      try {
        await wb.write(`k${n % 10}`, { n, pad: 'p'.repeat(1_000) }, { id: `w${n}` });
        acked.push(`w${n}`);
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(failure instanceof JournalWriteError, String(failure));
    assert.match(String((failure.cause as { code?: string }).code), /^SQLITE_FULL/);
    assert.ok(acked.length > 100, `${acked.length} writes before the disk filled`);
    assert.ok(statSync(`${path}-wal`).size < 1024 * 1024);

    execFileSync('mount', ['-o', 'remount,size=16m', dir]);
    for (let n = 10_000; n < 10_100; n++) {
      await wb.write(`k${n % 10}`, { n, pad: 'p' }, { id: `w${n}` });
      acked.push(`w${n}`);
    }
    await wb.flush();
    for (const id of acked) assert.ok(sink.rows.has(id), `${id} reached the sink`);
    await wb.close();
    await journal.close();
  },
);
