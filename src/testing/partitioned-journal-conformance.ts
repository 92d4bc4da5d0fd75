/**
 * The partitioned journal conformance suite: what every {@link PartitionedJournal} backend
 * must do, as node:test tests. A backend's test file calls it with a harness:
 *
 * ```ts
 * const clock = new ManualClock();
 * partitionedJournalConformance('MemoryPartitionedJournal', {
 *   open: async () => new MemoryPartitionedJournal({ partitions: 4, clock }),
 *   connect: async (j) => (j as MemoryPartitionedJournal).connect(),
 *   expire: () => clock.advance(3_600_000),
 * });
 * ```
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClosedError, InputError, LeaseLostError } from '../errors.js';
import type { JournalEntry, JournalRecord } from '../journal/journal.js';
import {
  PARTITION_START,
  partitionOfKey,
  type PartitionCursor,
  type PartitionedJournal,
} from '../journal/partitioned-journal.js';

/** An append that commits later (the outbox's transaction), for the late-commit test. */
export interface LateAppend {
  /** Appends inside the open transaction. */
  append(records: readonly JournalRecord[]): Promise<number[]>;
  /** Commits the transaction. */
  commit(): Promise<void>;
  /** Rolls it back. */
  rollback(): Promise<void>;
}

/** How the suite gets partitioned journals of the backend under test. */
export interface PartitionedJournalHarness {
  /** A fresh, empty journal (any partition count). */
  open(): Promise<PartitionedJournal>;
  /** Another handle onto the same journal, as a second node opens it; omit if there is none. */
  connect?(journal: PartitionedJournal): Promise<PartitionedJournal>;
  /** Makes every lease and heartbeat of `consumer` expire, by the backend's own clock. */
  expire(journal: PartitionedJournal, consumer: string): Promise<void>;
  /** Begins an append that commits later; omit for a backend whose appends commit at once. */
  begin?(journal: PartitionedJournal): Promise<LateAppend>;
}

const TTL = 60_000;
const rec = (
  key: string,
  payload: JournalRecord['payload'],
  extra: Partial<JournalRecord> = {},
) => ({ key, payload, ...extra });

/** `n` keys that land in `partition`. */
function keysIn(j: PartitionedJournal, partition: number, n: number, prefix = 'k'): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) {
    if (j.partitionOf(`${prefix}${i}`) === partition) keys.push(`${prefix}${i}`);
  }
  return keys;
}

/** Every entry of every partition, read the way a reader does (from its cursor, in pages). */
async function readAll(
  j: PartitionedJournal,
  partition: number,
  from: PartitionCursor = PARTITION_START,
  limit = 1000,
): Promise<{ entries: JournalEntry[]; cursor: PartitionCursor }> {
  const entries: JournalEntry[] = [];
  let cursor = from;
  for (;;) {
    const read = await j.readPartition(partition, cursor, { limit });
    assert.equal(read.cursors.length, read.entries.length, 'a cursor per entry');
    entries.push(...read.entries);
    if (read.entries.length === 0) return { entries, cursor };
    cursor = read.cursors[read.cursors.length - 1] as PartitionCursor;
  }
}

async function everything(j: PartitionedJournal): Promise<JournalEntry[]> {
  const all: JournalEntry[] = [];
  for (let p = 0; p < j.partitions; p++) all.push(...(await readAll(j, p)).entries);
  return all;
}

/** Resolves once `check` holds; fails after 5 s (a notification that never came). */
async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not seen within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function withJournal(
  harness: PartitionedJournalHarness,
  fn: (j: PartitionedJournal) => Promise<void>,
): Promise<void> {
  const journal = await harness.open();
  try {
    await fn(journal);
  } finally {
    await journal.close();
  }
}

/**
 * Registers the partitioned journal conformance tests (node:test `describe`/`test`) for the
 * backend that `harness` opens: every promise of {@link PartitionedJournal}, checked.
 */
