/**
 * Big values against the byte bound, in real child processes: 512 KB values from 50
 * producers into a slow sink, while `write()` waits; and a journal holding 2,000 such
 * entries not yet handled (1 GB), worked off. Both run with the pipeline's default bounds
 * (64 MiB of payload in memory) in a heap capped at 256 MB, which kills the process if it
 * holds more, and report their live set (heap after a full collection, sampled every
 * 100 ms): it must stay under LIVE_BOUND. RSS is printed, not asserted: above the live set
 * it measures when V8 chooses to collect large garbage strings (with Node's default heap on
 * this 24 GB machine, not before ~1.7 GB).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/temp.js';

const child = fileURLToPath(new URL('../fixtures/big-values-child.ts', import.meta.url));
const dir = tempDir();
/** What the process may hold live with the default bounds (64 MiB of payload in memory). */
const LIVE_BOUND = 200 * 1024 * 1024;

interface Report {
  peakRss: number;
  peakLive: number;
  acknowledged: number;
  landed: number;
  longestWaitMs: number;
}

function run(...args: string[]): Promise<Report | undefined> {
  return new Promise((resolve, reject) => {
    const heap = ['--expose-gc', '--max-old-space-size=256'];
    const proc = spawn(process.execPath, [...heap, '--import', 'tsx', child, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (code !== 0) reject(new Error(`child ${args[0]} failed: ${code} ${signal}`));
      else resolve(out.trim() === '' ? undefined : (JSON.parse(out) as Report));
    });
  });
}

const mib = (bytes: number): string => `${Math.round(bytes / 1024 / 1024)} MiB`;

test(
  '512 KB values from 50 producers into a slow sink, in a 256 MB heap: the live set stays bounded and write() waits',
  { timeout: 180_000 },
  async () => {
    const report = (await run('write', join(dir, 'write.db'), '1200')) as Report;
    assert.equal(report.acknowledged, 1_200);
    assert.equal(report.landed, 1_200);
    assert.ok(
      report.peakLive < LIVE_BOUND,
      `live ${mib(report.peakLive)} (RSS ${mib(report.peakRss)})`,
    );
    assert.ok(report.longestWaitMs > 100, `writers waited (longest ${report.longestWaitMs} ms)`);
  },
);

test(
  'reopening a journal that holds 2,000 unhandled 512 KB entries (1 GB) drains it within the bound, in a 256 MB heap',
  { timeout: 300_000 },
  async () => {
    const path = join(dir, 'backlog.db');
    await run('fill', path, '2000');
    const report = (await run('drain', path)) as Report;
    assert.equal(report.landed, 2_000);
    assert.ok(
      report.peakLive < LIVE_BOUND,
      `live ${mib(report.peakLive)} (RSS ${mib(report.peakRss)})`,
    );
  },
);
