/**
 * A node frozen (SIGSTOP) past its lease while it holds partitions, its sink writes in
 * flight: the others take its partitions over; when it is continued (SIGCONT), it finds
 * its leases gone and stops them as `lost`, its late checkpoint commits are refused (the
 * commit is fenced by the lease epoch), its late sink writes change nothing (the insert
 * table's ids, the upsert table's version guard), and no checkpoint, epoch or key goes back.
 *
 * The fence itself is also tested on the journal directly: a commit under an epoch that was
 * taken over is refused with LeaseLostError and moves nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { LeaseLostError } from '../../src/index.js';
import { postgresForFile } from '../helpers/postgres.js';
import {
  Checks,
  handoversAfter,
  openCluster,
  overlaps,
  report,
  showEvents,
  summary,
  waitDrained,
  unreleasedAtClose,
  writesAfterRelease,
} from '../helpers/cluster.js';
import {
  assertHistory,
  readInserted,
  readLatest,
  watchCheckpoints,
  watchLatest,
} from '../helpers/history.js';

const db = await postgresForFile();
const LEASE_MS = 2_000;
const NAMES = ['a', 'b', 'c'];

if (db.skip !== undefined) {
  test('cluster SIGSTOP test', { skip: db.skip }, () => {});
} else {
  const { pool } = db;

  test('.commitPartition() under an epoch taken over is refused with LeaseLostError and moves nothing', async (t) => {
    const { journal, schema } = await openCluster(t, db, { partitions: 2, leaseMs: LEASE_MS });
    const consumer = 'fence';
    await journal.heartbeat(consumer, 'old', 1_000);
    const [position] = await journal.append([{ key: 'k', payload: 1 }]);
    const partition = journal.partitionOf('k');
    const old = await journal.takeLease(consumer, partition, 'old', 200);
    assert.ok(old);
    await delay(400); // expired
    const fresh = await journal.takeLease(consumer, partition, 'new', 10_000);
    assert.ok(fresh);
    assert.equal(fresh.epoch, old.epoch + 1);
    const { rows } = await pool.query<{ tx: string }>(
      `SELECT tx::text AS tx FROM ${schema}.entries WHERE position = $1`,
      [position],
    );
    const cursor = { tx: rows[0]?.tx as string, position: position as number };
    await assert.rejects(journal.commitPartition(consumer, 'old', old, cursor), LeaseLostError);
    assert.deepEqual(await journal.renewLeases(consumer, 'old', [old], 10_000), []);
    const stats = await journal.clusterStats(consumer);
    const lease = stats.leases[partition];
    assert.equal(lease?.checkpoint, 0, 'the refused commit moved nothing');
    assert.equal(lease?.owner, 'new');
    await journal.commitPartition(consumer, 'new', fresh, cursor);
    assert.equal((await journal.clusterStats(consumer)).leases[partition]?.checkpoint, position);
  });

  test(
    'a node SIGSTOPped past its lease loses its partitions; after SIGCONT its late work is fenced and nothing goes back',
    { timeout: 120_000 },
    async (t) => {
      const { cluster, journal, schema } = await openCluster(t, db, {
        partitions: 8,
        leaseMs: LEASE_MS,
      });
      const writer = { keys: 20, intervalMs: 100 };
      // a's sink is slow, so batches are in flight when it is frozen.
      cluster.start('a', { writer, sinkDelayMs: 300 });
      cluster.start('b', { writer });
      cluster.start('c', { writer });
      await Promise.all(NAMES.map((name) => cluster.ready(name)));
      await cluster.covered();
      const latest = watchLatest(pool, schema);
      const checkpoints = watchCheckpoints(pool, schema);
      await delay(1_500);

      const a = cluster.process('a').node;
      const { rows: held } = await pool.query<{ part: number; epoch: string }>(
        `SELECT part, epoch FROM ${schema}.leases WHERE owner = $1 AND expires_at > now() ORDER BY part`,
        [a],
      );
      assert.ok(held.length > 0, `${a} holds partitions to lose (it holds ${held.length})`);
      const stoppedAt = Date.now();
      cluster.signal('a', 'SIGSTOP');
      await cluster.waitFor(
        `${a}'s partitions taken over`,
        (events) =>
          held.every(({ part }) =>
            events.some(
              (e) =>
                e.event === 'acquired' && e.partition === part && e.node !== a && e.t > stoppedAt,
            ),
          ),
        3 * LEASE_MS + 10_000,
      );
      await delay(1_000); // the new owners move the checkpoints on
      const { rows: during } = await pool.query<{ part: number; owner: string; epoch: string }>(
        `SELECT part, owner, epoch FROM ${schema}.leases WHERE part = ANY($1::int[]) ORDER BY part`,
        [held.map((h) => h.part)],
      );
      const resumedAt = Date.now();
      cluster.signal('a', 'SIGCONT');
      await cluster.waitFor(
        `${a} letting its partitions go after SIGCONT`,
        (events) =>
          held.every(({ part }) =>
            events.some(
              (e) =>
                e.node === a && e.event === 'released' && e.partition === part && e.t >= resumedAt,
            ),
          ),
        10_000,
      );
      await delay(3_000); // a rejoins; its late writes land
      await cluster.stopWriters();
      const drain = await waitDrained(journal, pool, schema, () => cluster.acks(), 60_000);
      for (const name of NAMES) await cluster.terminate(name);
      const monotonic = [await latest.stop(), await checkpoints.stop()];

      const events = cluster.events();
      const acks = cluster.acks();
      const inserted = await readInserted(pool, schema);
      const latestRows = await readLatest(pool, schema);
      const frozen = resumedAt - stoppedAt;
      const takeover = handoversAfter(events, a, stoppedAt);
      const afterResume = events.filter((e) => e.node === a && e.t >= resumedAt);
      const late = writesAfterRelease(events);
      report(
        t,
        `${a} frozen ${frozen} ms holding partitions ${JSON.stringify(held)}; taken over after ${summary(takeover.map((h) => h.ms))}\n` +
          `leases while it was frozen: ${JSON.stringify(during)}\n` +
          `${a} after SIGCONT:\n${showEvents(afterResume.filter((e) => e.event !== 'owned').slice(0, 30))}\n` +
          `late sink writes after a lost lease: ${late.afterLost.length}\n${late.afterLost.slice(0, 10).join('\n')}\n` +
          `${acks.length} acknowledged writes; drained: ${drain.drained} in ${drain.ms} ms`,
      );

      const checks = new Checks(t);
      checks.check(
        'history: every acknowledged write once, in order, latest values, no regression',
        () => assertHistory({ acks, inserted, latest: latestRows, monotonic }),
      );
      checks.check('drained', () => assert.ok(drain.drained, JSON.stringify(drain.stats.leases)));
      checks.check(
        `the others took ${a}'s partitions over while it was frozen, at a higher epoch`,
        () => {
          for (const { part, epoch } of held) {
            const now = during.find((d) => d.part === part);
            assert.ok(
              now !== undefined && now.owner !== a,
              `partition ${part} left ${a}: ${JSON.stringify(now)}`,
            );
            assert.ok(
              Number(now.epoch) > Number(epoch),
              `partition ${part}: epoch ${now.epoch} > ${epoch}`,
            );
          }
        },
      );
      checks.check(`${a} let every partition go as lost once continued, not as a handover`, () => {
        for (const { part } of held) {
          const release = afterResume.find((e) => e.event === 'released' && e.partition === part);
          assert.equal(release?.reason, 'lost', `partition ${part}: ${JSON.stringify(release)}`);
        }
      });
      checks.check(
        `${a}'s late checkpoint commits changed nothing (checkpoints and epochs never went back)`,
        () => {
          assert.deepEqual(monotonic[1]?.regressions ?? [], []);
        },
      );
      checks.check(
        'no two live nodes worked one partition at once (the frozen tenures aside)',
        () =>
          assert.deepEqual(
            overlaps(events, 100, (x) => x.node === a && x.from < resumedAt),
            [],
          ),
      );
      checks.check('a handed-over partition is finished before it is released', () =>
        assert.deepEqual(late.afterHandover, []),
      );
      checks.check('close() releases every partition the node works', () =>
        assert.deepEqual(unreleasedAtClose(events), []),
      );
      checks.check('the run tested something', () => {
        assert.ok(acks.length > 1_000, `${acks.length} acknowledged writes`);
        for (const m of monotonic) assert.ok(m.looks > 20, `${m.what}: ${m.looks} looks`);
      });
      checks.done();
    },
  );
}
