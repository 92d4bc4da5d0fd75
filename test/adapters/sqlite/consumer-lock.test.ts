/**
 * One pipeline per journal consumer, with real processes: a second pipeline (another
 * process, or this one) is refused with JournalLockedError naming the holder; a holder
 * killed with SIGKILL lets the next one in at once; readers still read while it is held;
 * two processes creating one journal at once never see a raw SQLite error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JournalLockedError, MemorySink, WriteBehind } from '../../../src/index.js';
import { SqliteJournal } from '../../../src/adapters/sqlite/index.js';
import { lockPath } from '../../../src/adapters/sqlite/consumer-lock.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir();
const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../fixtures/${name}`, import.meta.url));

/** Starts the holder child and resolves once its pipeline is open. */
function holder(path: string, mode?: 'close'): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fixture('pipeline-holder-child.ts'), path, ...(mode ? [mode] : [])],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (chunk.includes('ready')) resolve(child);
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`holder exited early: ${code}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

test('a second pipeline on a consumer held in this process is refused, on the same journal object or another', async () => {
  const path = join(dir, 'same-process.db');
  const journal = await SqliteJournal.open(path);
  const sink = new MemorySink<number>();
  const first = await WriteBehind.open<number>({ journal, sink });
  await assert.rejects(
    WriteBehind.open<number>({ journal, sink }),
    (e: unknown) =>
      e instanceof JournalLockedError &&
      e.code === 'ERR_SLUICE_JOURNAL_LOCKED' &&
      e.consumer === 'write-behind' &&
      e.holder?.pid === process.pid,
  );
  const other = await SqliteJournal.open(path);
  await assert.rejects(
    WriteBehind.open<number>({ journal: other, sink }),
    (e: unknown) =>
      e instanceof JournalLockedError &&
      e.holder?.pid === process.pid &&
      e.holder.host === hostname() &&
      new RegExp(`held by pid ${process.pid} on `).test(e.message),
  );
  // Another consumer of the same journal is its own hold.
  const audit = await WriteBehind.open<number>({ journal: other, sink, consumer: 'audit' });
  await first.close();
  const second = await WriteBehind.open<number>({ journal: other, sink });
  await second.close();
  await audit.close();
  await other.close();
  await journal.close();
});

test('a pipeline held by another process is refused, naming it; readers still read; SIGKILL ends the hold at once', async () => {
  const path = join(dir, 'other-process.db');
  const writer = await SqliteJournal.open(path);
  await writer.append([{ key: 'k', payload: 1 }]);
  const child = await holder(path);
  try {
    await assert.rejects(
      WriteBehind.open<number>({ journal: writer, sink: new MemorySink<number>() }),
      (e: unknown) => e instanceof JournalLockedError && e.holder?.pid === child.pid,
    );
    // Reading and inspecting need no hold.
    assert.equal((await writer.read(0)).length, 1);
    assert.equal((await writer.stats()).head, 1);
  } finally {
    child.kill('SIGKILL');
    await exited(child);
  }
  const started = Date.now();
  const wb = await WriteBehind.open<number>({ journal: writer, sink: new MemorySink<number>() });
  assert.ok(Date.now() - started < 1_000, 'no expiry to wait for');
  await wb.close();
  await writer.close();
});

test('close() in the holder lets the next pipeline in', async () => {
  const path = join(dir, 'handover.db');
  const child = await holder(path, 'close');
  const journal = await SqliteJournal.open(path);
  await assert.rejects(
    WriteBehind.open<number>({ journal, sink: new MemorySink<number>() }),
    JournalLockedError,
  );
  child.stdin?.end();
  await exited(child);
  assert.equal(child.exitCode, 0);
  const wb = await WriteBehind.open<number>({ journal, sink: new MemorySink<number>() });
  await wb.close();
  await journal.close();
});

test('a :memory: journal holds its consumers too; lock files are named after the journal and consumer', async () => {
  const journal = await SqliteJournal.open(':memory:');
  const hold = await journal.acquire('c');
  await assert.rejects(journal.acquire('c'), JournalLockedError);
  await hold.release();
  await (await journal.acquire('c')).release();
  await journal.close();
  assert.match(lockPath('/data/j.db', 'write-behind'), /\/data\/j\.db\.write-behind\.lock$/);
  assert.match(lockPath('/data/j.db', 'a/b c'), /\/data\/j\.db\.c-[0-9a-f]{16}\.lock$/);
  // `A` and `a` are one file on a case-insensitive file system: upper case is hashed.
  assert.notEqual(lockPath('/j.db', 'Mailer'), lockPath('/j.db', 'mailer'));
  assert.match(lockPath('/j.db', 'Mailer'), /\.c-[0-9a-f]{16}\.lock$/);
});

test(
  'two processes creating one journal at once, 50 times: never a raw error',
  { timeout: 120_000 },
  async () => {
    const paths = Array.from({ length: 50 }, (_, i) => join(dir, `race-${i}.db`));
    const startAt = Date.now() + 2_500; // both children loaded by then
    const run = (): Promise<string[]> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', fixture('journal-create-child.ts'), String(startAt), '40', ...paths],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.on('error', reject);
        child.on('exit', () => resolve(out.trim().split('\n')));
      });
    const [a, b] = await Promise.all([run(), run()]);
    const failures = [...(a ?? []), ...(b ?? [])].filter((line) => !line.startsWith('ok '));
    assert.deepEqual(failures, []);
    assert.equal((a ?? []).length + (b ?? []).length, 100);
    for (const path of paths) {
      const journal = await SqliteJournal.open(path, { create: false });
      assert.equal((await journal.stats()).head, 2, path);
      await journal.close();
    }
  },
);
