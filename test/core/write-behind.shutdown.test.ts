/**
 * Shutdown a service can rely on, with real processes and a real PostgreSQL: after
 * `wb.close()` alone nothing sluice opened keeps the process alive (it exits by itself at
 * once), and the README's SIGTERM handling drains within its deadline and exits 0 with
 * every acknowledged write in the table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresForFile } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const child = fileURLToPath(new URL('../fixtures/shutdown-child.ts', import.meta.url));
const db = await postgresForFile();
const dir = tempDir();

if (db.skip !== undefined) {
  test('WriteBehind shutdown', { skip: db.skip }, () => {});
} else {
  const { pool, schema } = db;
  await pool.query(
    `CREATE TABLE ${schema}.events (sluice_id text UNIQUE, account text NOT NULL, seq integer NOT NULL)`,
  );

  test(
    'after wb.close() alone, the process exits by itself within a second',
    { timeout: 60_000 },
    async () => {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', child, 'close', join(dir, 'close.db'), schema],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let closedAt = 0;
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (closedAt === 0 && out.includes('closed')) closedAt = performance.now();
      });
      const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
      const lingeredMs = performance.now() - closedAt;
      assert.equal(code, 0);
      assert.match(out, /closed \{"drained":true,"remaining":0\}/);
      assert.ok(
        lingeredMs < 1_000,
        `the process lingered ${Math.round(lingeredMs)} ms after close()`,
      );
    },
  );

  test(
    'SIGTERM as the README handles it: drained within the deadline, exit 0, every acknowledged write in the table',
    { timeout: 60_000 },
    async () => {
      await pool.query(`TRUNCATE ${schema}.events`);
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', child, 'sigterm', join(dir, 'sigterm.db'), schema],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const acked: number[] = [];
      let out = '';
      let partial = '';
      let signalled = false;
      proc.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const lines = (partial + d).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const m = /^ack (\d+)$/.exec(line);
          if (m !== null) acked.push(Number(m[1]));
        }
        if (!signalled && acked.length >= 2_000) {
          signalled = true;
          proc.kill('SIGTERM');
        }
      });
      const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
      assert.equal(code, 0);
      assert.match(out, /stopped drained=true remaining=0/);
      const { rows } = await pool.query<{ sluice_id: string }>(
        `SELECT sluice_id FROM ${schema}.events`,
      );
      const ids = new Set(rows.map((r) => r.sluice_id));
      assert.ok(acked.length >= 2_000);
      for (const n of acked)
        assert.ok(ids.has(`w${n}`), `acknowledged write w${n} is in the table`);
    },
  );
}