export function partitionedJournalConformance(
  name: string,
  harness: PartitionedJournalHarness,
): void {
  describe(`PartitionedJournal conformance: ${name}`, () => {
    test('a key always maps to one partition, the same one partitionOfKey gives', () =>
      withJournal(harness, (j) => {
        assert.ok(Number.isSafeInteger(j.partitions) && j.partitions >= 1);
        const seen = new Set<number>();
        for (let i = 0; i < 500; i++) {
          const p = j.partitionOf(`key-${i}`);
          assert.equal(p, partitionOfKey(`key-${i}`, j.partitions));
          assert.equal(j.partitionOf(`key-${i}`), p);
          seen.add(p);
        }
        assert.equal(seen.size, j.partitions, '500 keys reach every partition');
        return Promise.resolve();
      }));

    test('.append() resolves with increasing positions; an id already in the journal is not written again', () =>
      withJournal(harness, async (j) => {
        const [a1, a2] = (await j.append([rec('a', 1), rec('b', 2)])) as [number, number];
        assert.ok(a1 >= 1 && a2 > a1);
        const [x] = (await j.append([rec('a', 3, { id: 'x' })])) as [number];
        assert.ok(x > a2);
        const [again, fresh] = (await j.append([rec('z', 'dup', { id: 'x' }), rec('a', 4)])) as [
          number,
          number,
        ];
        assert.equal(again, x, 'the first position of id x');
        assert.ok(fresh > x);
        const [y1, y2] = (await j.append([rec('c', 5, { id: 'y' }), rec('c', 6, { id: 'y' })])) as [
          number,
          number,
        ];
        assert.equal(y1, y2, 'one id twice in one call: written once');
        assert.deepEqual(await j.append([]), []);
        const all = await everything(j);
        assert.deepEqual(
          all.map((e) => e.position).sort((p, q) => p - q),
          [a1, a2, x, fresh, y1],
        );
        assert.equal(all.find((e) => e.id === 'x')?.payload, 3);
        assert.equal((await j.stats()).head, y1);
      }));

    test('appends made together all land, and each key reads back in the order they were made', () =>
      withJournal(harness, async (j) => {
        const calls = Array.from({ length: 60 }, (_, i) => j.append([rec(`k${i % 7}`, i)]));
        const positions = (await Promise.all(calls)).flat();
        assert.equal(new Set(positions).size, 60);
        const all = await everything(j);
        assert.equal(all.length, 60);
        for (let k = 0; k < 7; k++) {
          const mine = all.filter((e) => e.key === `k${k}`).map((e) => e.payload as number);
          assert.deepEqual(
            mine,
            Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 7 === k),
            `key k${k}`,
          );
        }
      }));

    test('.readPartition() returns its partition only, in order, with content and cursors; resumes after a cursor; honours limit and maxBytes', () =>
      withJournal(harness, async (j) => {
        const bytes = new Uint8Array([0, 1, 254, 255]);
        const before = Date.now();
        const records = [
          rec('acct-1', { balance: 10, tags: ['a'], none: null }, { type: 'set', id: 'w1' }),
          rec('acct-2', 'plain'),
          rec('acct-1', bytes, { type: 'blob' }),
          rec('acct-3', 42.5, { version: 7, origin: 'elsewhere:1' }),
          rec('acct-1', 'x'.repeat(300)),
          rec('acct-1', 'y'),
        ];
        const positions = await j.append(records);
        const all = await everything(j);
        assert.equal(all.length, records.length);
        for (let p = 0; p < j.partitions; p++) {
          for (const e of (await readAll(j, p)).entries) assert.equal(j.partitionOf(e.key), p);
        }
        const at = (i: number) => all.find((e) => e.position === positions[i]) as JournalEntry;
        assert.deepEqual(
          { key: at(0).key, type: at(0).type, id: at(0).id, payload: at(0).payload },
          {
            key: 'acct-1',
            type: 'set',
            id: 'w1',
            payload: { balance: 10, tags: ['a'], none: null },
          },
        );
        assert.equal(at(1).type, undefined);
        assert.equal(at(1).id, undefined);
        assert.ok(at(2).payload instanceof Uint8Array);
        assert.deepEqual([...(at(2).payload as Uint8Array)], [...bytes]);
        assert.deepEqual([at(3).version, at(3).origin], [7, 'elsewhere:1']);
        assert.ok(at(1).version > at(0).version, 'versions grow with positions');
        assert.ok(
          at(0).version >= (before - 3_600_000) * 1000,
          'versions count from the wall clock × 1000, so a journal created later continues above an older one',
        );
        assert.ok(Math.abs(at(0).appendedAt - Date.now()) < 60_000);
        assert.equal(at(4).bytes, 302, 'bytes: characters of the JSON text');

        const p = j.partitionOf('acct-1');
        const { entries } = await readAll(j, p);
        const ones = entries.filter((e) => e.key === 'acct-1').map((e) => e.position);
        assert.deepEqual(ones, [positions[0], positions[2], positions[4], positions[5]]);
        const first = await j.readPartition(p, PARTITION_START, { limit: 1 });
        assert.equal(first.entries.length, 1);
        const rest = await readAll(j, p, first.cursors[0]);
        assert.deepEqual(
          [first.entries[0], ...rest.entries].map((e) => e?.position),
          entries.map((e) => e.position),
          'a cursor resumes right after its entry',
        );
        assert.deepEqual(
          (await j.readPartition(p, rest.cursor, { limit: 10 })).entries,
          [],
          'nothing past the last cursor',
        );
        // maxBytes: stop before the bound, but always return the first entry.
        const big = entries.findIndex((e) => e.bytes === 302);
        const fromBig =
          big === 0
            ? PARTITION_START
            : (await j.readPartition(p, PARTITION_START, { limit: big })).cursors[big - 1];
        const bounded = await j.readPartition(p, fromBig as PartitionCursor, {
          limit: 10,
          maxBytes: 10,
        });
        assert.deepEqual(
          bounded.entries.map((e) => e.bytes),
          [302],
        );
        const bound = 2 * at(0).bytes + 10;
        const small = await j.readPartition(p, PARTITION_START, { limit: 10, maxBytes: bound });
        const total = small.entries.reduce((sum, e) => sum + e.bytes, 0);
        const next = entries[small.entries.length];
        assert.ok(small.entries.length >= 1 && total <= bound);
        assert.ok(
          next === undefined || total + next.bytes > bound,
          'stops only when the next would not fit',
        );
      }));

    const begin = harness.begin?.bind(harness);
    if (begin !== undefined) {
      test('an entry whose append commits late is delivered once, before what was appended after it began', () =>
        withJournal(harness, async (j) => {
          const [key] = keysIn(j, 0, 1);
          const late = await begin(j);
          await late.append([rec(key as string, 'late')]);
          await j.append([rec(key as string, 'after')]);
          const seen: JournalEntry[] = [];
          const early = await readAll(j, 0);
          seen.push(...early.entries);
          await late.commit();
          seen.push(...(await readAll(j, 0, early.cursor)).entries);
          assert.deepEqual(
            seen.map((e) => e.payload),
            ['late', 'after'],
            'a reader that had read on must not skip the late entry',
          );

          const dropped = await begin(j);
          await dropped.append([rec(key as string, 'rolled back')]);
          await dropped.rollback();
          await j.append([rec(key as string, 'last')]);

          // An id held by an open transaction: a second append of it waits for the end, and
          // after a rollback it is written.
          const holding = await begin(j);
          await holding.append([rec(key as string, 'held', { id: 'contested' })]);
          const second = j.append([rec(key as string, 'kept', { id: 'contested' })]);
          await new Promise((resolve) => setTimeout(resolve, 50));
          await holding.rollback();
          const [kept] = (await second) as [number];
          const all = await everything(j);
          assert.equal(all.find((e) => e.position === kept)?.payload, 'kept');
          assert.deepEqual(
            all.map((e) => e.payload),
            ['late', 'after', 'last', 'kept'],
            'a rolled-back append leaves nothing',
          );
        }));
    }

    test('a lease has one holder at a time; every take grows the epoch; a holder that lost it can neither commit nor renew', () =>
      withJournal(harness, async (j) => {
        const c = 'mailer';
        await j.heartbeat(c, 'n1', TTL);
        await j.heartbeat(c, 'n2', TTL);
        await j.append(keysIn(j, 0, 3).map((k, i) => rec(k, i)));
        const { entries, cursor } = await readAll(j, 0);
        assert.equal(entries.length, 3);

        const l1 = await j.takeLease(c, 0, 'n1', TTL);
        assert.ok(l1 !== undefined && l1.epoch >= 1 && l1.partition === 0);
        assert.deepEqual(l1.checkpoint, PARTITION_START);
        assert.equal(await j.takeLease(c, 0, 'n2', TTL), undefined, 'taken while live');
        assert.deepEqual(await j.renewLeases(c, 'n1', [l1], TTL), [0]);
        assert.deepEqual(await j.renewLeases(c, 'n2', [l1], TTL), [], 'not n2’s to renew');
        await j.commitPartition(c, 'n1', l1, cursor);

        await harness.expire(j, c);
        const l2 = await j.takeLease(c, 0, 'n2', TTL);
        assert.ok(l2 !== undefined && l2.epoch > l1.epoch, 'a takeover grows the epoch');
        assert.deepEqual(l2.checkpoint, cursor, 'reading resumes at the checkpoint');
        await assert.rejects(
          j.commitPartition(c, 'n1', l1, PARTITION_START),
          (e: unknown) => e instanceof LeaseLostError && e.partition === 0 && e.epoch === l1.epoch,
        );
        assert.deepEqual(await j.renewLeases(c, 'n1', [l1], TTL), []);
        await j.releaseLease(c, 'n1', l1);
        assert.equal(
          await j.takeLease(c, 0, 'n3', TTL),
          undefined,
          'a stale release frees nothing',
        );

        await j.releaseLease(c, 'n2', l2);
        const l3 = await j.takeLease(c, 0, 'n3', TTL);
        assert.ok(l3 !== undefined && l3.epoch > l2.epoch, 'free at once after a release');
        assert.deepEqual(l3.checkpoint, cursor);
        const l4 = await j.takeLease(c, 0, 'n3', TTL);
        assert.ok(l4 !== undefined && l4.epoch > l3.epoch, 'taking one’s own lease again grows it');
        await assert.rejects(j.commitPartition(c, 'n3', l3, cursor), LeaseLostError);
        await j.commitPartition(c, 'n3', l4, cursor);
      }));

    test('a consumer no node has sent a heartbeat for has no leases to take; an expired lease nobody took still commits', () =>
      withJournal(harness, async (j) => {
        assert.equal(await j.takeLease('c', 0, 'early', TTL), undefined);
        await j.heartbeat('c', 'n1', TTL);
        const lease = await j.takeLease('c', 0, 'n1', TTL);
        assert.ok(lease !== undefined, 'the early call left the partition free');
        await j.append([rec(keysIn(j, 0, 1)[0] as string, 1)]);
        const { cursor } = await readAll(j, 0);
        await harness.expire(j, 'c');
        // Nobody else can have worked the partition: its holder's commit still counts.
        await j.commitPartition('c', 'n1', lease, cursor);
        assert.deepEqual(await j.renewLeases('c', 'n1', [lease], TTL), [0]);
        assert.equal(await j.takeLease('c', 0, 'n2', TTL), undefined, 'renewed: live again');
      }));

    test('consumers are independent: their own leases and checkpoints', () =>
      withJournal(harness, async (j) => {
        await j.heartbeat('a', 'n1', TTL);
        await j.heartbeat('b', 'n2', TTL);
        await j.append([rec(keysIn(j, 0, 1)[0] as string, 1)]);
        const { cursor } = await readAll(j, 0);
        const la = await j.takeLease('a', 0, 'n1', TTL);
        const lb = await j.takeLease('b', 0, 'n2', TTL);
        assert.ok(la !== undefined && lb !== undefined);
        await j.commitPartition('a', 'n1', la, cursor);
        await j.releaseLease('a', 'n1', la);
        await j.releaseLease('b', 'n2', lb);
        assert.deepEqual((await j.takeLease('a', 0, 'n1', TTL))?.checkpoint, cursor);
        assert.deepEqual((await j.takeLease('b', 0, 'n2', TTL))?.checkpoint, PARTITION_START);
      }));

    test('heartbeats list the live nodes; leave removes one at once; an expired one drops out', () =>
      withJournal(harness, async (j) => {
        assert.deepEqual(await j.heartbeat('c', 'n1', TTL), ['n1']);
        assert.deepEqual((await j.heartbeat('c', 'n2', TTL)).sort(), ['n1', 'n2']);
        assert.deepEqual(await j.heartbeat('other', 'm1', TTL), ['m1'], 'per consumer');
        await j.leave('c', 'n1');
        assert.deepEqual(await j.heartbeat('c', 'n2', TTL), ['n2']);
        await harness.expire(j, 'c');
        assert.deepEqual(await j.heartbeat('c', 'n3', TTL), ['n3']);
      }));

    test('onAppend names the partitions an append touched; onMembership fires on join, leave and release; unsubscribing stops them', () =>
      withJournal(harness, async (j) => {
        const woke: number[][] = [];
        const stop = j.onAppend((partitions) => woke.push([...partitions]));
        const last = j.partitions - 1;
        await j.append([rec(keysIn(j, last, 1)[0] as string, 1)]);
        await eventually('the append notification', () => woke.length > 0);
        assert.deepEqual(woke, [[last]], 'the touched partition, and only it');
        // An append whose ids are all known writes nothing and wakes nobody.
        await j.append([rec('dup', 1, { id: 'only-once' })]);
        await eventually('the first append of an id', () => woke.length > 1);
        await j.append([rec('dup', 2, { id: 'only-once' })]);
        await j.append([rec(keysIn(j, 0, 1)[0] as string, 3)]);
        await eventually('the next append', () => woke.length > 2);
        assert.deepEqual(woke.slice(2), [[0]], 'nothing for the append that wrote nothing');
        const membership: string[] = [];
        const stopMembers = j.onMembership(() => membership.push('changed'));
        await j.heartbeat('c', 'n1', TTL);
        await eventually('a join', () => membership.length >= 1);
        const lease = await j.takeLease('c', 0, 'n1', TTL);
        const joined = membership.length;
        await j.releaseLease('c', 'n1', lease as NonNullable<typeof lease>);
        await eventually('a release', () => membership.length > joined);
        const released = membership.length;
        await j.leave('c', 'n1');
        await eventually('a leave', () => membership.length > released);
        // A node back after its heartbeat expired has joined again: the others rebalance.
        await j.heartbeat('c', 'n3', TTL);
        await eventually('n3 joining', () => membership.length > released + 1);
        await harness.expire(j, 'c');
        const expired = membership.length;
        await j.heartbeat('c', 'n3', TTL);
        await eventually('n3 back after expiring', () => membership.length > expired);
        // A stale release changes nothing and tells nobody.
        const stale = membership.length;
        await j.releaseLease('c', 'n1', lease as NonNullable<typeof lease>);
        await j.heartbeat('c', 'n4', TTL);
        await eventually('n4 joining', () => membership.length > stale);
        assert.equal(membership.length, stale + 1, 'one call: the join, not the stale release');

        stop();
        stopMembers();
        const after: string[] = [];
        const probe = j.onMembership(() => after.push('changed'));
        const count = woke.length;
        const members = membership.length;
        await j.append([rec('again', 2)]);
        await j.heartbeat('c', 'n2', TTL);
        await eventually('a later join, to a listener still subscribed', () => after.length > 0);
        probe();
        assert.equal(woke.length, count, 'no append notification after unsubscribing');
        assert.equal(membership.length, members, 'no membership call after unsubscribing');
        // Subscribing again after the last listener left still hears appends.
        const again: number[][] = [];
        const resubscribed = j.onAppend((ps) => again.push([...ps]));
        await j.append([rec(keysIn(j, last, 1)[0] as string, 4)]);
        await eventually('an append, to a listener subscribed again', () => again.length > 0);
        resubscribed();
      }));

    test('trimming deletes only what every consumer has committed past, in bounded steps', () =>
      withJournal(harness, async (j) => {
        const [key] = keysIn(j, 0, 1) as [string];
        await j.append(Array.from({ length: 6 }, (_, i) => rec(key, i)));
        const { entries } = await readAll(j, 0);
        const cursors = (await j.readPartition(0, PARTITION_START, { limit: 6 })).cursors;
        const at = (i: number) => cursors[i] as PartitionCursor;
        assert.equal(
          await j.trimPartition(0, at(5), 100),
          0,
          'no consumer yet: nothing is handled',
        );
        await j.heartbeat('a', 'n1', TTL);
        await j.heartbeat('b', 'n2', TTL);
        const la = await j.takeLease('a', 0, 'n1', TTL);
        const lb = await j.takeLease('b', 0, 'n2', TTL);
        assert.equal(await j.trimPartition(0, at(5), 100), 0, 'nobody committed yet');
        await j.commitPartition('a', 'n1', la as NonNullable<typeof la>, at(3));
        await j.commitPartition('b', 'n2', lb as NonNullable<typeof lb>, at(1));
        assert.equal(await j.trimPartition(0, at(5), 100), 2, 'behind b, the lowest');
        assert.deepEqual(
          (await readAll(j, 0)).entries.map((e) => e.payload),
          [2, 3, 4, 5],
        );
        await j.commitPartition('b', 'n2', lb as NonNullable<typeof lb>, at(4));
        assert.equal(await j.trimPartition(0, at(5), 1), 1, 'at most max');
        assert.equal(await j.trimPartition(0, at(2), 100), 0, 'never past upTo');
        assert.equal(await j.trimPartition(0, at(5), 100), 1, 'up to a, now the lowest');
        assert.deepEqual(
          (await readAll(j, 0)).entries.map((e) => e.position),
          entries.slice(4).map((e) => e.position),
        );
      }));

    test('entryState: pending until the checkpoint passes an entry, then done or dead-lettered with why; unknown for none; pendingUpTo counts down to 0', () =>
      withJournal(harness, async (j) => {
        const c = 'c';
        await j.heartbeat(c, 'n1', TTL);
        const [key] = keysIn(j, 0, 1) as [string];
        const [p1, p2] = (await j.append([rec(key, 1), rec(key, 2)])) as [number, number];
        const { cursors } = await j.readPartition(0, PARTITION_START, { limit: 2 });
        const lease = await j.takeLease(c, 0, 'n1', TTL);
        assert.ok(lease !== undefined);
        assert.deepEqual(await j.entryState(c, p1), { state: 'pending' });
        assert.equal(await j.pendingUpTo(c, p2), 1, 'one partition holds them');
        assert.equal(
          await j.pendingUpTo('nobody-yet', p2),
          1,
          'a consumer without leases starts at 0',
        );
        await j.commitPartition(c, 'n1', lease, cursors[0] as PartitionCursor);
        assert.deepEqual(await j.entryState(c, p1), { state: 'done' });
        assert.deepEqual(await j.entryState(c, p2), { state: 'pending' });
        assert.equal(await j.pendingUpTo(c, p1), 0);
        assert.equal(await j.pendingUpTo(c, p2), 1);
        await j.deadLetters().add([
          {
            position: p2,
            entryId: 'e2',
            key,
            payload: 2,
            version: 1,
            error: 'refused: bad row',
            attempts: 3,
          },
        ]);
        await j.commitPartition(c, 'n1', lease, cursors[1] as PartitionCursor);
        assert.deepEqual(await j.entryState(c, p2), {
          state: 'deadLettered',
          error: 'refused: bad row',
        });
        assert.equal(await j.pendingUpTo(c, p2), 0);
        assert.deepEqual(await j.entryState(c, p2 + 1000), { state: 'unknown' });
      }));

    test('stats and clusterStats report the head, the nodes, each partition’s owner, epoch, checkpoint and lag', () =>
      withJournal(harness, async (j) => {
        const c = 'c';
        const [k1, k2, k3] = keysIn(j, 0, 3) as [string, string, string];
        const positions = await j.append([rec(k1, 1), rec(k2, 2), rec(k3, 3)]);
        const head = Math.max(...positions);
        await j.heartbeat(c, 'n1', TTL);
        const lease = await j.takeLease(c, 0, 'n1', TTL);
        const { cursors } = await j.readPartition(0, PARTITION_START, { limit: 1 });
        await j.commitPartition(
          c,
          'n1',
          lease as NonNullable<typeof lease>,
          cursors[0] as PartitionCursor,
        );
        const stats = await j.stats();
        assert.equal(stats.head, head);
        assert.equal(stats.entries, 3);
        assert.deepEqual(
          stats.consumers.find((x) => x.consumer === c),
          { consumer: c, position: j.partitions === 1 ? cursors[0]?.position : 0, lag: 2 },
        );
        const cluster = await j.clusterStats(c);
        assert.equal(cluster.consumer, c);
        assert.equal(cluster.partitions, j.partitions);
        assert.equal(cluster.head, head);
        assert.equal(cluster.leases.length, j.partitions);
        const p0 = cluster.leases[0];
        assert.equal(p0?.owner, 'n1');
        assert.equal(p0?.epoch, lease?.epoch);
        assert.ok((p0?.expiresInMs ?? 0) > 0 && (p0?.expiresInMs ?? 0) <= TTL);
        assert.equal(p0?.checkpoint, cursors[0]?.position);
        assert.equal(p0?.lag, 2);
        assert.deepEqual(
          cluster.nodes.map((n) => [n.node, n.partitions]),
          [['n1', [0]]],
        );
        assert.equal(cluster.deadLetters, 0);
      }));

    test('bad arguments are refused with InputError at the call', () =>
      withJournal(harness, async (j) => {
        const input = (e: unknown) => e instanceof InputError && e.code === 'ERR_SLUICE_INPUT';
        const P = j.partitions;
        const lease = { partition: 0, epoch: 1, checkpoint: PARTITION_START };
        await assert.rejects(j.append([rec('', 1)]), input);
        await assert.rejects(j.readPartition(-1, PARTITION_START, { limit: 1 }), input);
        await assert.rejects(j.readPartition(P, PARTITION_START, { limit: 1 }), input);
        await assert.rejects(j.readPartition(0.5, PARTITION_START, { limit: 1 }), input);
        await assert.rejects(j.readPartition(0, { tx: 'x', position: 0 }, { limit: 1 }), input);
        await assert.rejects(j.readPartition(0, PARTITION_START, { limit: 0 }), input);
        await assert.rejects(j.heartbeat('', 'n', TTL), input);
        await assert.rejects(j.heartbeat('c', '', TTL), input);
        await assert.rejects(j.heartbeat('c', 'n', 0), input);
        await assert.rejects(j.takeLease('c', P, 'n', TTL), input);
        await assert.rejects(j.takeLease('c', 0, 'n', -5), input);
        await assert.rejects(j.renewLeases('c', 'n', [{ ...lease, epoch: 0 }], TTL), input);
        await assert.rejects(j.releaseLease('c', 'n', { ...lease, partition: P }), input);
        await assert.rejects(j.commitPartition('c', 'n', lease, { tx: '', position: 0 }), input);
        await assert.rejects(j.trimPartition(0, PARTITION_START, -1), input);
        await assert.rejects(j.entryState('', 1), input);
        await assert.rejects(j.pendingUpTo('c', -1), input);
        assert.equal((await j.stats()).entries, 0, 'nothing was written');
      }));

    test('.close() is idempotent and later calls reject with ClosedError', async () => {
      const j = await harness.open();
      await j.append([rec('a', 1)]);
      await j.close();
      await j.close();
      await assert.rejects(j.append([rec('a', 2)]), ClosedError);
      await assert.rejects(j.readPartition(0, PARTITION_START, { limit: 1 }), ClosedError);
      await assert.rejects(j.heartbeat('c', 'n', TTL), ClosedError);
      await assert.rejects(j.takeLease('c', 0, 'n', TTL), ClosedError);
      const lease = { partition: 0, epoch: 1, checkpoint: PARTITION_START };
      await assert.rejects(j.commitPartition('c', 'n', lease, PARTITION_START), ClosedError);
      await assert.rejects(j.stats(), ClosedError);
      assert.throws(() => j.onAppend(() => {}), ClosedError);
      assert.throws(() => j.onMembership(() => {}), ClosedError);
    });

    const connect = harness.connect?.bind(harness);
    if (connect !== undefined) {
      test('two handles share one journal: entries, notifications, leases and checkpoints cross between them', () =>
        withJournal(harness, async (j) => {
          const other = await connect(j);
          try {
            assert.equal(other.id, j.id);
            assert.equal(other.partitions, j.partitions);
            const woke: number[][] = [];
            const stop = other.onAppend((ps) => woke.push([...ps]));
            const [key] = keysIn(j, 0, 1) as [string];
            const [position] = await j.append([rec(key, 'from one')]);
            await eventually('the other handle’s notification', () =>
              woke.some((ps) => ps.length === 0 || ps.includes(0)),
            );
            stop();
            const read = await other.readPartition(0, PARTITION_START, { limit: 10 });
            assert.deepEqual(
              read.entries.map((e) => [e.position, e.payload]),
              [[position, 'from one']],
            );
            assert.deepEqual(
              await other.append([rec(key, 'again', { id: 'same' })]),
              await j.append([rec(key, 'x', { id: 'same' })]),
            );

            await j.heartbeat('c', 'n1', TTL);
            assert.deepEqual((await other.heartbeat('c', 'n2', TTL)).sort(), ['n1', 'n2']);
            const l1 = await j.takeLease('c', 0, 'n1', TTL);
            assert.equal(await other.takeLease('c', 0, 'n2', TTL), undefined);
            await j.commitPartition(
              'c',
              'n1',
              l1 as NonNullable<typeof l1>,
              read.cursors[0] as PartitionCursor,
            );
            await j.releaseLease('c', 'n1', l1 as NonNullable<typeof l1>);
            const l2 = await other.takeLease('c', 0, 'n2', TTL);
            assert.deepEqual(l2?.checkpoint, read.cursors[0]);
            await other.releaseLease('c', 'n2', l2 as NonNullable<typeof l2>);
            // Two nodes racing for a free partition: exactly one wins.
            const race = await Promise.all([
              j.takeLease('c', 0, 'n1', TTL),
              other.takeLease('c', 0, 'n2', TTL),
            ]);
            assert.equal(race.filter((l) => l !== undefined).length, 1);
          } finally {
            await other.close();
          }
        }));
    }
  });
}
