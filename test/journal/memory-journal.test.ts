import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ConfigError,
  MemoryJournal,
  jsonCodec,
  type Codec,
  type MemoryJournalOptions,
} from '../../src/index.js';
import { journalConformance } from '../../src/testing/index.js';

journalConformance('MemoryJournal', { open: () => Promise.resolve(new MemoryJournal()) });

test('truncating step by step past the compaction point keeps positions, reads and stats right', async () => {
  const journal = new MemoryJournal();
  await journal.append(
    Array.from({ length: 5000 }, (_, i) => ({ key: `k${i % 7}`, id: `id${i}`, payload: i })),
  );
  for (let before = 701; before <= 4901; before += 700) {
    const { removed, firstRetained } = await journal.truncate(before, { force: true });
    assert.equal(removed, 700);
    assert.equal(firstRetained, before);
    const stats = await journal.stats();
    assert.deepEqual([stats.first, stats.head, stats.entries], [before, 5000, 5001 - before]);
    const [first] = await journal.read(0, { limit: 1 });
    assert.deepEqual([first?.position, first?.payload], [before, before - 1]);
    const [later] = await journal.read(before + 9, { limit: 1, region: { keys: ['k3'] } });
    assert.equal(later?.payload, (later?.position ?? 0) - 1);
    assert.equal(later?.payload % 7, 3);
    // Ids of removed entries are forgotten, retained ones still deduplicate.
    assert.deepEqual(await journal.append([{ key: 'k', id: `id${before - 1}`, payload: -1 }]), [
      before,
    ]);
  }
  await journal.append([{ key: 'k', payload: 'after' }]);
  const tail = await journal.read(5000);
  assert.deepEqual(
    tail.map((e) => [e.position, e.payload]),
    [[5001, 'after']],
  );
});

test('new MemoryJournal() refuses a misspelled option, naming the nearest known one, and a codec without encode/decode', () => {
  assert.throws(
    () => new MemoryJournal({ codc: jsonCodec } as MemoryJournalOptions),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.option === 'codc' &&
      /Unknown option `codc` in MemoryJournal options; did you mean `codec`\?/.test(e.message),
  );
  assert.throws(
    () => new MemoryJournal({ codec: 'json' as unknown as Codec }),
    /Expected `codec` to be an object with encode\(\), decode\(\)/,
  );
});
