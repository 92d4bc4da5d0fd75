import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ManualClock,
  MemorySink,
  WriteBehind,
  onePartition,
  type ClusterWriteBehind,
  type PartitionedJournal,
} from '../../../src/index.js';
import { SqliteJournal } from '../../../src/adapters/sqlite/index.js';
import { partitionedJournalConformance } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/temp.js';

const dir = tempDir();
let n = 0;
const fresh = (): string => join(dir, `journal-${++n}.db`);
const clocks = new WeakMap<PartitionedJournal, ManualClock>();

partitionedJournalConformance('SqliteJournal as one partition', {
  open: async () => {
    const clock = new ManualClock();
    const journal = onePartition(await SqliteJournal.open(fresh()), { clock });
    clocks.set(journal, clock);
    return journal;
  },
  expire: (journal) => (clocks.get(journal) as ManualClock).advance(3_600_000),
});

test('another process holding the consumer keeps the partition taken; its release frees it', async () => {
  const path = fresh();
  const mine = onePartition(await SqliteJournal.open(path));
  // A second handle on the file stands for another process: its consumer hold is the fence.
  const theirs = onePartition(await SqliteJournal.open(path));
  try {
    await mine.heartbeat('c', 'here', 10_000);
    await theirs.heartbeat('c', 'there', 10_000);
    const lease = await theirs.takeLease('c', 0, 'there', 10_000);
    assert.ok(lease !== undefined);
    assert.equal(await mine.takeLease('c', 0, 'here', 10_000), undefined);
    await theirs.releaseLease('c', 'there', lease);
    assert.ok((await mine.takeLease('c', 0, 'here', 10_000)) !== undefined);
  } finally {
    await mine.close();
    await theirs.close();
  }
});

test('the cluster pipeline runs on a SQLite file as one partition, and a restart resumes at its checkpoint', async () => {
  const path = fresh();
  const sink = new MemorySink<{ n: number }>({ mode: 'insert' });
  const open = async () =>
    (await WriteBehind.open({
      journal: onePartition(await SqliteJournal.open(path)),
      sink,
      leaseMs: 2_000,
      node: 'solo',
    })) as ClusterWriteBehind<{ n: number }>;
  let wb = await open();
  await Promise.all(
    Array.from({ length: 10 }, async (_, key) => {
      for (let i = 0; i < 20; i++) await wb.write(`k${key}`, { n: i });
    }),
  );
  await wb.flush();
  assert.equal(sink.rows.size, 200);
  await wb.close();
  const batches = sink.batches.length;
  wb = await open();
  try {
    assert.deepEqual(wb.owned(), [0]);
    await wb.write('k0', { n: 20 });
    await wb.flush();
    const after = sink.batches.slice(batches).flat();
    assert.deepEqual(
      after.map((e) => e.value.n),
      [20],
      'nothing delivered before the restart comes again',
    );
  } finally {
    await wb.close();
  }
});
