/**
 * Crash test with real processes: a child appends in a loop and prints each acknowledged
 * position; we SIGKILL it at random moments, 20 times, reopening the same file each time.
 * At the end every acknowledged record is there with its content, positions are contiguous,
 * no record is torn, and the consumer checkpoint resumed where each run left it.
 *
 * The kill points are drawn from a seeded generator; the seed is printed as `seed=<n>`, and
 * `SLUICE_SEED=<n>` replays the same kill points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteJournal } from '../../../src/adapters/sqlite/index.js';
import { expectedPayload } from '../../fixtures/journal-crash-payload.js';
import { mulberry32, testSeed } from '../../helpers/seed.js';
import { tempDir } from '../../helpers/temp.js';

const child = fileURLToPath(new URL('../../fixtures/journal-crash-child.ts', import.meta.url));
const KILLS = 20;

interface RunLog {
  resumed: number;
  lastCommitted: number;
  acks: Map<number, string>;
}

/** Runs the child until it has acknowledged `killAfter` appends, then SIGKILLs it. */
function runAndKill(path: string, run: number, killAfter: number): Promise<RunLog> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, path, String(run)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const log: RunLog = { resumed: -1, lastCommitted: -1, acks: new Map() };
    let acked = 0;
    let killed = false;
    // Only whole lines count: a line cut short by the kill never ended with a newline.
    let partial = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    const onLine = (line: string): void => {
      const [kind, ...rest] = line.split(' ');
      if (kind === 'resumed') log.resumed = Number(rest[0]);
      else if (kind === 'committed') log.lastCommitted = Number(rest[0]);
      else if (kind === 'ack') {
        for (const pair of rest) {
          const [position, id] = pair.split('=') as [string, string];
          log.acks.set(Number(position), id);
        }
        if (++acked >= killAfter && !killed) {
          killed = true;
          proc.kill('SIGKILL');
        }
      }
    };
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL')
        reject(new Error(`child exited by itself: code ${code}, signal ${signal}`));
      else resolve(log);
    });
  });
}

test(
  'SqliteJournal keeps every acknowledged append across 20 SIGKILLs',
  { timeout: 180_000 },
  async (t) => {
    const random = mulberry32(testSeed(t));
    const path = join(tempDir(), 'crash.db');
    const acked = new Map<number, string>();
    let previous: RunLog | undefined;
    for (let run = 0; run < KILLS; run++) {
      const log = await runAndKill(path, run, 1 + Math.floor(random() * 400));
      assert.ok(log.resumed >= 0, `run ${run} never printed its checkpoint`);
      if (previous !== undefined) {
        // The checkpoint resumes at least where the last run's acknowledged commit left it.
        assert.ok(
          log.resumed >= previous.lastCommitted,
          `run ${run} resumed at ${log.resumed}, but run ${run - 1} committed ${previous.lastCommitted}`,
        );
      }
      for (const [position, id] of log.acks) {
        assert.equal(
          acked.get(position) ?? id,
          id,
          `position ${position} acknowledged twice for different ids`,
        );
        acked.set(position, id);
      }
      previous = log;
    }

    const journal = await SqliteJournal.open(path);
    try {
      const stats = await journal.stats();
      const entries = await journal.read(0, { limit: stats.head + 1 });
      assert.deepEqual(
        entries.map((e) => e.position),
        Array.from({ length: stats.head }, (_, i) => i + 1),
        'positions are contiguous from 1',
      );
      for (const e of entries) {
        assert.ok(e.id !== undefined);
        assert.deepEqual(e.payload, expectedPayload(e.id), `entry ${e.position} is torn or wrong`);
      }
      const byPosition = new Map(entries.map((e) => [e.position, e.id]));
      for (const [position, id] of acked) {
        assert.equal(byPosition.get(position), id, `acknowledged ${id} at ${position} is missing`);
      }
      assert.ok(acked.size >= KILLS, 'the runs acknowledged appends');
      assert.ok((await journal.committed('crash')) >= (previous?.lastCommitted ?? 0));
    } finally {
      await journal.close();
    }
  },
);
