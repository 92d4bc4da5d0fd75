import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cursor, InputError, MemoryJournal } from '../../src/index.js';

async function journalWith(n: number): Promise<MemoryJournal> {
  const journal = new MemoryJournal();
  await journal.append(
    Array.from({ length: n }, (_, i) => ({ key: i % 2 === 0 ? 'even' : 'odd', payload: i + 1 })),
  );
  return journal;
}

test('.poll() delivers the first entry (position 1) and then each next one', async () => {
  const cursor = new Cursor(await journalWith(3));
  assert.equal(cursor.position, 0);
  assert.equal((await cursor.poll())?.position, 1);
  assert.equal((await cursor.poll())?.position, 2);
  assert.equal(cursor.position, 2);
  assert.equal((await cursor.poll())?.position, 3);
  assert.equal(await cursor.poll(), undefined);
  assert.equal(cursor.position, 3);
});

test('.pollBatch() returns up to max entries of its region and advances past them', async () => {
  const cursor = new Cursor(await journalWith(10), { region: { keys: ['odd'] } });
  assert.deepEqual(
    (await cursor.pollBatch(3)).map((e) => e.position),
    [2, 4, 6],
  );
  assert.equal(cursor.position, 6);
  assert.deepEqual(
    (await cursor.pollBatch(10)).map((e) => e.position),
    [8, 10],
  );
  assert.deepEqual(await cursor.pollBatch(10), []);
});

test('.restore() moves the cursor back or forward', async () => {
  const cursor = new Cursor(await journalWith(5));
  await cursor.pollBatch(5);
  cursor.restore(2);
  assert.equal((await cursor.poll())?.position, 3);
  cursor.restore(0);
  assert.equal((await cursor.poll())?.position, 1);
  assert.throws(() => cursor.restore(-1), InputError);
  assert.throws(() => new Cursor(new MemoryJournal(), { position: 0.5 }), InputError);
});
