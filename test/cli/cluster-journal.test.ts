/**
 * `sluice inspect` and `sluice dashboard` on a postgres:// cluster journal, run as the real
 * command in a child process, against PostgreSQL.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PostgresJournal } from '../../src/adapters/postgres/index.js';
import { PARTITION_START } from '../../src/backend.js';
import { isPostgresUrl, redactUrl } from '../../src/cli/cluster-journal.js';
import type { ClusterStats, PartitionCursor, PartitionLease } from '../../src/index.js';
import { sluice, startSluice, type CliResult } from '../helpers/cli.js';
import { connectionString, postgresForFile } from '../helpers/postgres.js';

const WITHOUT_PG = fileURLToPath(new URL('../fixtures/without-pg.mjs', import.meta.url));

/** A failure the way the command must report it: one line, no stack trace. */
function assertOneLineError(r: CliResult, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] as string, /^sluice: /);
  assert.match(lines[0] as string, pattern);
}

/** Stats with the times left (which move while the test runs) set to 0. */
function timeless(stats: ClusterStats): unknown {
  return {
    ...stats,
    nodes: stats.nodes.map((n) => ({ ...n, expiresInMs: 0 })),
    leases: stats.leases.map((l) => ({ ...l, expiresInMs: l.expiresInMs === null ? null : 0 })),
  };
}

test('isPostgresUrl() and redactUrl(): what names a cluster journal, and how it is printed', () => {
  assert.ok(isPostgresUrl('postgres://h/db'));
  assert.ok(isPostgresUrl('postgresql://h/db'));
  assert.ok(!isPostgresUrl('sluice-demo/journal.db'));
  assert.ok(!isPostgresUrl('./postgres://x'));
  assert.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
  assert.equal(redactUrl('postgres://u@h/db'), 'postgres://u@h/db');
});

const db = await postgresForFile();

