/**
 * Crash test with real processes and a real PostgreSQL: a child writes 100,000 entries over
 * 1,000 keys (each with its per-key sequence) through a SQLite journal into PostgreSQL and
 * prints each acknowledged write; we SIGKILL it at random moments 20 times, restarting it
 * each time from what it acknowledged. At the end the ledger holds every entry exactly once,
 * and per key the rows arrived in sequence order (order kept across crashes and redelivery).
 * Beside it, a version-guarded upsert table holds each key's newest entry: watched all the
 * while, no key ever goes back (a re-delivery after a crash is older than the row), and at
 * the end every key holds its last acknowledged value.
 *
 * The kill points are drawn from a seeded generator; the seed is printed as `seed=<n>`, and
 * `SLUICE_SEED=<n>` replays the same kill points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { postgresForFile } from '../helpers/postgres.js';
import { mulberry32, testSeed } from '../helpers/seed.js';
import { tempDir } from '../helpers/temp.js';

const child = fileURLToPath(new URL('../fixtures/write-behind-crash-child.ts', import.meta.url));
const KEYS = 1000;
const PER_KEY = 100;
const KILLS = 20;
const db = await postgresForFile();

function run(args: string[], killAfter: number | undefined, acked: number[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const other: string[] = [];
    let count = 0;
    let partial = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, k, s] = line.split(' ');
        if (kind !== 'ack') {
          other.push(line);
          continue;
        }
        const key = Number(k);
        acked[key] = Math.max(acked[key] as number, Number(s));
        if (killAfter !== undefined && ++count === killAfter) proc.kill('SIGKILL');
      }
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (killAfter !== undefined && signal !== 'SIGKILL')
        reject(new Error(`child ended by itself: ${code} ${signal}`));
      else if (killAfter === undefined && code !== 0)
        reject(new Error(`child failed: ${code} ${signal}`));
      else resolve(other);
    });
  });
}

/**
 * Watches `latest` until stopped: every key's seq may only grow from one look to the next.
 * Returns how many looks were taken and every regression seen.
 */
function watchLatest(pool: pg.Pool, schema: string) {
  const seen = new Map<string, number>();
  const regressions: string[] = [];
  let looks = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const { rows } = await pool.query<{ account: string; seq: number }>(
        `SELECT account, seq FROM ${schema}.latest`,
      );
      looks++;
      for (const { account, seq } of rows) {
        const before = seen.get(account) ?? -1;
        if (seq < before) regressions.push(`${account}: ${before} -> ${seq}`);
        seen.set(account, Math.max(before, seq));
      }
      await delay(20);
    }
  })();
  return {
    seen,
    async stop(): Promise<{ looks: number; regressions: string[] }> {
      stopped = true;
      await done;
      return { looks, regressions };
    },
  };
}

if (db.skip !== undefined) {
  test('WriteBehind crash test', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  test(
    'WriteBehind keeps every acknowledged write, in per-key order, across 20 SIGKILLs',
    { timeout: 600_000 },
    async (t) => {
      const random = mulberry32(testSeed(t));
      await pool.query(
        `CREATE TABLE ${schema}.ledger (arrival bigserial PRIMARY KEY, sluice_id text UNIQUE NOT NULL, account text NOT NULL, seq integer NOT NULL)`,
      );
      await pool.query(
        `CREATE TABLE ${schema}.latest (account text PRIMARY KEY, seq integer NOT NULL, version bigint NOT NULL)`,
      );
      const watch = watchLatest(pool, schema);
      const dir = tempDir();
      const journal = join(dir, 'journal.db');
      const nextFile = join(dir, 'next.json');
      const acked = new Array<number>(KEYS).fill(-1);
      for (let i = 0; i < KILLS; i++) {
        writeFileSync(nextFile, JSON.stringify(acked.map((s) => s + 1)));
        await run([journal, schema, nextFile], 200 + Math.floor(random() * 4000), acked);
      }
      writeFileSync(nextFile, JSON.stringify(acked.map((s) => s + 1)));
      const out = await run([journal, schema, nextFile, 'finish'], undefined, acked);
      assert.match(out.join('\n'), /closed \{"drained":true,"remaining":0\}/);
      const { looks, regressions } = await watch.stop();
      assert.deepEqual(regressions, [], 'no key of the versioned table ever went back');
      assert.ok(looks > 20, `the table was watched all along (${looks} looks)`);
      const latest = await pool.query<{ account: string; seq: number }>(
        `SELECT account, seq FROM ${schema}.latest`,
      );
      assert.equal(latest.rows.length, KEYS);
      for (const r of latest.rows) {
        assert.equal(r.seq, acked[Number(r.account.slice(5))], `${r.account} holds its last write`);
      }

      const { rows } = await pool.query<{ account: string; seq: number; n: string }>(
        `SELECT account, array_agg(seq ORDER BY arrival) AS seqs, count(*) AS n FROM ${schema}.ledger GROUP BY account`,
      );
      assert.equal(rows.length, KEYS);
      const total = await pool.query<{ n: string; distinct: string }>(
        `SELECT count(*) AS n, count(DISTINCT sluice_id) AS distinct FROM ${schema}.ledger`,
      );
      assert.equal(Number(total.rows[0]?.n), KEYS * PER_KEY, 'every entry exactly once');
      assert.equal(Number(total.rows[0]?.distinct), KEYS * PER_KEY);
      for (const row of rows as unknown as { account: string; seqs: number[] }[]) {
        assert.deepEqual(
          row.seqs,
          Array.from({ length: PER_KEY }, (_, s) => s),
          `order of ${row.account}`,
        );
      }
    },
  );
}
