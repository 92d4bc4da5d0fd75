/**
 * The sink conformance suite: what every {@link Sink} must do, as node:test tests. A sink's
 * test file calls it with a harness that opens a fresh sink writing {@link BalanceRow}
 * values into storage shaped like:
 *
 * - upsert: `balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, note TEXT,
 *   version BIGINT)`, conflict on `account`;
 * - insert: `ledger (sluice_id TEXT UNIQUE, account TEXT NOT NULL, balance INTEGER NOT NULL,
 *   note TEXT, version BIGINT)`;
 *
 * with `versioned`, the sink guards on the `version` column (`versionColumn: 'version'`).
 * A `balance` of `null` must be refused (the NOT NULL constraint), blaming the entry
 * (`classify` says `'rejected'`).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Sink, SinkEntry } from '../sink/sink.js';

/** The value the suite writes, and the row shape a sink under test stores. */
export interface BalanceRow {
  /** The conflict key in upsert mode. */
  account: string;
  /** `null` must be refused by the storage (NOT NULL), blaming the entry. */
  balance: number | null;
  /** Free text; tells apart rows of one account. */
  note: string;
}

/** How the sink suite gets a sink of the backend under test. */
export interface SinkHarness {
  /**
   * A fresh sink in `mode` over empty storage (see {@link sinkConformance} for its shape);
   * with `versioned`, guarding on the `version` column.
   */
  open(
    mode: 'upsert' | 'insert',
    options?: { versioned?: boolean },
  ): Promise<{
    /** The sink under test. */
    sink: Sink<BalanceRow>;
    /** Reads back every stored row. */
    rows: () => Promise<BalanceRow[]>;
  }>;
}

let versions = 0;
const entry = (
  id: string,
  account: string,
  balance: number | null,
  note = id,
  version = ++versions,
): SinkEntry<BalanceRow> => ({
  id,
  key: account,
  value: { account, balance, note },
  version,
});

const sorted = (rows: BalanceRow[]): BalanceRow[] =>
  rows
    .map((r) => ({ account: r.account, balance: r.balance, note: r.note }))
    .sort((a, b) => a.account.localeCompare(b.account) || a.note.localeCompare(b.note));

/**
 * Registers the sink conformance tests (node:test `describe`/`test`) for the sink that
 * `harness` opens. The storage it writes must be shaped like:
 *
 * - upsert: `balances (account TEXT PRIMARY KEY, balance INTEGER NOT NULL, note TEXT,
 *   version BIGINT)`, conflict on `account`;
 * - insert: `ledger (sluice_id TEXT UNIQUE, account TEXT NOT NULL, balance INTEGER NOT NULL,
 *   note TEXT, version BIGINT)`.
 */
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
        assert.equal(sink.classify(failure), 'rejected');
        assert.deepEqual(sorted(await rows()), [{ account: 'a', balance: 1, note: '1' }]);
        await sink.close();
      });
    }

    test('insert: a re-delivered entry is counted as a duplicate', async () => {
      const { sink } = await harness.open('insert');
      const batch = [entry('d1', 'a', 1), entry('d2', 'b', 2)];
      assert.equal((await sink.writeBatch(batch))?.duplicates ?? 0, 0);
      const again = await sink.writeBatch([...batch, entry('d3', 'c', 3)]);
      assert.equal(again?.duplicates, 2);
      await sink.close();
    });

    test('versioned upsert: an older entry never overwrites a newer row, and is counted as superseded', async () => {
      const { sink, rows } = await harness.open('upsert', { versioned: true });
      await sink.writeBatch([entry('1', 'a', 1, 'a@10', 10), entry('2', 'b', 2, 'b@10', 10)]);
      // Across batches: a is older than its row (a replay, a late re-delivery), b is newer.
      const result = await sink.writeBatch([
        entry('3', 'a', 99, 'a@5', 5),
        entry('4', 'b', 3, 'b@20', 20),
      ]);
      assert.equal(result?.superseded, 1);
      // Within one batch: the newest version of a key wins wherever it stands.
      await sink.writeBatch([entry('5', 'c', 7, 'c@30', 30), entry('6', 'c', 6, 'c@25', 25)]);
      assert.deepEqual(sorted(await rows()), [
        { account: 'a', balance: 1, note: 'a@10' },
        { account: 'b', balance: 3, note: 'b@20' },
        { account: 'c', balance: 7, note: 'c@30' },
      ]);
      await sink.close();
    });

    test('an empty batch writes nothing; close() is idempotent', async () => {
      const { sink, rows } = await harness.open('upsert');
      await sink.writeBatch([]);
      assert.deepEqual(await rows(), []);
      await sink.close();
      await sink.close();
    });
  });
}