if (db.skip !== undefined) {
  test('sluice on a cluster journal', { skip: db.skip }, () => {});
} else {
  const { pool, schema: base } = db;
  const schema = `${base}_cli`;
  const journal = await PostgresJournal.open({ pool, schema, partitions: 4 });
  // Node a holds partitions 0 and 1; partition 0's checkpoint passed two entries.
  await journal.append(Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, payload: { i } })));
  await journal.heartbeat('write-behind', 'node-a', 600_000);
  const lease0 = (await journal.takeLease('write-behind', 0, 'node-a', 600_000)) as PartitionLease;
  await journal.takeLease('write-behind', 1, 'node-a', 600_000);
  const { cursors } = await journal.readPartition(0, PARTITION_START, { limit: 2 });
  await journal.commitPartition('write-behind', 'node-a', lease0, cursors[1] as PartitionCursor);
  await journal
    .deadLetters()
    .add([
      { position: 3, entryId: 'e3', key: 'k3', payload: 1, version: 3, error: 'no', attempts: 2 },
    ]);
  await journal.close();
  const expected = await (async () => {
    const j = await PostgresJournal.open({ pool, schema });
    try {
      return await j.clusterStats('write-behind');
    } finally {
      await j.close();
    }
  })();
  const url = connectionString;

  describe('sluice inspect postgres://', () => {
    test('prints the nodes, every partition and the dead letters', async () => {
      const r = await sluice(['inspect', url, '--schema', schema]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^sluice cluster journal postgres://\\S+, schema ${schema}\n`),
      );
      assert.match(r.stdout, /^ {2}partitions {5}4: 2 with a live owner, 2 without$/m);
      assert.match(
        r.stdout,
        /^ {17}node-a {3}2 partitions \(0–1\), heartbeat \d+(\.\d)? (s|min \d+ s) left$/m,
      );
      assert.match(r.stdout, /^ {2}dead letters {3}1$/m);
      const lag = expected.leases.reduce((sum, l) => sum + l.lag, 0);
      assert.match(r.stdout, new RegExp(`^ {2}lag {12}${lag} entries`, 'm'));
      const zero = expected.leases[0]!;
      assert.match(
        r.stdout,
        new RegExp(
          `^ {10}0 {2}node-a +1 +\\d.* s +${zero.checkpoint.toLocaleString('en-US')} +${zero.lag}$`,
          'm',
        ),
      );
      assert.match(r.stdout, /^ {10}3 {2}- +0 +free +0 +\d+$/m);
    });

    test('--json prints the ClusterStats; --consumer picks the consumer', async () => {
      const r = await sluice(['inspect', url, '--schema', schema, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(timeless(JSON.parse(r.stdout) as ClusterStats), timeless(expected));
      const audit = await sluice(['inspect', url, '--schema', schema, '--consumer', 'audit']);
      assert.equal(audit.code, 0, audit.stderr);
      assert.match(audit.stdout, /consumer {7}audit\n/);
      assert.match(audit.stdout, /partitions {5}4 \(no node has worked this consumer yet\)/);
      assert.match(audit.stdout, /nodes {10}none live/);
    });

    test('a schema without a journal is refused, and not created', async () => {
      assertOneLineError(
        await sluice(['inspect', url, '--schema', `${base}_none`]),
        new RegExp(`no sluice cluster journal in schema ${base}_none at postgres://`),
        2,
      );
      const { rows } = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
        `${base}_none`,
      ]);
      assert.equal(rows.length, 0);
      assertOneLineError(
        await sluice(['inspect', url, '--schema', 'x; DROP TABLE y']),
        /--schema must be a SQL identifier/,
        2,
      );
    });

    test('a server that cannot be reached is one line, without the password', async () => {
      const r = await sluice(['inspect', 'postgres://me:sekret@127.0.0.1:1/db']);
      assertOneLineError(
        r,
        /cannot read the journal at postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/db: /,
      );
      assert.doesNotMatch(r.stderr, /sekret/);
    });

    test('options of the other kind of journal are refused', async () => {
      assertOneLineError(
        await sluice(['inspect', url, '--check']),
        /--check is for a journal file/,
        2,
      );
      assertOneLineError(
        await sluice(['inspect', join('no', 'such.db'), '--schema', 's', '--consumer', 'c']),
        /--schema, --consumer are for a postgres:\/\/ cluster journal/,
        2,
      );
    });

    test('without the pg package: the message says what to install', async () => {
      assertOneLineError(
        await sluice(['inspect', url, '--schema', schema], {
          NODE_OPTIONS: `--import=${WITHOUT_PG}`,
        }),
        /^sluice: sluice inspect postgres:\/\/ needs the pg package: npm install pg$/,
      );
    });
  });

  describe('sluice dashboard postgres://', () => {
    test('serves the cluster: nodes and partitions in every sample, the panel on the page', async () => {
      const running = startSluice(['dashboard', url, '--schema', schema, '--port', '0']);
      const [, page] = await running.waitFor(
        /dashboard (http:\/\/127\.0\.0\.1:\d+\/) watching cluster journal/,
      );
      const snapshot = (await (await fetch(`${page}api/snapshot`)).json()) as {
        cluster: ClusterStats;
        backlog: number;
        deadLetters: number;
      };
      assert.deepEqual(timeless(snapshot.cluster), timeless(expected));
      assert.equal(
        snapshot.backlog,
        expected.leases.reduce((sum, l) => sum + l.lag, 0),
      );
      assert.equal(snapshot.deadLetters, 1);
      const letters = (await (await fetch(`${page}api/dead-letters`)).json()) as { key: string }[];
      assert.deepEqual(
        letters.map((l) => l.key),
        ['k3'],
      );
      assert.match(await (await fetch(page as string)).text(), /id="clusterPanel"/);
      running.child.kill('SIGINT');
      const r = await running.done;
      assert.equal(r.code, 0, r.stderr);
    });

    test('without the pg package: the message says what to install', async () => {
      assertOneLineError(
        await sluice(['dashboard', url, '--schema', schema, '--port', '0'], {
          NODE_OPTIONS: `--import=${WITHOUT_PG}`,
        }),
        /^sluice: sluice dashboard postgres:\/\/ needs the pg package: npm install pg$/,
      );
    });
  });

  describe('sluice dlq postgres://', () => {
    test('lists, replays and purges the letters every node shares', async () => {
      const list = await sluice(['dlq', 'list', url, '--schema', schema, '--json']);
      assert.equal(list.code, 0, list.stderr);
      const [letter] = JSON.parse(list.stdout) as { id: number; entryId: string }[];
      assert.equal(letter?.entryId, 'e3');
      const before = (
        await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.entries`)
      ).rows[0]?.n;
      const replay = await sluice(['dlq', 'replay', url, String(letter?.id), '--schema', schema]);
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, /^replayed 1 dead letter into the journal at position \d+/);
      const after = (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.entries`))
        .rows[0]?.n;
      assert.equal(Number(after), Number(before) + 1, 'appended to the shared journal');
      const { rows } = await pool.query<{ origin: string }>(
        `SELECT origin FROM ${schema}.entries ORDER BY position DESC LIMIT 1`,
      );
      assert.equal(rows[0]?.origin, 'e3', 'the same entry again, under its sink id');
      const empty = await sluice(['dlq', 'list', url, '--schema', schema]);
      assert.equal(empty.stdout, 'no dead letters\n');
      const reopened = await PostgresJournal.open({ pool, schema });
      try {
        await reopened.deadLetters().add([
          {
            position: 9,
            entryId: 'e9',
            key: 'k9',
            payload: 9,
            version: 9,
            error: 'no',
            attempts: 1,
          },
        ]);
      } finally {
        await reopened.close();
      }
      const purge = await sluice(['dlq', 'purge', url, '--all', '--schema', schema]);
      assert.equal(purge.code, 0, purge.stderr);
      assert.equal(purge.stdout, 'purged 1 dead letter\n');
      assertOneLineError(
        await sluice(['dlq', 'list', 'journal.db', '--schema', schema]),
        /--schema is for a postgres:\/\/ cluster journal/,
        2,
      );
    });
  });
}
