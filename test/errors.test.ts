/**
 * Every public failure path a user of the pipeline can meet, driven for real: each rejects
 * with a SluiceError of the stated class and stable code, with the driver's own error kept
 * as `cause` where there is one. Nothing here is a raw TypeError, SqliteError or pg error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ClosedError,
  ConfigError,
  DeadLetteredError,
  EncodeError,
  InputError,
  JournalFormatError,
  JournalLockedError,
  JournalWriteError,
  MemoryJournal,
  MemorySink,
  QueueFullError,
  SinkError,
  SluiceError,
  WriteBehind,
  type SluiceErrorCode,
} from '../src/index.js';
import { SqliteJournal, sqliteSink } from '../src/adapters/sqlite/index.js';
import { postgresSink } from '../src/adapters/postgres/index.js';
import { connectionString, postgresForFile } from './helpers/postgres.js';
import { tempDir } from './helpers/temp.js';

const dir = tempDir();
const db = await postgresForFile();
type Row = { n: number };

async function fails(
  what: string,
  call: () => Promise<unknown>,
  kind: abstract new (...args: never[]) => SluiceError,
  code: SluiceErrorCode,
): Promise<unknown> {
  const error = await call().then(
    () => assert.fail(`${what}: expected a rejection`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SluiceError, `${what}: not a SluiceError: ${String(error)}`);
  assert.ok(error instanceof kind, `${what}: ${error.name}, not ${kind.name}`);
  assert.equal(error.code, code, what);
  assert.ok(error.message.length > 0, what);
  return error;
}

test('every failure of the pipeline API is a typed SluiceError with a stable code', async () => {
  const journal = await SqliteJournal.open(join(dir, 'api.db'));
  const sink = new MemorySink<Row>({
    check: (e) => {
      if (e.value.n < 0) throw new RangeError('n must not be negative');
    },
  });
  await fails(
    'open() without a sink',
    () => WriteBehind.open({ journal } as never),
    ConfigError,
    'ERR_SLUICE_CONFIG',
  );
  await fails(
    'open() with maxBacklog 0',
    () => WriteBehind.open<Row>({ journal, sink, maxBacklog: 0 }),
    ConfigError,
    'ERR_SLUICE_CONFIG',
  );
  const wb = await WriteBehind.open<Row>({ journal, sink, maxBacklog: 1_000 });
  await fails(
    'a second pipeline on the consumer',
    () => WriteBehind.open<Row>({ journal, sink }),
    JournalLockedError,
    'ERR_SLUICE_JOURNAL_LOCKED',
  );
  await fails('an empty key', () => wb.write('', { n: 1 }), InputError, 'ERR_SLUICE_INPUT');
  await fails(
    'a bigint key',
    () => wb.write(10n as never, { n: 1 }),
    InputError,
    'ERR_SLUICE_INPUT',
  );
  const circular: Record<string, unknown> = {};
  circular['self'] = circular;
  await fails(
    'a circular object as key',
    () => wb.write(circular as never, { n: 1 }),
    InputError,
    'ERR_SLUICE_INPUT',
  );
  await fails(
    'null write options',
    () => wb.write('k', { n: 1 }, null as never),
    InputError,
    'ERR_SLUICE_INPUT',
  );
  await fails(
    'a numeric id',
    () => wb.write('k', { n: 1 }, { id: 5 as never }),
    InputError,
    'ERR_SLUICE_INPUT',
  );
  await fails(
    'a Map in the value',
    () => wb.write('k', { n: new Map() } as never),
    EncodeError,
    'ERR_SLUICE_ENCODE',
  );
  const dead = (await fails(
    'writeAndWait() of an entry the sink refuses',
    () => wb.writeAndWait('k', { n: -1 }),
    DeadLetteredError,
    'ERR_SLUICE_DEAD_LETTERED',
  )) as DeadLetteredError;
  assert.ok(dead.cause instanceof RangeError);
  await fails(
    'replay of ids that are not ids',
    () => wb.deadLetters.replay(['x' as never]),
    InputError,
    'ERR_SLUICE_INPUT',
  );

  // A full disk, as SQLite sees it: the file may not grow past its current pages.
  const pages = journal.database.pragma('page_count', { simple: true }) as number;
  journal.database.pragma(`max_page_count = ${pages}`);
  const full = (await fails(
    'a write to a full journal',
    () => wb.write('k', { n: 2, pad: 'x'.repeat(100_000) } as never),
    JournalWriteError,
    'ERR_SLUICE_JOURNAL_WRITE',
  )) as JournalWriteError;
  assert.equal((full.cause as { code?: string }).code, 'SQLITE_FULL');
  journal.database.pragma('max_page_count = 1073741823');
  await wb.write('k', { n: 3 }); // writing resumes when there is room again

  await wb.close();
  await fails(
    'a write after close()',
    () => wb.write('k', { n: 4 }),
    ClosedError,
    'ERR_SLUICE_CLOSED',
  );
  await journal.close();
  await fails(
    'a read of a closed journal',
    () => journal.read(0),
    ClosedError,
    'ERR_SLUICE_CLOSED',
  );

  const stuck = await WriteBehind.open<Row>({
    journal: new MemoryJournal(),
    sink: new MemorySink<Row>({
      beforeWrite: () => Promise.reject(new Error('down')),
      classify: () => 'unavailable',
    }),
    maxBacklog: 1,
    overflow: 'reject',
    retry: { minDelayMs: 1, maxDelayMs: 2 },
  });
  await stuck.write('a', { n: 1 });
  await fails(
    'a write past maxBacklog with overflow reject',
    () => stuck.write('b', { n: 2 }),
    QueueFullError,
    'ERR_SLUICE_QUEUE_FULL',
  );
  await stuck.close({ deadlineMs: 10 });
});

test('opening storage that is not there, or not a journal, is a typed error', async () => {
  await fails('an empty path', () => SqliteJournal.open(''), InputError, 'ERR_SLUICE_INPUT');
  const garbage = join(dir, 'garbage.db');
  writeFileSync(garbage, 'this is not a database, just bytes '.repeat(200));
  await fails(
    'a file of random text',
    () => SqliteJournal.open(garbage),
    JournalFormatError,
    'ERR_SLUICE_JOURNAL_FORMAT',
  );
  await fails(
    'a missing file with create: false',
    () => SqliteJournal.open(join(dir, 'missing.db'), { create: false }),
    InputError,
    'ERR_SLUICE_INPUT',
  );
  await fails(
    'sqliteSink() on a missing table',
    () =>
      Promise.resolve().then(() =>
        sqliteSink({
          database: join(dir, 'store.db'),
          table: 'nope',
          columns: ['a'],
          mode: 'insert',
        }),
      ),
    ConfigError,
    'ERR_SLUICE_CONFIG',
  );
  const refused = (await fails(
    'postgresSink() on a port nothing listens on',
    () =>
      postgresSink({
        connectionString: 'postgres://postgres@127.0.0.1:1/test',
        table: 't',
        columns: ['a'],
        mode: 'insert',
        connectTimeoutMs: 1_000,
      }),
    SinkError,
    'ERR_SLUICE_SINK',
  )) as SinkError;
  assert.equal((refused.cause as { code?: string }).code, 'ECONNREFUSED');
  await fails(
    'postgresSink() on a host that does not resolve',
    () =>
      postgresSink({
        connectionString: 'postgres://postgres@no-such-host.invalid:5432/test',
        table: 't',
        columns: ['a'],
        mode: 'insert',
        connectTimeoutMs: 2_000,
      }),
    SinkError,
    'ERR_SLUICE_SINK',
  );
});

test(
  'postgresSink() against a live server: a missing database or table is a typed error',
  { skip: db.skip },
  async () => {
    const missing = (await fails(
      'a database that does not exist',
      () =>
        postgresSink({
          connectionString: connectionString.replace(/\/[^/]*$/, '/sluice_no_such_db'),
          table: 't',
          columns: ['a'],
          mode: 'insert',
        }),
      SinkError,
      'ERR_SLUICE_SINK',
    )) as SinkError;
    assert.equal((missing.cause as { code?: string }).code, '3D000');
    await fails(
      'a table that does not exist',
      () =>
        postgresSink({
          pool: db.pool as never,
          schema: db.schema as string,
          table: 'nope',
          columns: ['a'],
          mode: 'insert',
        }),
      ConfigError,
      'ERR_SLUICE_CONFIG',
    );
  },
);

/** A journal of someone else's making whose storage throws its own errors. */
class ForeignJournal extends MemoryJournal {
  override append(): Promise<number[]> {
    return Promise.reject(Object.assign(new Error('disk quota exceeded'), { code: 'EDQUOT' }));
  }
}

