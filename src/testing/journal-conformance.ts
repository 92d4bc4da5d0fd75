/**
 * The journal conformance suite: what every {@link Journal} backend must do, as node:test
 * tests. A backend's test file calls it with a harness that opens fresh storage:
 *
 * ```ts
 * journalConformance('SqliteJournal', {
 *   open: () => SqliteJournal.open(freshPath()),
 *   reopen: async (j) => { await j.close(); return SqliteJournal.open(pathOf(j)); },
 * });
 * ```
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClosedError, EncodeError, InputError, JournalLockedError } from '../errors.js';
import type { Journal, JournalEntry, JournalRecord } from '../journal/journal.js';

/** How the journal suite gets journals of the backend under test. */
export interface JournalHarness {
  /** A fresh, empty journal of the backend under test. */
  open(): Promise<Journal>;
  /** Closes `journal` and opens the same storage again; omit for a backend that cannot. */
  reopen?(journal: Journal): Promise<Journal>;
}

const rec = (
  key: string,
  payload: JournalRecord['payload'],
  extra: Partial<JournalRecord> = {},
): JournalRecord => ({
  key,
  payload,
  ...extra,
});

const positions = (entries: JournalEntry[]): number[] => entries.map((e) => e.position);

async function withJournal(
  harness: JournalHarness,
  fn: (j: Journal) => Promise<Journal | void>,
): Promise<void> {
  let journal = await harness.open();
  try {
    journal = (await fn(journal)) ?? journal;
  } finally {
    await journal.close();
  }
}

/**
 * Registers the journal conformance tests (node:test `describe`/`test`) for the backend
 * that `harness` opens: every promise of {@link Journal}, checked.
 *
 * ```ts
 * journalConformance('SqliteJournal', {
 *   open: () => SqliteJournal.open(freshPath()),
 *   reopen: async (j) => { await j.close(); return SqliteJournal.open(pathOf(j)); },
 * });
 * ```
 */
