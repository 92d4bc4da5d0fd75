import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSqlite } from '../../../src/adapters/sqlite/driver.js';
import {
  SCHEMA_VERSION,
  SqliteDeadLetters,
  SqliteJournal,
} from '../../../src/adapters/sqlite/index.js';
import { ConfigError, EncodeError, jsonCodec, type Codec } from '../../../src/index.js';
import { deadLetterConformance } from '../../../src/testing/index.js';
import { misbehavingCodec, misbehavingCodecRefusal } from '../../helpers/codecs.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir();
let n = 0;

deadLetterConformance('SqliteDeadLetters', {
  open: async () => {
    const journal = await SqliteJournal.open(join(dir, `dlq-${++n}.db`));
    return { store: new SqliteDeadLetters(journal), journal, close: () => journal.close() };
  },
});

test('dead letters survive a reopen of the journal file', async () => {
  const path = join(dir, 'reopen.db');
  let journal = await SqliteJournal.open(path);
  await new SqliteDeadLetters(journal).add([
    {
      position: 4,
      entryId: 'e4',
      key: 'k',
      payload: { bad: true },
      version: 4,
      error: 'no',
      attempts: 3,
    },
  ]);
  await journal.close();
  journal = await SqliteJournal.open(path);
  const [letter] = await new SqliteDeadLetters(journal).list();
  assert.deepEqual(
    { position: letter?.position, payload: letter?.payload, attempts: letter?.attempts },
    { position: 4, payload: { bad: true }, attempts: 3 },
  );
  await journal.close();
});

test('a journal written by schema v1 is migrated to the current schema, its entries kept', async () => {
  const path = join(dir, 'v1.db');
  const journal = await SqliteJournal.open(path);
  await journal.append([{ key: 'k', payload: 'from v1' }]);
  await journal.commit('c', 1);
  await journal.close();
  // Turn the file back into what schema v1 wrote.
  const db = openSqlite(path);
  db.exec(`
    DROP TABLE sluice_dead_letters;
    DROP TABLE sluice_info;
    DROP TABLE sluice_holders;
    DELETE FROM sluice_meta WHERE name = 'version';
    ALTER TABLE sluice_entries DROP COLUMN version;
    ALTER TABLE sluice_entries DROP COLUMN origin;
  `);
  db.pragma('user_version = 1');
  db.close();

  const migrated = await SqliteJournal.open(path);
  assert.equal(migrated.database.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const [old] = await migrated.read(0);
  assert.equal(old?.payload, 'from v1');
  assert.equal(old?.version, 1, 'an entry from before versions has its position as version');
  assert.equal(old?.origin, '1', 'and keeps the sink id it had: its position');
  assert.match(migrated.id, /^[0-9a-f]{16}$/);
  const [next] = await migrated.append([{ key: 'k', payload: 'from v3' }]);
  const [fresh] = await migrated.read((next as number) - 1);
  assert.ok(
    (fresh?.version as number) > Date.now() * 1000 - 60_000_000,
    'new versions follow time',
  );
  assert.equal(await migrated.committed('c'), 1);
  assert.equal(await new SqliteDeadLetters(migrated).count(), 0);
  await migrated.close();
});

test('new SqliteDeadLetters() refuses a misspelled option, naming the nearest known one, and a bad codec', async () => {
  const journal = await SqliteJournal.open(join(dir, `dlq-${++n}.db`));
  assert.throws(
    () => new SqliteDeadLetters(journal, { codek: jsonCodec } as { codec?: Codec }),
    (e: unknown) =>
      e instanceof ConfigError &&
      /Unknown option `codek` in SqliteDeadLetters options; did you mean `codec`\?/.test(e.message),
  );
  assert.throws(
    () => new SqliteDeadLetters(journal, { codec: 'json' as unknown as Codec }),
    /Expected `codec` to be an object with encode\(\), decode\(\)/,
  );
  await journal.close();
});

test('.add() with a codec whose encode() returns what the file cannot keep is an EncodeError; nothing is written', async () => {
  const journal = await SqliteJournal.open(join(dir, `dlq-${++n}.db`));
  const store = new SqliteDeadLetters(journal, { codec: misbehavingCodec });
  const letter = (position: number, payload: string) => ({
    position,
    entryId: `e${position}`,
    key: 'k',
    payload,
    version: position,
    error: 'refused',
    attempts: 1,
  });
  for (const [payload, message] of [
    ['as a number', misbehavingCodecRefusal.number('letter', 1)],
    ['as broken text', misbehavingCodecRefusal.brokenText('letter', 1)],
  ] as const) {
    await assert.rejects(
      store.add([letter(1, 'fine'), letter(2, payload)]),
      (e: unknown) => e instanceof EncodeError && message.test(e.message),
    );
  }
  assert.equal(await store.count(), 0);
  await journal.close();
});