test('storage and setup failures of any make are typed, the original kept as cause', async () => {
  const wb = await WriteBehind.open<Row>({
    journal: new ForeignJournal(),
    sink: new MemorySink<Row>(),
  });
  const refused = (await fails(
    'a custom journal whose append throws a plain Error',
    () => wb.write('k', { n: 1 }),
    JournalWriteError,
    'ERR_SLUICE_JOURNAL_WRITE',
  )) as JournalWriteError;
  assert.equal((refused.cause as { code?: string }).code, 'EDQUOT');
  await wb.close();

  const noHolds = Object.assign(new MemoryJournal(), { acquire: undefined });
  await fails(
    'a journal without acquire()',
    () => WriteBehind.open<Row>({ journal: noHolds, sink: new MemorySink<Row>() }),
    ConfigError,
    'ERR_SLUICE_CONFIG',
  );

  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a folder');
  await fails(
    'a journal whose folder cannot be created',
    () => SqliteJournal.open(join(file, 'journal.db')),
    JournalWriteError,
    'ERR_SLUICE_JOURNAL_WRITE',
  );
  await fails(
    'sqliteSink() on a file in a folder that does not exist',
    () =>
      Promise.resolve().then(() =>
        sqliteSink({
          database: join(dir, 'no-such-folder', 'store.db'),
          table: 't',
          columns: ['a'],
          mode: 'insert',
        }),
      ),
    SinkError,
    'ERR_SLUICE_SINK',
  );
});
