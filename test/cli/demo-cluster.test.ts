/**
 * `sluice demo --journal postgres://...`: the real command, its node processes and all,
 * against the local PostgreSQL, in a schema of this file's own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sluice, type CliResult } from '../helpers/cli.js';
import { connectionString, postgresForFile } from '../helpers/postgres.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('sluice-demo-cluster-');
const pg = await postgresForFile();

/** A usage mistake: exit code 2 and one line on stderr. */
function assertUsage(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^sluice: /);
  assert.match(r.stderr, pattern);
}

test('demo --journal runs 3 node processes, kills one, and verifies every acknowledged write', async (t) => {
  if (pg.skip !== undefined) return t.skip(pg.skip);
  const r = await sluice([
    'demo',
    '--journal',
    connectionString,
    '--nodes',
    '3',
    '--writes',
    '6000',
    '--keys',
    '60',
    '--rate',
    '1500',
    '--schema',
    pg.schema,
    '--dir',
    join(dir, 'run'),
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /verification: OK: 6,000 rows for 6,000 acknowledged writes \((node-\d): [\d,]+ acknowledged before its SIGKILL \+ [\d,]+ by \1b\), per-account order kept/,
  );
  assert.match(r.stdout, /leases of 2,000 ms/);
  for (const node of ['node-1', 'node-2', 'node-3']) {
    assert.match(r.stdout, new RegExp(`${node} \\(pid \\d+\\) joined: 20 accounts`));
  }
  assert.match(r.stdout, /(node-\d) killed with SIGKILL at [\d,]+ acknowledged writes/);
  assert.match(
    r.stdout,
    /takeover on SIGKILL\s+node-\d's partitions taken over by node-\d \([\d, ]+\)( and node-\d \([\d, ]+\))? [\d.]+(–[\d.]+)? s \(leases of 2,000 ms\)/,
  );
  assert.match(
    r.stdout,
    /handover on SIGTERM\s+node-\d+b?: \d+ partitions? released within \d+ ms/,
  );
  assert.match(r.stdout, /no node left to take them/);
  assert.match(r.stdout, /left in the journal\s+0/);

  const { rows } = await pg.pool.query<{ rows: string; ids: string }>(
    `SELECT count(*) AS rows, count(DISTINCT sluice_id) AS ids FROM ${pg.schema}.messages`,
  );
  assert.deepEqual(rows[0], { rows: '6000', ids: '6000' });
});

test('demo --journal refuses options it has no use for, and a schema it did not make', async (t) => {
  assertUsage(
    await sluice(['demo', '--journal', 'mysql://127.0.0.1/x', '--dir', join(dir, 'bad')]),
    /--journal takes a postgres:\/\/ URL, got "mysql:\/\/127\.0\.0\.1\/x"/,
  );
  assertUsage(
    await sluice(['demo', '--journal', connectionString, '--memory', '--dir', join(dir, 'bad')]),
    /--journal runs the demo on a cluster of node processes: drop --memory/,
  );
  assertUsage(
    await sluice(['demo', '--nodes', '2', '--dir', join(dir, 'bad')]),
    /--nodes only go with --journal postgres:\/\/\.\.\./,
  );
  assertUsage(
    await sluice([
      'demo',
      '--journal',
      connectionString,
      '--nodes',
      '1',
      '--dir',
      join(dir, 'bad'),
    ]),
    /--nodes must be between 2 and 16, got 1/,
  );
  assertUsage(
    await sluice([
      'demo',
      '--journal',
      connectionString,
      '--schema',
      'Mixed',
      '--dir',
      join(dir, 'bad'),
    ]),
    /--schema must be a lower-case SQL name/,
  );

  if (pg.skip !== undefined) return t.skip(pg.skip);
  const theirs = `${pg.schema}_theirs`;
  await pg.pool.query(`CREATE SCHEMA ${theirs}`);
  await pg.pool.query(`CREATE TABLE ${theirs}.accounts (id int)`);
  try {
    assertUsage(
      await sluice([
        'demo',
        '--journal',
        connectionString,
        '--schema',
        theirs,
        '--dir',
        join(dir, 'theirs'),
      ]),
      new RegExp(`--schema ${theirs} holds accounts, which no demo made`),
    );
    const { rows } = await pg.pool.query(`SELECT count(*) AS n FROM ${theirs}.accounts`);
    assert.deepEqual(rows, [{ n: '0' }], 'the schema is left as it was');
  } finally {
    await pg.pool.query(`DROP SCHEMA ${theirs} CASCADE`);
  }
});
