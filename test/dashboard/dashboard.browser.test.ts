/// <reference lib="dom" />
/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) while a
 * demo runs: the numbers move, the charts draw, /metrics parses, and the token is enforced.
 * The screenshot lands in test-output/dashboard.png.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { ROOT, startSluice } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-test-token';

function chromiumGate(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const message = `${CHROMIUM} is missing; install it with: apt-get install -y chromium`;
  if (process.env['SLUICE_REQUIRE_SERVICES'] === '1') throw new Error(message);
  return message;
}

/** Every sample line of Prometheus text: `name{labels} value`. */
function parsePrometheus(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|[+-]Inf)$/);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    values.set(m[1] as string, Number(m[2]));
  }
  return values;
}

test('the dashboard shows a running demo live', { skip: chromiumGate() }, async (t) => {
  const dir = tempDir('sluice-dash-');
  const demo = startSluice([
    'demo',
    '--writes',
    '150000',
    '--keys',
    '1000',
    '--rate',
    '12000',
    '--dir',
    join(dir, 'demo'),
    '--dashboard',
    '--port',
    '0',
    '--token',
    TOKEN,
  ]);
  t.after(() => demo.child.kill('SIGKILL'));
  const [, url] = await demo.waitFor(/dashboard (http:\/\/127\.0\.0\.1:\d+\/)\?token=/);
  const base = url as string;

  // Without the token every route is refused; with it, as a header or a parameter, served.
  for (const path of ['', 'app.js', 'events', 'api/snapshot', 'metrics']) {
    assert.equal((await fetch(`${base}${path}`)).status, 401, `/${path} without the token`);
  }
  assert.equal(
    (await fetch(`${base}api/snapshot`, { headers: { authorization: 'Bearer nope-nope-nope' } }))
      .status,
    401,
  );
  assert.equal(
    (await fetch(`${base}api/snapshot`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    200,
  );

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
  await page.goto(`${base}?token=${TOKEN}`);

  // The written counter moves while the demo runs.
  const written = async (): Promise<number> =>
    Number(((await page.textContent('#written')) ?? '').replace(/,/g, '')) || 0;
  await page.waitForFunction(() => document.querySelector('#status')?.classList.contains('live'));
  const first = await written();
  await page.waitForFunction(
    (before) => Number(document.querySelector('#written')?.textContent?.replace(/,/g, '')) > before,
    first,
    { timeout: 15_000 },
  );
  assert.ok((await written()) > first);
  assert.match((await page.textContent('#workers tbody')) ?? '', /#0/);

  // The throughput chart has points and ink: coloured pixels of its lines.
  await page.waitForFunction(
    () =>
      Number((document.querySelector('#throughput') as HTMLCanvasElement).dataset['points']) >= 3,
  );
  const ink = await page.evaluate(() => {
    const canvas = document.querySelector('#throughput') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let coloured = 0;
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
      // The lines are blue (#4ea1ff) and green (#3fcf8e); the grid and labels are grey.
      if (a > 0 && (Math.abs(r - g) > 40 || Math.abs(g - b) > 40)) coloured++;
    }
    return coloured;
  });
  assert.ok(ink > 200, `the throughput lines are drawn (${ink} coloured pixels)`);

  const metrics = parsePrometheus(
    await (await fetch(`${base}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text(),
  );
  assert.ok((metrics.get('sluice_writes_total') ?? 0) > 0);
  assert.ok(metrics.has('sluice_journal_head'));
  assert.ok(metrics.has('sluice_end_to_end_latency_ms{quantile="0.99"}'));

  mkdirSync(join(ROOT, 'test-output'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'test-output', 'dashboard.png'), fullPage: true });
  assert.deepEqual(errors, []);

  // Let the demo finish; it keeps serving until Ctrl-C, then exits with its verification.
  await demo.waitFor(/dashboard still at/);
  demo.child.kill('SIGINT');
  const result = await demo.done;
  assert.equal(
    result.code,
    0,
    `signal ${result.signal}; stderr: ${result.stderr}; stdout: ${result.stdout.slice(-600)}`,
  );
  assert.match(result.stdout, /verification: OK: 150,000 rows/);
});
