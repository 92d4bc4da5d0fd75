/**
 * Crash test with real processes and a real PostgreSQL: a child writes 100,000 entries over
 * 1,000 keys (each with its per-key sequence) through a SQLite journal into PostgreSQL and
 * prints each acknowledged write; we SIGKILL it at random moments 20 times, restarting it
 * each time from what it acknowledged. At the end the table holds every entry exactly once,
 * and per key the rows arrived in sequence order (order kept across crashes and redelivery).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresForFile } from '../helpers/postgres.js';
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

if (db.skip !== undefined) {
  test('WriteBehind crash test', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  test(
    'WriteBehind keeps every acknowledged write, in per-key order, across 20 SIGKILLs',
    { timeout: 600_000 },
    async () => {
      await pool.query(
        `CREATE TABLE ${schema}.ledger (arrival bigserial PRIMARY KEY, sluice_id text UNIQUE NOT NULL, account text NOT NULL, seq integer NOT NULL)`,
      );
      const dir = tempDir();
      const journal = join(dir, 'journal.db');
      const nextFile = join(dir, 'next.json');
      const acked = new Array<number>(KEYS).fill(-1);
      for (let i = 0; i < KILLS; i++) {
        writeFileSync(nextFile, JSON.stringify(acked.map((s) => s + 1)));
        await run([journal, schema, nextFile], 200 + Math.floor(Math.random() * 4000), acked);
      }
      writeFileSync(nextFile, JSON.stringify(acked.map((s) => s + 1)));
      const out = await run([journal, schema, nextFile, 'finish'], undefined, acked);
      assert.match(out.join('\n'), /closed \{"drained":true,"remaining":0\}/);

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
