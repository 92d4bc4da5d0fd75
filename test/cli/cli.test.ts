import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openSqlite } from '../../src/adapters/sqlite/driver.js';
import pg from 'pg';
import { SqliteJournal } from '../../src/adapters/sqlite/index.js';
import { ROOT, sluice, startSluice, type CliResult } from '../helpers/cli.js';
import { damagedJournal } from '../helpers/damage.js';
import { connectionString } from '../helpers/postgres.js';
import { postgres, serviceGate } from '../helpers/services.js';
import { tempDir } from '../helpers/temp.js';

const dir = tempDir('sluice-cli-');

/** A failure the way the command must report it: one line, no stack trace. */
function assertOneLineError(r: CliResult, pattern: RegExp, code = 1): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] as string, /^sluice: /);
  assert.match(lines[0] as string, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

/** A journal with 10 entries, a checkpoint at 6 and two dead letters. */
async function preparedJournal(name: string): Promise<string> {
  const path = join(dir, name);
  const journal = await SqliteJournal.open(path);
  await journal.append(
    Array.from({ length: 10 }, (_, i) => ({ key: `k${i % 3}`, payload: { i } })),
  );
  await journal.commit('write-behind', 6);
  await journal.deadLetters().add([
    {
      position: 3,
      entryId: '3',
      key: 'k0',
      payload: { i: 2 },
      error: 'violates check "positive"',
      version: 1,
      attempts: 1,
    },
    {
      position: 5,
      entryId: '5',
      key: 'k2',
      payload: { i: 4 },
      error: 'value too long',
      version: 2,
      attempts: 2,
    },
  ]);
  await journal.close();
  return path;
}

describe('sluice demo', () => {
  test('writes, then verifies every acknowledged write is in the table in order', async () => {
    const r = await sluice([
      'demo',
      '--writes',
      '3000',
      '--keys',
      '40',
      '--dir',
      join(dir, 'demo'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /verification: OK: 3,000 rows for 3,000 acknowledged writes, per-account order kept/,
    );
    assert.match(r.stdout, /write latency\s+p50 [\d.]+ ms\s+p99 [\d.]+ ms/);
    assert.match(r.stdout, /dead letters\s+0/);
    assert.equal(r.stderr, '');
    const db = openSqlite(join(dir, 'demo', 'store.db'));
    const n = (
      db.prepare('SELECT count(DISTINCT sluice_id) AS n FROM messages').get() as { n: number }
    ).n;
    db.close();
    assert.equal(n, 3000);
  });

  test('--memory runs the same pipeline without a journal', async () => {
    const r = await sluice([
      'demo',
      '--memory',
      '--writes',
      '2000',
      '--keys',
      '20',
      '--dir',
      join(dir, 'mem'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /in-memory mode/);
    assert.match(r.stdout, /verification: OK: 2,000 rows/);
    assert.equal(existsSync(join(dir, 'mem', 'journal.db')), false);
  });

  test('--kill-after dies by SIGKILL; --resume recovers and loses nothing', async () => {
    const where = join(dir, 'crash');
    const killed = await sluice([
      'demo',
      '--writes',
      '20000',
      '--keys',
      '200',
      '--dir',
      where,
      '--kill-after',
      '7000',
    ]);
    assert.equal(killed.signal, 'SIGKILL');
    const acks = readFileSync(join(where, 'acks.log'), 'utf8').trim().split('\n');
    assert.equal(acks.length, 7000);

    const resumed = await sluice(['demo', '--dir', where, '--resume']);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, /recovering [\d,]+ journal entries not yet in the sink/);
    assert.match(
      resumed.stdout,
      /verification: OK: 20,000 rows for 20,000 acknowledged writes \(7,000 acknowledged before the crash \+ 13,000 now\)/,
    );
  });

  test('the verification catches an acknowledged write that went missing', async () => {
    const where = join(dir, 'lost');
    const killed = await sluice([
      'demo',
      '--writes',
      '6000',
      '--keys',
      '60',
      '--dir',
      where,
      '--kill-after',
      '3000',
    ]);
    assert.equal(killed.signal, 'SIGKILL');
    // w0 was acknowledged and, long before the kill, written to the table: take it away.
    const store = openSqlite(join(where, 'store.db'));
    assert.equal(store.prepare("DELETE FROM messages WHERE sluice_id = 'w0'").run().changes, 1);
    store.close();
    const resumed = await sluice(['demo', '--dir', where, '--resume']);
    assert.equal(resumed.code, 1);
    assert.match(resumed.stdout, /verification: FAILED: 5,999 rows for 6,000 acknowledged writes/);
  });

  test('--sink postgres:// runs the same demo into PostgreSQL', async (t) => {
    const skip = await serviceGate(postgres);
    if (skip !== undefined) return t.skip(skip);
    const r = await sluice([
      'demo',
      '--writes',
      '3000',
      '--keys',
      '30',
      '--dir',
      join(dir, 'pg'),
      '--sink',
      connectionString,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /-> table sluice_demo_messages in postgres:\/\/127\.0\.0\.1:5432\/test/);
    assert.match(
      r.stdout,
      /verification: OK: 3,000 rows for 3,000 acknowledged writes, per-account order kept/,
    );
    const pool = new pg.Pool({ connectionString });
    const { rows } = await pool.query<{ n: string }>(
      'SELECT count(DISTINCT sluice_id) AS n FROM sluice_demo_messages',
    );
    await pool.query('DROP TABLE sluice_demo_messages');
    await pool.end();
    assert.equal(Number(rows[0]?.n), 3000);
  });

  test('--dir is emptied only when it holds nothing but an earlier demo', async () => {
    const mine = join(dir, 'twice');
    for (let run = 0; run < 2; run++) {
      const r = await sluice(['demo', '--writes', '500', '--keys', '5', '--dir', mine]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /verification: OK: 500 rows for 500 acknowledged writes/);
    }
    const theirs = join(dir, 'someone-elses');
    mkdirSync(theirs);
    writeFileSync(join(theirs, 'notes.txt'), 'keep me');
    assertOneLineError(
      await sluice(['demo', '--dir', theirs]),
      /--dir .*someone-elses holds notes\.txt, which no demo wrote/,
      2,
    );
    assert.equal(readFileSync(join(theirs, 'notes.txt'), 'utf8'), 'keep me');
  });

  test('a second demo in the --dir of a running one is refused and touches nothing; inspect still reads it', async () => {
    const busy = join(dir, 'busy');
    const first = startSluice(['demo', '--writes', '1000000', '--rate', '2000', '--dir', busy]);
    try {
      await first.waitFor(/written [1-9]/);
      const second = await sluice(['demo', '--writes', '100', '--dir', busy]);
      assertOneLineError(
        second,
        new RegExp(`--dir .*busy is in use by a running demo \\(pid ${first.child.pid}\\)`),
        2,
      );
      assert.ok(existsSync(join(busy, 'journal.db')), 'the running demo keeps its journal');
      const inspect = await sluice(['inspect', join(busy, 'journal.db')]);
      assert.equal(inspect.code, 0, inspect.stderr);
      assert.match(inspect.stdout, /head\s+[1-9]/);
    } finally {
      first.child.kill('SIGKILL');
      await first.done;
    }
    // The holder is gone: the folder is free again at once.
    const after = await sluice(['demo', '--writes', '200', '--keys', '5', '--dir', busy]);
    assert.equal(after.code, 0, after.stderr);
  });

  test('bad options are refused in one line with a usage exit code', async () => {
    assertOneLineError(
      await sluice(['demo', '--writes', 'lots']),
      /--writes must be an integer ≥ 1, got "lots"/,
      2,
    );
    assertOneLineError(
      await sluice(['demo', '--memory', '--kill-after', '5']),
      /--memory keeps nothing/,
      2,
    );
    assertOneLineError(
      await sluice(['demo', '--resume', '--writes', '10', '--kill-after', '5']),
      /--resume finishes the run in --dir as it was started: drop --writes, --kill-after/,
      2,
    );
    assertOneLineError(
      await sluice(['demo', '--resume', '--dir', join(dir, 'never-ran')]),
      /nothing to resume in .*never-ran/,
      2,
    );
    assertOneLineError(
      await sluice(['demo', '--sink', 'mysql://x', '--dir', join(dir, 'badsink')]),
      /--sink takes a postgres:\/\/ URL/,
      2,
    );
  });
});

describe('sluice inspect', () => {
  test('reports head, consumers, backlog and dead letters, as text and JSON', async () => {
    const path = await preparedJournal('inspect.db');
    const text = await sluice(['inspect', path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /head\s+10\n/);
    assert.match(text.stdout, /write-behind: checkpoint 6, lag 4/);
    assert.match(text.stdout, /backlog\s+4 /);
    assert.match(text.stdout, /dead letters\s+2/);

    const json = await sluice(['inspect', path, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(report['head'], 10);
    assert.equal(report['entries'], 10);
    assert.equal(report['backlog'], 4);
    assert.equal(report['deadLetters'], 2);
    assert.deepEqual(report['consumers'], [{ consumer: 'write-behind', position: 6, lag: 4 }]);
  });

  test('--check: a whole journal passes; an undecodable entry or a damaged page is named and fails', async () => {
    const path = await preparedJournal('check.db');
    const good = await sluice(['inspect', path, '--check']);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /pages\s+ok \(SQLite integrity_check\)/);
    assert.match(good.stdout, /entries\s+10 read, all decoded/);
    assert.match(good.stdout, /check\s+OK/);

    // One payload byte changed: SQLite's own check still passes, the decode does not.
    const db = openSqlite(path);
    db.prepare(
      "UPDATE sluice_entries SET payload = 'X' || substr(payload, 2) WHERE position = 7",
    ).run();
    db.close();
    const bad = await sluice(['inspect', path, '--check']);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /10 read, 1 UNDECODABLE, 0 unreadable/);
    assert.match(bad.stdout, /position 7: SyntaxError/);
    assert.match(bad.stdout, /check\s+FAILED/);
    const json = JSON.parse((await sluice(['inspect', path, '--check', '--json'])).stdout) as {
      check: { ok: boolean; undecodable: { position: number }[] };
    };
    assert.equal(json.check.ok, false);
    assert.deepEqual(
      json.check.undecodable.map((u) => u.position),
      [7],
    );

    // A damaged page in the middle of the entries.
    const damaged = join(dir, 'damaged.db');
    await damagedJournal(damaged);
    const broken = await sluice(['inspect', damaged, '--check']);
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stdout, /pages\s+DAMAGED/);
    assert.match(broken.stdout, /positions [\d,]+–[\d,]+ UNREADABLE/);
    // Reading went on past the damage: most of the 4,000 entries were read.
    assert.ok(Number(/([\d,]+) read/.exec(broken.stdout)?.[1]?.replace(/,/g, '')) > 2_000);
    assert.match(broken.stdout, /check\s+FAILED/);
  });

  test('a missing, corrupt or foreign file is one clear line, never a stack trace', async () => {
    assertOneLineError(
      await sluice(['inspect', join(dir, 'nope.db')]),
      /no journal at .*nope\.db: the file does not exist/,
      2,
    );
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, Buffer.alloc(8192, 0x5a));
    assertOneLineError(await sluice(['inspect', garbage]), /garbage\.db/);
    const foreign = join(dir, 'foreign.db');
    const other = openSqlite(foreign);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    other.close();
    assertOneLineError(await sluice(['inspect', foreign]), /not a sluice journal/);
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    assertOneLineError(await sluice(['inspect', folder]), /is a directory/, 2);
  });

  test('--version and -V print the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const r = await sluice([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), version);
      assert.equal(r.stderr, '');
    }
  });

  test('unknown flags and commands print usage', async () => {
    const flag = await sluice(['inspect', 'x.db', '--bogus']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--bogus'/);
    assert.match(flag.stderr, /--help/);
    const command = await sluice(['frobnicate']);
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command 'frobnicate'/);
    const missing = await sluice(['inspect']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'journal'/);
  });

  test('--help works on every command', async () => {
    for (const args of [
      [],
      ['demo'],
      ['inspect'],
      ['dlq'],
      ['dlq', 'list'],
      ['dlq', 'replay'],
      ['dlq', 'purge'],
      ['dashboard'],
    ]) {
      const r = await sluice([...args, '--help']);
      assert.equal(r.code, 0, `${args.join(' ')} --help: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: sluice/);
    }
  });
});

describe('sluice dlq', () => {
  test('list shows each letter with its error; JSON too', async () => {
    const path = await preparedJournal('dlq-list.db');
    const r = await sluice(['dlq', 'list', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /#1\n\s+key\s+k0\n/);
    assert.match(r.stdout, /error\s+violates check "positive"/);
    assert.match(r.stdout, /after 2 attempts/);
    assert.match(r.stdout, /2 of 2 dead letters/);
    const page = await sluice(['dlq', 'list', path, '--limit', '1']);
    assert.match(page.stdout, /1 of 2 dead letters; next page: --after 1/);
    const json = await sluice(['dlq', 'list', path, '--json', '--after', '1']);
    const letters = JSON.parse(json.stdout) as { id: number; key: string }[];
    assert.deepEqual(
      letters.map((l) => [l.id, l.key]),
      [[2, 'k2']],
    );
  });

  test('replay puts letters back into the journal; purge removes them', async () => {
    const path = await preparedJournal('dlq-replay.db');
    const replay = await sluice(['dlq', 'replay', path, '2']);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /replayed 1 dead letter into the journal at position 11/);

    const journal = await SqliteJournal.open(path, { create: false });
    const [entry] = await journal.read(10);
    assert.deepEqual([entry?.key, entry?.payload], ['k2', { i: 4 }]);
    assert.equal(await journal.deadLetters().count(), 1);
    await journal.close();

    const purge = await sluice(['dlq', 'purge', path, '--all']);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /purged 1 dead letter\n/);
    const none = await sluice(['dlq', 'list', path]);
    assert.match(none.stdout, /no dead letters/);
  });

  test('ids are required, and must be ids', async () => {
    const path = await preparedJournal('dlq-bad.db');
    assertOneLineError(
      await sluice(['dlq', 'replay', path]),
      /name the dead letter ids, or use --all/,
      2,
    );
    assertOneLineError(
      await sluice(['dlq', 'purge', path, 'seven']),
      /a dead letter id must be an integer/,
      2,
    );
    assertOneLineError(
      await sluice(['dlq', 'purge', path, '1', '--all']),
      /give ids or --all, not both/,
      2,
    );
    const journal = await SqliteJournal.open(path, { create: false });
    assert.equal(await journal.deadLetters().count(), 2, 'nothing removed by the refused calls');
    await journal.close();
  });
});

describe('sluice dashboard', () => {
  test('serves a journal: snapshot, Prometheus text, and stops on Ctrl-C', async () => {
    const path = await preparedJournal('dash.db');
    const running = startSluice(['dashboard', path, '--port', '0']);
    const [, url] = await running.waitFor(/dashboard (http:\/\/127\.0\.0\.1:\d+\/)/);
    const snapshot = (await (await fetch(`${url}api/snapshot`)).json()) as Record<string, unknown>;
    assert.equal(snapshot['written'], 10);
    assert.equal(snapshot['persisted'], 6);
    assert.equal(snapshot['backlog'], 4);
    assert.equal(snapshot['deadLetters'], 2);
    assert.equal(snapshot['pipeline'], undefined);
    const metrics = await (await fetch(`${url}metrics`)).text();
    assert.match(metrics, /^sluice_journal_head 10$/m);
    assert.match(metrics, /^sluice_consumer_lag\{consumer="write-behind"\} 4$/m);
    assert.match(metrics, /^sluice_dead_letters 2$/m);
    const page = await fetch(url as string);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<canvas id="throughput">/);
    assert.equal((await fetch(`${url}nothing-here`)).status, 404);
    running.child.kill('SIGINT');
    const r = await running.done;
    assert.equal(r.code, 0, r.stderr);
  });

  test('listening beyond loopback without a token is refused', async () => {
    const path = await preparedJournal('dash-open.db');
    assertOneLineError(
      await sluice(['dashboard', path, '--host', '0.0.0.0', '--port', '0']),
      /--host 0\.0\.0\.0 listens beyond loopback: set --token/,
      2,
    );
    assertOneLineError(
      await sluice(['demo', '--dashboard', '--host', '0.0.0.0', '--dir', join(dir, 'open')]),
      /--host 0\.0\.0\.0 listens beyond loopback/,
      2,
    );
    assert.equal(existsSync(join(dir, 'open')), false, 'refused before the demo started');
  });
});
