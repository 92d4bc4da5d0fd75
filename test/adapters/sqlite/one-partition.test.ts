import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  LeaseLostError,
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

/** `journal` with some of its methods replaced. */
function overriding<J extends object>(journal: J, methods: Partial<Record<keyof J, unknown>>): J {
  return new Proxy(journal, {
    get(target, name) {
      if (name in methods) return methods[name as keyof J];
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

test('a failed look at the head is tried again, and then every listener is woken', async () => {
  const sqlite = await SqliteJournal.open(fresh());
  let failing = 2;
  const journal = onePartition(
    overriding(sqlite, {
      stats: () => (failing-- > 0 ? Promise.reject(new Error('disk I/O error')) : sqlite.stats()),
    }),
  );
  try {
    const woke: number[][] = [];
    journal.onAppend((partitions) => woke.push([...partitions]));
    // Two failed looks, then one that works: the listener hears of it (what happened
    // meanwhile is unknown), and of appends after.
    const deadline = Date.now() + 5_000;
    while (woke.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(woke.length > 0, 'woken after the failed looks');
    const before = woke.length;
    await journal.append([{ key: 'k', payload: 1 }]);
    while (woke.length === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(woke.length > before, 'and for the append after');
    assert.equal(failing, -1);
  } finally {
    await journal.close();
  }
});

test('a lease taken over while its holder’s commit was being written: the commit is refused', async () => {
  const clock = new ManualClock();
  const sqlite = await SqliteJournal.open(fresh());
  let open: () => void = () => {};
  let gated = false;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const journal = onePartition(
    overriding(sqlite, {
      commit: async (consumer: string, position: number) => {
        if (gated) await gate;
        return sqlite.commit(consumer, position);
      },
    }),
    { clock },
  );
  try {
    await journal.heartbeat('c', 'n1', 1_000);
    await journal.append([{ key: 'k', payload: 1 }]);
    const n1 = await journal.takeLease('c', 0, 'n1', 1_000);
    assert.ok(n1 !== undefined);
    gated = true;
    const committing = journal.commitPartition('c', 'n1', n1, { tx: '0', position: 1 });
    await clock.advance(5_000);
    const n2 = await journal.takeLease('c', 0, 'n2', 1_000);
    assert.ok(n2 !== undefined && n2.epoch > n1.epoch, 'n2 took it over');
    open();
    await assert.rejects(committing, LeaseLostError);
  } finally {
    open();
    await journal.close();
  }
});
