/**
 * The sink conformance suite: what every {@link Sink} must do, as node:test tests. A sink's
 * test file calls it with a harness that opens a fresh sink writing {@link BalanceRow}
 * values into storage shaped like:
 *
 * - upsert: `balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, note TEXT)`,
 *   conflict on `account`;
 * - insert: `ledger (sluice_id TEXT UNIQUE, account TEXT NOT NULL, balance INTEGER NOT NULL,
 *   note TEXT)`.
 *
 * A `balance` of `null` must be refused (the NOT NULL constraint), as a permanent error.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sink, SinkEntry } from '../sink/sink.js';

export interface BalanceRow {
  account: string;
  balance: number | null;
  note: string;
}

export interface SinkHarness {
  open(
    mode: 'upsert' | 'insert',
  ): Promise<{ sink: Sink<BalanceRow>; rows: () => Promise<BalanceRow[]> }>;
}

const entry = (
  id: string,
  account: string,
  balance: number | null,
  note = id,
): SinkEntry<BalanceRow> => ({
  id,
  key: account,
  value: { account, balance, note },
});

const sorted = (rows: BalanceRow[]): BalanceRow[] =>
  rows
    .map((r) => ({ account: r.account, balance: r.balance, note: r.note }))
    .sort((a, b) => a.account.localeCompare(b.account) || a.note.localeCompare(b.note));

export function sinkConformance(name: string, harness: SinkHarness): void {
  describe(`Sink conformance: ${name}`, () => {
    test('upsert: the last write per key wins, across batches', async () => {
      const { sink, rows } = await harness.open('upsert');
      await sink.writeBatch([entry('1', 'a', 1), entry('2', 'b', 2)]);
      await sink.writeBatch([entry('3', 'a', 3)]);
      assert.deepEqual(sorted(await rows()), [
        { account: 'a', balance: 3, note: '3' },
        { account: 'b', balance: 2, note: '2' },
      ]);
      await sink.close();
    });

    test('upsert: several writes to one key in a batch leave the last', async () => {
      const { sink, rows } = await harness.open('upsert');
      await sink.writeBatch([
        entry('1', 'a', 1),
        entry('2', 'a', 2),
        entry('3', 'b', 1),
        entry('4', 'a', 4),
      ]);
      assert.deepEqual(sorted(await rows()), [
        { account: 'a', balance: 4, note: '4' },
        { account: 'b', balance: 1, note: '3' },
      ]);
      await sink.close();
    });

    test('upsert: a batch delivered twice leaves the same rows', async () => {
      const { sink, rows } = await harness.open('upsert');
      const batch = [entry('1', 'a', 1), entry('2', 'b', 2)];
      await sink.writeBatch(batch);
      const once = sorted(await rows());
      await sink.writeBatch(batch);
      assert.deepEqual(sorted(await rows()), once);
      await sink.close();
    });

    test('insert: one row per entry id, however often a batch is delivered', async () => {
      const { sink, rows } = await harness.open('insert');
      const batch = [entry('e1', 'a', 1), entry('e2', 'a', 2)];
      await sink.writeBatch(batch);
      await sink.writeBatch(batch);
      await sink.writeBatch([entry('e2', 'a', 99), entry('e3', 'b', 3)]);
      assert.deepEqual(sorted(await rows()), [
        { account: 'a', balance: 1, note: 'e1' },
        { account: 'a', balance: 2, note: 'e2' },
        { account: 'b', balance: 3, note: 'e3' },
      ]);
      await sink.close();
    });

    for (const mode of ['upsert', 'insert'] as const) {
      test(`${mode}: a batch with a refused entry writes nothing, and the error is permanent`, async () => {
        const { sink, rows } = await harness.open(mode);
        await sink.writeBatch([entry('1', 'a', 1)]);
        let failure: unknown;
        await assert.rejects(
          sink
            .writeBatch([entry('2', 'c', 5), entry('3', 'poison', null), entry('4', 'a', 7)])
            .catch((e: unknown) => {
              failure = e;
              throw e;
            }),
        );
        assert.equal(sink.isTransient(failure), false);
        assert.deepEqual(sorted(await rows()), [{ account: 'a', balance: 1, note: '1' }]);
        await sink.close();
      });
    }

    test('an empty batch writes nothing; close() is idempotent', async () => {
      const { sink, rows } = await harness.open('upsert');
      await sink.writeBatch([]);
      assert.deepEqual(await rows(), []);
      await sink.close();
      await sink.close();
    });
  });
}
