/// <reference lib="dom" />
/**
 * The dashboard's cluster panel in a real browser (Debian's chromium, driven by
 * playwright-core), fed by a scripted source: hidden for a journal without cluster stats,
 * then the nodes and their partitions, and one bar per partition coloured by whether a live
 * node owns it. The screenshot lands in test-output/dashboard-cluster.png.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { startDashboard } from '../../src/dashboard/server.js';
import type { DashboardSample, DashboardSource } from '../../src/dashboard/source.js';
import type { ClusterStats } from '../../src/index.js';
import { ROOT } from '../helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';

function chromiumGate(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const message = `${CHROMIUM} is missing; install it with: apt-get install -y chromium`;
  if (process.env['SLUICE_REQUIRE_SERVICES'] === '1') throw new Error(message);
  return message;
}

/** 12 partitions: node a holds 0–5, node b 6–9; 10 is free and 11's owner is gone. */
const cluster: ClusterStats = {
  consumer: 'write-behind',
  partitions: 12,
  head: 5_000,
  nodes: [
    { node: 'node-a:101:x', expiresInMs: 8_000, partitions: [0, 1, 2, 3, 4, 5] },
    { node: 'node-b:202:y', expiresInMs: 6_500, partitions: [6, 7, 8, 9] },
  ],
  leases: Array.from({ length: 12 }, (_, partition) => ({
    partition,
    owner:
      partition < 6
        ? 'node-a:101:x'
        : partition < 10
          ? 'node-b:202:y'
          : partition === 11
            ? 'node-c:303:z'
            : null,
    epoch: partition === 11 ? 4 : 1,
    expiresInMs: partition < 10 ? 7_000 : partition === 11 ? -3_000 : null,
    checkpoint: 400 * partition,
    lag: partition * 40 + (partition >= 10 ? 600 : 0),
  })),
  deadLetters: 0,
};

test('the cluster panel shows nodes and lag per partition', { skip: chromiumGate() }, async (t) => {
  let withCluster = false;
  const source: DashboardSource = {
    title: 'cluster journal',
    sample: () => {
      const sample: DashboardSample = {
        t: Date.now(),
        written: 5_000,
        persisted: 3_000,
        backlog: 2_000,
        lag: 2_000,
        deadLetters: 0,
        journal: { head: 5_000, entries: 4_000, bytes: 1 << 20, consumers: [] },
        ...(withCluster ? { cluster } : {}),
      };
      return Promise.resolve(sample);
    },
    deadLetters: () => Promise.resolve([]),
    prometheus: () => Promise.resolve(undefined),
  };
  const dash = await startDashboard({ source, port: 0, intervalMs: 3_600_000 });
  t.after(() => dash.close());

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(dash.url);
  await page.waitForFunction(() => document.querySelector('#written')?.textContent === '5,000');
  assert.equal(await page.isVisible('#clusterPanel'), false, 'no cluster stats: no panel');

  withCluster = true;
  await dash.refresh();
  await page.waitForSelector('#clusterPanel', { state: 'visible' });
  assert.equal(
    await page.textContent('#clusterSummary'),
    'consumer write-behind · 12 partitions · 2 nodes · 2 without a live owner',
  );
  const nodes = await page.$$eval('#nodes tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
  );
  assert.deepEqual(nodes, [
    ['node-a:101:x', '6', '0–5', '8.0 s'],
    ['node-b:202:y', '4', '6–9', '6.5 s'],
  ]);
  assert.equal(await page.isVisible('#noNodes'), false);

  // One bar per partition: blue (#4ea1ff) where a live node owns it, amber (#f5b64c) where not.
  const bars = await page.evaluate(() => {
    const canvas = document.querySelector('#partitionLag') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let blue = 0;
    let amber = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      if (r === 0x4e && g === 0xa1 && b === 0xff) blue++;
      if (r === 0xf5 && g === 0xb6 && b === 0x4c) amber++;
    }
    return { count: Number(canvas.dataset['bars']), blue, amber };
  });
  assert.equal(bars.count, 12);
  assert.ok(bars.blue > 500, `owned partitions drawn in blue (${bars.blue} pixels)`);
  assert.ok(bars.amber > 500, `partitions without a live owner in amber (${bars.amber} pixels)`);
  assert.equal(await page.isVisible('#workers'), false, 'no pipeline here: no lanes');

  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  await page.screenshot({
    path: join(ROOT, 'test-output', 'dashboard-cluster.png'),
    fullPage: true,
  });
  assert.deepEqual(errors, []);
});
