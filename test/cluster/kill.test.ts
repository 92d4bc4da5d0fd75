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
  handoversAfter,
  openCluster,
  overlaps,
  showEvents,
  summary,
  waitDrained,
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
const WRITE_MS = 20_000;

if (db.skip !== undefined) {
  test('cluster SIGKILL test', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  test(
    `three nodes keep every acknowledged write, once and in per-key order, across ${KILLS} SIGKILLs`,
    { timeout: 150_000 },
    async (t) => {
      const random = mulberry32(testSeed(t));
      const { cluster, journal } = await openCluster(t, db, { partitions: 8, leaseMs: LEASE_MS });
      const writer = { keys: 20, intervalMs: 100, untilMs: Date.now() + WRITE_MS };
      for (const name of NAMES) cluster.start(name, { writer });
      await Promise.all(NAMES.map((name) => cluster.ready(name)));
      await cluster.covered();
      const latest = watchLatest(pool, schema);
      const checkpoints = watchCheckpoints(pool, schema);

      const kills: { node: string; at: number }[] = [];
      for (let i = 0; i < KILLS; i++) {
        await delay(1_000 + Math.floor(random() * 1_000));
        const name = NAMES[Math.floor(random() * NAMES.length)] as string;
        const at = Date.now();
        const killed = await cluster.kill(name);
        kills.push({ node: killed.node, at });
        cluster.start(name, { writer });
      }
      await Promise.all(NAMES.map((name) => cluster.ready(name)));
      await delay(Math.max(0, writer.untilMs - Date.now()));
      await cluster.waitFor('every writer done', (events) =>
        NAMES.every((name) => events.some((e) => e.node === cluster.process(name).node && e.event === 'writes:done')),
      );
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
      t.diagnostic(`failure events: ${failures.length}\n${showEvents(failures.slice(0, 20))}`);

      assertHistory({ acks, inserted, latest: await readLatest(pool, schema), monotonic });
      assert.ok(drain.drained, `drained: ${JSON.stringify(drain.stats.leases)}`);
      assert.ok(acks.length > 2_000, `the nodes wrote under the kills (${acks.length} acknowledged)`);
      for (const m of monotonic) assert.ok(m.looks > 20, `${m.what} watched all along (${m.looks} looks)`);

      // Partitions of a killed node go to the others about leaseMs later.
      const handovers: Handover[] = kills.flatMap((k) => handoversAfter(events, k.node, k.at));
      t.diagnostic(`SIGKILL handover (leaseMs ${LEASE_MS}): ${summary(handovers.map((h) => h.ms))}`);
      for (const h of handovers) {
        assert.ok(
          h.ms <= 2 * LEASE_MS + 3_000,
          `partition ${h.partition} of SIGKILLed ${h.from} taken over after ${h.ms} ms (by ${h.to})\n${showEvents(events.filter((e) => e.partition === h.partition))}`,
        );
      }
      assert.deepEqual(overlaps(events, 100), [], 'no two live nodes work one partition at once');
    },
  );
}