export function journalConformance(name: string, harness: JournalHarness): void {
  describe(`Journal conformance: ${name}`, () => {
    test('.append() assigns positions from 1, strictly increasing, without gaps', () =>
      withJournal(harness, async (j) => {
        assert.deepEqual(await j.append([rec('a', 1), rec('b', 2)]), [1, 2]);
        assert.deepEqual(await j.append([rec('a', 3)]), [3]);
        assert.deepEqual(await j.append([]), []);
        assert.deepEqual(await j.append([rec('c', 4), rec('c', 5), rec('d', 6)]), [4, 5, 6]);
        assert.equal((await j.stats()).head, 6);
      }));

    test('.append() calls made together get contiguous positions in call order', () =>
      withJournal(harness, async (j) => {
        const calls = Array.from({ length: 50 }, (_, i) =>
          j.append([rec(`k${i % 7}`, { i }), rec(`k${i % 7}`, { i, second: true })]),
        );
        const results = await Promise.all(calls);
        assert.deepEqual(
          results.flat(),
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        const entries = await j.read(0, { limit: 1000 });
        assert.deepEqual(
          entries.map((e) => e.payload),
          results.flatMap((_, i) => [{ i }, { i, second: true }]),
        );
      }));

    test('.read() returns entries after a position, in order, with their content', () =>
      withJournal(harness, async (j) => {
        const bytes = new Uint8Array([0, 1, 2, 254, 255]);
        await j.append([
          rec(
            'acct-1',
            { balance: 10, tags: ['a', 'b'], nested: { ok: true, none: null } },
            { type: 'set', id: 'w1' },
          ),
          rec('acct-2', 'plain string'),
          rec('acct-1', bytes, { type: 'blob' }),
          rec('acct-3', 42.5),
        ]);
        const all = await j.read(0);
        assert.deepEqual(positions(all), [1, 2, 3, 4]);
        const [first, second, third] = all as [JournalEntry, JournalEntry, JournalEntry];
        assert.deepEqual(
          { key: first.key, type: first.type, id: first.id, payload: first.payload },
          {
            key: 'acct-1',
            type: 'set',
            id: 'w1',
            payload: { balance: 10, tags: ['a', 'b'], nested: { ok: true, none: null } },
          },
        );
        assert.equal(second.type, undefined);
        assert.equal(second.id, undefined);
        assert.equal(second.payload, 'plain string');
        assert.ok(third.payload instanceof Uint8Array);
        assert.deepEqual([...third.payload], [...bytes]);
        assert.ok(Math.abs(first.appendedAt - Date.now()) < 60_000);
        assert.deepEqual(positions(await j.read(2)), [3, 4]);
        assert.deepEqual(positions(await j.read(1, { limit: 2 })), [2, 3]);
        assert.deepEqual(await j.read(4), []);
        assert.deepEqual(await j.read(100), []);
      }));

    test('.read() filters by region: exact keys, key prefix, types', () =>
      withJournal(harness, async (j) => {
        await j.append([
          rec('acct-1', 1, { type: 'set' }),
          rec('user-1', 2, { type: 'set' }),
          rec('acct-2', 3, { type: 'del' }),
          rec('acct-1', 4, { type: 'del' }),
          rec('user-2', 5),
          rec('acct-10', 6, { type: 'set' }),
        ]);
        const at = async (region: Parameters<Journal['read']>[1]): Promise<number[]> =>
          positions(await j.read(0, region));
        assert.deepEqual(await at({ region: { keys: ['acct-1'] } }), [1, 4]);
        assert.deepEqual(await at({ region: { keys: ['user-2', 'acct-1', 'acct-1'] } }), [1, 4, 5]);
        assert.deepEqual(await at({ region: { keys: ['acct-1', 'user-1'] }, limit: 2 }), [1, 2]);
        assert.deepEqual(await at({ region: { keyPrefix: 'acct-1' } }), [1, 4, 6]);
        assert.deepEqual(await at({ region: { types: ['del'] } }), [3, 4]);
        assert.deepEqual(await at({ region: { keyPrefix: 'acct-', types: ['set'] } }), [1, 6]);
        assert.deepEqual(await at({ region: { keys: ['user-2'], keyPrefix: 'acct-2' } }), [3, 5]);
        assert.deepEqual(await at({ region: { keys: [] } }), []);
        assert.deepEqual(await at({ region: {} }), [1, 2, 3, 4, 5, 6]);
        assert.deepEqual(
          positions(await j.read(3, { region: { keyPrefix: 'acct-' }, limit: 1 })),
          [4],
        );
      }));

    test('.append() of an id already in the journal returns its first position and writes nothing', () =>
      withJournal(harness, async (j) => {
        assert.deepEqual(
          await j.append([rec('a', 'first', { id: 'x' }), rec('b', 'other')]),
          [1, 2],
        );
        assert.deepEqual(
          await j.append([rec('a', 'again', { id: 'x' }), rec('c', 'new', { id: 'y' })]),
          [1, 3],
        );
        assert.deepEqual(
          await j.append([rec('d', 1, { id: 'z' }), rec('d', 2, { id: 'z' })]),
          [4, 4],
        );
        const [p1, p2] = await Promise.all([
          j.append([rec('e', 1, { id: 'w' })]),
          j.append([rec('e', 2, { id: 'w' })]),
        ]);
        assert.deepEqual([p1, p2], [[5], [5]]);
        const entries = await j.read(0);
        assert.deepEqual(positions(entries), [1, 2, 3, 4, 5]);
        assert.equal(entries[0]?.payload, 'first');
        assert.equal((await j.stats()).head, 5);
      }));

    test('.append() of many records, in one call and across calls made together: known and repeated ids anywhere keep their first position, the rest get the next ones in order', () =>
      withJournal(harness, async (j) => {
        await j.append([rec('a', 'k0', { id: 'known-0' }), rec('a', 'k1', { id: 'known-1' })]);
        const handed: JournalEntry[] = [];
        const stop = j.onAppended?.((entries) => handed.push(...entries));
        // 110 records, new but for: known ids at 35 and 70; r10's id again at 45; r98's at
        // 100 (neither of the two stored before).
        const again = new Map([
          [35, 'known-0'],
          [70, 'known-1'],
          [45, 'r10'],
          [100, 'r98'],
        ]);
        const records = Array.from({ length: 110 }, (_, i) =>
          rec('b', i, { id: again.get(i) ?? `r${i}` }),
        );
        const expected: number[] = [];
        let next = 3;
        for (let i = 0; i < 110; i++) {
          if (i === 35) expected.push(1);
          else if (i === 70) expected.push(2);
          else if (i === 45 || i === 100) expected.push(expected[i === 45 ? 10 : 98] as number);
          else expected.push(next++);
        }
        assert.deepEqual(await j.append(records), expected);
        // The same again, split over calls of one turn, after 40 entries nobody knew.
        const fresh = Array.from({ length: 40 }, (_, i) => rec('c', i, { id: `f${i}` }));
        const [first, ...rest] = await Promise.all([
          j.append(fresh),
          ...Array.from({ length: 11 }, (_, c) => j.append(records.slice(c * 10, c * 10 + 10))),
        ]);
        assert.deepEqual(
          first,
          Array.from({ length: 40 }, (_, i) => next + i),
        );
        assert.deepEqual(rest.flat(), expected);
        stop?.();
        const entries = await j.read(0, { limit: 1000 });
        assert.deepEqual(
          positions(entries),
          Array.from({ length: next + 39 }, (_, i) => i + 1),
        );
        assert.deepEqual(
          entries.map((e) => e.payload),
          [
            'k0',
            'k1',
            ...Array.from({ length: 110 }, (_, i) => i).filter((i) => !again.has(i)),
            ...Array.from({ length: 40 }, (_, i) => i),
          ],
        );
        for (let k = 1; k < entries.length; k++) {
          assert.ok(
            (entries[k] as JournalEntry).version > (entries[k - 1] as JournalEntry).version,
            `versions grow with positions (at ${k + 1})`,
          );
        }
        // What was handed over is what was written, once, in order.
        if (stop !== undefined) assert.deepEqual(handed, entries.slice(2));
      }));

    test('.append() refuses a payload it cannot encode with EncodeError, writing nothing of the call', () =>
      withJournal(harness, async (j) => {
        await j.append([rec('a', 1)]);
        const circular: Record<string, unknown> = {};
        circular['self'] = circular;
        const bad: unknown[] = [undefined, () => 1, 10n, circular, Symbol('s')];
        for (const payload of bad) {
          await assert.rejects(
            j.append([rec('ok', 'fine'), rec('bad', payload as JournalRecord['payload'])]),
            (e: unknown) => e instanceof EncodeError && e.code === 'ERR_SLUICE_ENCODE',
          );
        }
        assert.equal((await j.stats()).head, 1);
        assert.deepEqual(await j.append([rec('b', 2)]), [2]);
      }));

    test('bad arguments are refused with InputError at the call', () =>
      withJournal(harness, async (j) => {
        const input = (e: unknown): boolean =>
          e instanceof InputError && e.code === 'ERR_SLUICE_INPUT';
        await assert.rejects(j.append([rec('', 1)]), input);
        await assert.rejects(j.append([{ key: 7 } as unknown as JournalRecord]), input);
        await assert.rejects(j.append([rec('a', 1, { id: '' })]), input);
        await assert.rejects(j.append('nope' as unknown as JournalRecord[]), input);
        await assert.rejects(j.read(-1), input);
        await assert.rejects(j.read(1.5), input);
        await assert.rejects(j.read(0, { limit: 0 }), input);
        await assert.rejects(j.read(0, { region: { keys: 'a' as unknown as string[] } }), input);
        await assert.rejects(j.commit('', 0), input);
        await assert.rejects(j.commit('c', 1), /head is 0/);
        await assert.rejects(j.truncate(-3), input);
        // A misspelled name is refused, naming the nearest known one: a region `{ key }` must
        // not read everything, a `{ limt }` must not read the default 1,000.
        const misspelled = (name: string, nearest: string) => (e: unknown) =>
          input(e) && (e as Error).message.includes(`\`${name}\`; did you mean \`${nearest}\``);
        await assert.rejects(j.read(0, { limt: 5 } as never), misspelled('limt', 'limit'));
        await assert.rejects(
          j.read(0, { region: { key: ['a'] } as never }),
          misspelled('key', 'keys'),
        );
        await assert.rejects(
          j.append([rec('a', 1)], { maxRecordByte: 9 } as never),
          misspelled('maxRecordByte', 'maxRecordBytes'),
        );
        await assert.rejects(
          j.truncate(1, { forced: true } as never),
          misspelled('forced', 'force'),
        );
        assert.equal((await j.stats()).head, 0);
      }));

    test('.commit() stores a consumer checkpoint that .committed() returns', () =>
      withJournal(harness, async (j) => {
        assert.equal(await j.committed('mailer'), 0);
        await j.append([rec('a', 1), rec('a', 2), rec('a', 3)]);
        await j.commit('mailer', 2);
        await j.commit('audit', 3);
        assert.equal(await j.committed('mailer'), 2);
        assert.equal(await j.committed('audit'), 3);
        await j.commit('mailer', 1);
        assert.equal(await j.committed('mailer'), 1, 'a consumer may rewind');
        const stats = await j.stats();
        assert.deepEqual(
          [...stats.consumers].sort((a, b) => a.consumer.localeCompare(b.consumer)),
          [
            { consumer: 'audit', position: 3, lag: 0 },
            { consumer: 'mailer', position: 1, lag: 2 },
          ],
        );
      }));

    test('.waitForAppend() resolves at once past the head, else wakes on the next append', () =>
      withJournal(harness, async (j) => {
        await j.append([rec('a', 1)]);
        await j.waitForAppend(0);
        let woke = false;
        const waiting = j.waitForAppend(1).then(() => (woke = true));
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(woke, false);
        await j.append([rec('a', 2)]);
        await waiting;
        assert.equal(woke, true);

        const ac = new AbortController();
        const aborted = j.waitForAppend(2, { signal: ac.signal });
        ac.abort(new Error('reader stopped'));
        await assert.rejects(aborted, /reader stopped/);
      }));

    test('.truncate() removes old entries, never past the lowest checkpoint unless forced', () =>
      withJournal(harness, async (j) => {
        await j.append(Array.from({ length: 10 }, (_, i) => rec('k', i, { id: `id-${i + 1}` })));
        await j.commit('slow', 3);
        await j.commit('fast', 9);
        assert.deepEqual(await j.truncate(8), { removed: 3, firstRetained: 4 });
        assert.deepEqual(positions(await j.read(0)), [4, 5, 6, 7, 8, 9, 10]);
        assert.deepEqual(await j.truncate(6, { force: true }), { removed: 2, firstRetained: 6 });
        const stats = await j.stats();
        assert.deepEqual(
          { head: stats.head, first: stats.first, entries: stats.entries },
          { head: 10, first: 6, entries: 5 },
        );
        assert.deepEqual(await j.append([rec('k', 'new')]), [11], 'positions are never reused');
        assert.deepEqual(
          await j.append([rec('k', 'x', { id: 'id-10' })]),
          [10],
          'retained ids still dedupe',
        );
        assert.deepEqual(await j.truncate(100, { force: true }), { removed: 6, firstRetained: 12 });
        assert.deepEqual(await j.read(0), []);
        assert.deepEqual(await j.append([rec('k', 'after')]), [12]);
      }));

    test('.stats() reports head, first, entries, bytes and consumer lag', () =>
      withJournal(harness, async (j) => {
        const empty = await j.stats();
        assert.deepEqual(
          { head: empty.head, first: empty.first, entries: empty.entries },
          { head: 0, first: 1, entries: 0 },
        );
        await j.append([rec('a', 'x'.repeat(100)), rec('b', 'y')]);
        await j.commit('c', 1);
        const s = await j.stats();
        assert.deepEqual(
          { head: s.head, first: s.first, entries: s.entries },
          { head: 2, first: 1, entries: 2 },
        );
        assert.ok(s.bytes > 100);
        assert.deepEqual(s.consumers, [{ consumer: 'c', position: 1, lag: 1 }]);
      }));

    test('.close() is idempotent and later calls reject with ClosedError', async () => {
      const j = await harness.open();
      await j.append([rec('a', 1)]);
      await j.close();
      await j.close();
      await assert.rejects(j.append([rec('a', 2)]), ClosedError);
      await assert.rejects(j.read(0), ClosedError);
      await assert.rejects(j.commit('c', 1), ClosedError);
    });

    test('.close() wakes readers parked in waitForAppend', async () => {
      const j = await harness.open();
      const waiting = j.waitForAppend(0);
      await j.close();
      await waiting;
    });

    test('versions grow with positions, follow the clock, and a record may keep its own; origin is kept', () =>
      withJournal(harness, async (j) => {
        const before = Date.now() * 1000;
        await j.append([rec('a', 1), rec('a', 2)]);
        await j.append([rec('b', 3, { version: 7, origin: 'elsewhere:1' }), rec('a', 4)]);
        const [e1, e2, e3, e4] = await j.read(0);
        assert.ok((e1?.version as number) >= before, 'at least now × 1000');
        assert.ok((e2?.version as number) > (e1?.version as number));
        assert.deepEqual([e3?.version, e3?.origin], [7, 'elsewhere:1']);
        assert.ok(
          (e4?.version as number) > (e2?.version as number),
          'a kept version does not reset the count',
        );
        assert.equal(e1?.origin, undefined);
        await assert.rejects(j.append([rec('c', 5, { version: 0 })]), InputError);
        await assert.rejects(j.append([rec('c', 5, { version: 1.5 })]), InputError);
      }));

    test('.id is a stable random name: two journals have different ones', async () => {
      const a = await harness.open();
      const b = await harness.open();
      try {
        assert.ok(typeof a.id === 'string' && a.id.length >= 8);
        assert.notEqual(a.id, b.id);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('.acquire() admits one holder per consumer until it releases; consumers are independent', () =>
      withJournal(harness, async (j) => {
        const hold = await j.acquire('mailer');
        await assert.rejects(
          j.acquire('mailer'),
          (e: unknown) => e instanceof JournalLockedError && e.consumer === 'mailer',
        );
        const other = await j.acquire('audit');
        await hold.release();
        await hold.release();
        const again = await j.acquire('mailer');
        await again.release();
        await other.release();
        await assert.rejects(j.acquire(''), InputError);
      }));

    test('.onAppended(), where a backend has it, hands over what each append wrote, as read() returns it, before the append resolves', () =>
      withJournal(harness, async (j) => {
        if (j.onAppended === undefined) return;
        const handed: JournalEntry[][] = [];
        let resolved = 0;
        const stop = j.onAppended((entries) => {
          assert.equal(resolved, 0, 'handed over before the append resolved');
          handed.push([...entries]);
        });
        const bytes = new Uint8Array([1, 2, 3]);
        await j
          .append([
            rec('a', { n: 1, at: new Date(0) } as never, { id: 'x', type: 't' }),
            rec('b', bytes, { version: 9, origin: 'o:1' }),
          ])
          .then(() => resolved++);
        bytes[0] = 99; // the caller's buffer changes afterwards: what was handed over does not
        resolved = 0;
        await j.append([rec('a', 'again', { id: 'x' }), rec('c', 3)]).then(() => resolved++);
        resolved = 0;
        await j.append([rec('a', 'only a known id', { id: 'x' })]);
        assert.deepEqual(
          handed.map((entries) => entries.map((e) => e.position)),
          [[1, 2], [3]],
          'the rows each append wrote, none for a known id',
        );
        assert.deepEqual(handed.flat(), await j.read(0), 'exactly what a read returns');
        assert.deepEqual(handed[0]?.[0]?.payload, { n: 1, at: '1970-01-01T00:00:00.000Z' });
        assert.deepEqual([...(handed[0]?.[1]?.payload as Uint8Array)], [1, 2, 3]);
        stop();
        await j.append([rec('d', 4)]);
        assert.equal(handed.length, 2, 'nothing after unsubscribing');
        // Two listeners get entries of their own: one changing a value changes nothing else.
        const first: JournalEntry[] = [];
        const second: JournalEntry[] = [];
        const stopFirst = j.onAppended((entries) => {
          first.push(...entries);
          (entries[0]?.payload as { n: number }).n = 100;
        });
        const stopSecond = j.onAppended((entries) => second.push(...entries));
        await j.append([rec('e', { n: 1 })]);
        stopFirst();
        stopSecond();
        assert.deepEqual(second[0]?.payload, { n: 1 });
        assert.equal(first.length, 1);
      }));

    const reopen = harness.reopen?.bind(harness);
    if (reopen !== undefined) {
      test('a reopened journal keeps entries, checkpoints and ids, and continues positions', () =>
        withJournal(harness, async (first) => {
          await first.append([rec('a', { n: 1 }, { id: 'one' }), rec('b', new Uint8Array([9, 8]))]);
          await first.commit('mailer', 1);
          const j = await reopen(first);
          const entries = await j.read(0);
          assert.deepEqual(positions(entries), [1, 2]);
          assert.deepEqual(entries[0]?.payload, { n: 1 });
          assert.deepEqual([...(entries[1]?.payload as Uint8Array)], [9, 8]);
          assert.equal(await j.committed('mailer'), 1);
          assert.deepEqual(await j.append([rec('a', 'dup', { id: 'one' }), rec('c', 3)]), [1, 3]);
          assert.equal(j.id, first.id, 'the id is stored with the journal');
          const [, , third] = await j.read(0);
          assert.ok((third?.version as number) > (entries[1]?.version as number));
          return j;
        }));

      test('a reopened journal never reuses positions, even after truncating everything', () =>
        withJournal(harness, async (first) => {
          await first.append([rec('a', 1), rec('a', 2)]);
          await first.truncate(10, { force: true });
          const j = await reopen(first);
          assert.deepEqual(await j.append([rec('a', 3)]), [3]);
          return j;
        }));
    }
  });
}
