/**
 * Three nodes share one PostgreSQL journal, each writing its own keys in per-key sequence
 * and working its share of the partitions; every 1 to 2 s one of them, drawn at random, is
 * SIGKILLed and started again (resuming its keys after the last acknowledged seq). Once
 * the writes stop and everything drained, the history must hold: every acknowledged write
 * in the insert table exactly once, per key in seq order, every key of the upsert table at
 * its last write, and, watched all along, no key and no partition checkpoint ever going
 * back. Partitions of a killed node move to the others after about `leaseMs`, and no two
 * live nodes ever work one partition at once.
 *
 * The kills are drawn from a seeded generator: `SLUICE_SEED=<n>` replays the same choices.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { postgresForFile } from '../helpers/postgres.js';
import { mulberry32, testSeed } from '../helpers/seed.js';
import {
  Checks,
  handoversAfter,
  openCluster,
  overlaps,
  report,
  showEvents,
  spuriousLosses,
  summary,
  waitDrained,
  unreleasedAtClose,
  writesAfterRelease,
  type Handover,
} from '../helpers/cluster.js';
import {
  assertHistory,
  readInserted,
  readLatest,
  watchCheckpoints,
  watchLatest,
} from '../helpers/history.js';

const db = await postgresForFile();
const NAMES = ['a', 'b', 'c'];
const LEASE_MS = 2_000;
const KILLS = 12;

if (db.skip !== undefined) {
  test('cluster SIGKILL test', { skip: db.skip }, () => {});
} else {
  const { pool } = db;
  test(
    `three nodes keep every acknowledged write, once and in per-key order, across ${KILLS} SIGKILLs`,
    { timeout: 150_000 },
    async (t) => {
      const random = mulberry32(testSeed(t));
      const { cluster, journal, schema } = await openCluster(t, db, {
        partitions: 8,
        leaseMs: LEASE_MS,
      });
      const writer = { keys: 20, intervalMs: 100 };
      for (const name of NAMES) cluster.start(name, { writer });
      await Promise.all(NAMES.map((name) => cluster.ready(name)));
      await cluster.covered();
      const latest = watchLatest(pool, schema);
      const checkpoints = watchCheckpoints(pool, schema);

      // The victim is drawn among the nodes up and running (a process killed while it is
      // still loading tests nothing), and only while another one is up to take over.
      const up = (): string[] => {
        const events = cluster.events();
        return NAMES.filter((name) => {
          const { node } = cluster.process(name);
          return events.some((e) => e.node === node && e.event === 'ready');
        });
      };
      const kills: { node: string; at: number }[] = [];
      for (let i = 0; i < KILLS; i++) {
        await delay(1_000 + Math.floor(random() * 1_000));
        const candidates = await cluster.waitFor('two nodes up', () => {
          const names = up();
          return names.length >= 2 ? names : undefined;
        });
        const name = candidates[Math.floor(random() * candidates.length)] as string;
        const at = Date.now();
        const killed = await cluster.kill(name);
        kills.push({ node: killed.node, at });
        cluster.start(name, { writer });
      }
      await Promise.all(NAMES.map((name) => cluster.ready(name)));
      await cluster.stopWriters();
      const drain = await waitDrained(journal, pool, schema, () => cluster.acks(), 60_000);
      for (const name of NAMES) await cluster.terminate(name);
      const monotonic = [await latest.stop(), await checkpoints.stop()];

      const acks = cluster.acks();
      const inserted = await readInserted(pool, schema);
      const events = cluster.events();
      t.diagnostic(
        `${acks.length} acknowledged writes, ${inserted.length} rows delivered, ${kills.length} kills, ` +
          `drained in ${drain.ms} ms after the writes (${drain.drained ? 'all' : `NOT: ${drain.delivered}/${drain.acked}`})`,
      );
      const failures = events.filter((e) => /failed|error/.test(e.event));
      report(t, `failure events: ${failures.length}\n${showEvents(failures.slice(0, 20))}`);

      const latestRows = await readLatest(pool, schema);
      const handovers: (Handover & { at: number })[] = kills.flatMap((k) =>
        handoversAfter(events, k.node, k.at).map((h) => ({ ...h, at: k.at })),
      );
      report(t, `SIGKILL handover (leaseMs ${LEASE_MS}): ${summary(handovers.map((h) => h.ms))}`);
      const late = writesAfterRelease(events);
      report(
        t,
        `sink writes after a lost lease: ${late.afterLost.length}\n${late.afterLost.slice(0, 5).join('\n')}`,
      );

      const checks = new Checks(t);
      checks.check(
        'history: every acknowledged write once, in order, latest values, no regression',
        () => assertHistory({ acks, inserted, latest: latestRows, monotonic }),
      );
      checks.check('drained', () => assert.ok(drain.drained, JSON.stringify(drain.stats.leases)));
      checks.check(
        'the partitions of a SIGKILLed node move to the others about leaseMs later',
        () => {
          for (const h of handovers) {
            // A node killed meanwhile (the restarted one, say) may have been the partition's
            // next owner: its lease or heartbeat has to expire too.
            const meanwhile = kills.filter((k) => k.at > h.at && k.at < h.at + h.ms).length;
            assert.ok(
              h.ms <= 2 * LEASE_MS + 3_000 + meanwhile * 2 * LEASE_MS,
              `partition ${h.partition} of SIGKILLed ${h.from} taken over after ${h.ms} ms (by ${h.to})\n${showEvents(events.filter((e) => e.partition === h.partition))}`,
            );
          }
        },
      );
      checks.check('no two live nodes work one partition at once', () =>
        assert.deepEqual(overlaps(events, 100), []),
      );
      checks.check('a handed-over partition is finished before it is released', () =>
        assert.deepEqual(late.afterHandover, []),
      );
      checks.check('close() releases every partition the node works', () =>
        assert.deepEqual(unreleasedAtClose(events), []),
      );
      checks.check('a live node loses no lease that nobody took from it', () =>
        assert.deepEqual(spuriousLosses(events), []),
      );
      checks.check(
        'the run tested something: writes under the kills, the tables watched all along',
        () => {
          assert.ok(acks.length > 500, `${acks.length} acknowledged writes`);
          for (const m of monotonic) assert.ok(m.looks > 20, `${m.what}: ${m.looks} looks`);
        },
      );
      checks.done();
    },
  );
}
