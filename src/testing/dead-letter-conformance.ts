/**
 * The dead-letter store conformance suite: what every {@link DeadLetterStore} must do.
 * The harness opens a fresh store and the journal replays go to.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputError } from '../errors.js';
import {
  replayDeadLetters,
  type DeadLetterInput,
  type DeadLetterStore,
} from '../journal/dead-letters.js';
import type { Journal } from '../journal/journal.js';

/** How the dead-letter suite gets stores of the backend under test. */
export interface DeadLetterHarness {
  /** A fresh, empty store, with the journal replays go to. */
  open(): Promise<{
    /** The store under test. */
    store: DeadLetterStore;
    /** Where `replayDeadLetters` appends. */
    journal: Journal;
    /** Releases both. */
    close: () => Promise<void>;
  }>;
}

const letter = (n: number, payload: DeadLetterInput['payload'] = { n }): DeadLetterInput => ({
  position: n,
  entryId: `e${n}`,
  key: `acct-${n % 3}`,
  payload,
  version: 1_000 + n,
  error: `violates constraint ${n}`,
  attempts: 2,
});

/**
 * Registers the dead-letter store conformance tests (node:test `describe`/`test`) for the
 * store that `harness` opens: adding, paging, deduplication, replay and removal.
 */
export function deadLetterConformance(name: string, harness: DeadLetterHarness): void {
  describe(`DeadLetterStore conformance: ${name}`, () => {
    test('.add() keeps letters with their error and attempts; .list() pages them oldest first', async () => {
      const { store, close } = await harness.open();
      const ids = await store.add([letter(1), letter(2, new Uint8Array([7, 8])), letter(3)]);
      assert.equal(ids.length, 3);
      assert.ok(ids[0]! < ids[1]! && ids[1]! < ids[2]!);
      assert.equal(await store.count(), 3);
      const page = await store.list({ limit: 2 });
      assert.deepEqual(
        page.map((l) => ({
          position: l.position,
          entryId: l.entryId,
          key: l.key,
          error: l.error,
          attempts: l.attempts,
        })),
        [
          {
            position: 1,
            entryId: 'e1',
            key: 'acct-1',
            error: 'violates constraint 1',
            attempts: 2,
          },
          {
            position: 2,
            entryId: 'e2',
            key: 'acct-2',
            error: 'violates constraint 2',
            attempts: 2,
          },
        ],
      );
      assert.deepEqual(page[0]?.payload, { n: 1 });
      assert.deepEqual([...(page[1]?.payload as Uint8Array)], [7, 8]);
      assert.ok(Math.abs((page[0]?.failedAt ?? 0) - Date.now()) < 60_000);
      assert.deepEqual(
        (await store.list({ after: page[1]!.id })).map((l) => l.position),
        [3],
      );
      await close();
    });

    test('.add() of an entry and position it already holds keeps one letter; a new position is a new letter', async () => {
      const { store, close } = await harness.open();
      const [first] = await store.add([letter(1)]);
      const again = await store.add([letter(1), letter(2)]);
      assert.equal(again[0], first, 'the letter it holds, by id');
      assert.equal(await store.count(), 2);
      // A replayed entry comes back at a new position: lettered again, as a new letter.
      const [replayed] = await store.add([{ ...letter(1), position: 9 }]);
      assert.notEqual(replayed, first);
      assert.equal(await store.count(), 3);
      // Once removed (replayed or purged), the same entry and position may be lettered anew.
      await store.remove([first as number]);
      const [anew] = await store.add([letter(1)]);
      assert.notEqual(anew, first);
      assert.equal(await store.count(), 3);
      await close();
    });

    test('.remove() purges the named letters and returns them; unknown ids are ignored', async () => {
      const { store, close } = await harness.open();
      const ids = await store.add([letter(1), letter(2), letter(3)]);
      const removed = await store.remove([ids[0]!, ids[2]!, 9_999]);
      assert.deepEqual(
        removed.map((l) => l.position),
        [1, 3],
      );
      assert.deepEqual(
        (await store.list()).map((l) => l.position),
        [2],
      );
      assert.deepEqual(await store.remove([]), []);
      await assert.rejects(store.remove([0]), InputError);
      await assert.rejects(store.get(['x' as unknown as number]), InputError);
      await close();
    });

    test('replayDeadLetters() appends letters to the journal again, as the same entries, and removes them, once', async () => {
      const { store, journal, close } = await harness.open();
      const ids = await store.add([letter(1), letter(2)]);
      const failedAt = (await store.get(ids)).map((l) => l.failedAt);
      const first = await replayDeadLetters(store, journal, ids);
      assert.equal(first.replayed, 2);
      assert.equal(await store.count(), 0);
      const entries = await journal.read(0);
      // The sink id (origin) and version are the original entry's; the journal id only
      // makes the replay itself idempotent.
      assert.deepEqual(
        entries.map((e) => ({
          key: e.key,
          payload: e.payload,
          origin: e.origin,
          version: e.version,
          id: e.id,
        })),
        [
          {
            key: 'acct-1',
            payload: { n: 1 },
            origin: 'e1',
            version: 1_001,
            id: `dead-letter:${ids[0]}:${failedAt[0]}`,
          },
          {
            key: 'acct-2',
            payload: { n: 2 },
            origin: 'e2',
            version: 1_002,
            id: `dead-letter:${ids[1]}:${failedAt[1]}`,
          },
        ],
      );
      assert.deepEqual(await replayDeadLetters(store, journal, ids), {
        replayed: 0,
        positions: [],
      });
      assert.equal((await journal.read(0)).length, 2);
      await close();
    });
  });
}
