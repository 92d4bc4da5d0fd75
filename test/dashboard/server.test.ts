import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import type { DashboardSample, DashboardSource } from '../../src/dashboard/source.js';
import { startDashboard, toPoint, type Dashboard } from '../../src/dashboard/server.js';

/** A source scripted by the test (the server's neighbour): each sample is the next one given. */
function scripted(samples: Partial<DashboardSample>[]): DashboardSource & { taken: number } {
  let i = 0;
  const source = {
    title: 'scripted',
    taken: 0,
    sample(): Promise<DashboardSample> {
      const s = samples[Math.min(i++, samples.length - 1)] ?? {};
      source.taken++;
      if (s.t === -1) return Promise.reject(new Error('journal is closed'));
      return Promise.resolve(scriptedSample(s));
    },
    deadLetters: () => Promise.resolve([]),
    prometheus: () => Promise.resolve(undefined),
  };
  return source;
}

const HOUR = 3_600_000; // no periodic sample during a test: each comes from refresh()

async function open(source: DashboardSource, extra: { token?: string } = {}): Promise<Dashboard> {
  return startDashboard({ source, port: 0, intervalMs: HOUR, ...extra });
}

describe('toPoint', () => {
  test('rates are the counters’ change per second since the previous sample', () => {
    const first = toPoint(scriptedSample({ t: 1000, written: 100, persisted: 50 }), undefined);
    assert.equal(first.writeRate, 0);
    const second = toPoint(scriptedSample({ t: 3000, written: 700, persisted: 450 }), first);
    assert.equal(second.writeRate, 300);
    assert.equal(second.persistRate, 200);
    // A counter that went down (a restarted pipeline) gives 0, not a negative rate.
    assert.equal(toPoint(scriptedSample({ t: 4000, written: 10 }), second).writeRate, 0);
  });
});

function scriptedSample(s: Partial<DashboardSample>): DashboardSample {
  return {
    t: 0,
    written: 0,
    persisted: 0,
    backlog: 0,
    lag: 0,
    deadLetters: 0,
    journal: { head: 0, entries: 0, bytes: 0, consumers: [] },
    ...s,
  };
}

describe('startDashboard', () => {
  test('refuses to listen beyond loopback without a token, and weak tokens', async () => {
    await assert.rejects(
      startDashboard({ source: scripted([{}]), host: '0.0.0.0', port: 0 }),
      (e: unknown) =>
        e instanceof ConfigError && /beyond loopback \(host 0\.0\.0\.0\)/.test(e.message),
    );
    await assert.rejects(
      startDashboard({ source: scripted([{}]), port: 0, token: 'short' }),
      (e: unknown) => e instanceof ConfigError && /token/.test(e.message),
    );
    await assert.rejects(
      startDashboard({ source: scripted([{}]), port: 70_000 }),
      (e: unknown) => e instanceof ConfigError && /port/.test(e.message),
    );
  });

  test('refuses a misspelled option naming the nearest known one, and wrong-typed options', async () => {
    const refuses = (options: Record<string, unknown>, pattern: RegExp): Promise<void> =>
      assert.rejects(
        startDashboard({ source: scripted([{}]), port: 0, ...options }),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    await refuses(
      { histroy: 10 },
      /Unknown option `histroy` in startDashboard\(\) options; did you mean `history`\?/,
    );
    await refuses({ intervalMS: 10 }, /did you mean `intervalMs`\?/);
    await refuses({ host: 7 }, /Expected `host` to be a non-empty string/);
    await refuses({ token: 12345678 }, /Expected `token` to be a string of at least 8/);
    await refuses(
      { source: { title: 'x', sample: 'now' } },
      /Expected `source` to be an object with sample\(\), deadLetters\(\), prometheus\(\)/,
    );
  });

  test('keeps a history of points with rates; /api serves it', async (t) => {
    const dash = await open(
      scripted([
        { t: 1000, written: 0 },
        { t: 2000, written: 500, persisted: 400, backlog: 100 },
      ]),
    );
    t.after(() => dash.close());
    await dash.refresh();
    const history = (await (await fetch(`${dash.url}api/history`)).json()) as {
      writeRate: number;
    }[];
    assert.deepEqual(
      history.map((p) => p.writeRate),
      [0, 500],
    );
    const snapshot = (await (await fetch(`${dash.url}api/snapshot`)).json()) as Record<
      string,
      number
    >;
    assert.equal(snapshot['backlog'], 100);
    assert.equal(snapshot['persistRate'], 400);
    assert.equal(dash.latest()?.written, 500);
  });

  test('streams the history, then each sample, as server-sent events', async (t) => {
    const dash = await open(
      scripted([{ t: 1000, written: 1 }, { t: 2000, written: 2 }, { t: -1 }]),
    );
    t.after(() => dash.close());
    const frames: string[] = [];
    const res = await new Promise<IncomingMessage>((resolve) =>
      request(`${dash.url}events`, resolve).end(),
    );
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.setEncoding('utf8');
    const seen = (count: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (frames.length >= count) {
            res.off('data', onData);
            resolve();
          }
        };
        const onData = (chunk: string): void => {
          frames.push(...chunk.split('\n\n').filter((f) => f.trim() !== ''));
          check();
        };
        res.on('data', onData);
        check();
      });
    await seen(1);
    assert.match(frames[0] as string, /^retry: 2000\nevent: history\ndata: \[\{.*"written":1/);
    await dash.refresh();
    await seen(2);
    assert.match(frames[1] as string, /^event: sample\ndata: \{.*"written":2.*"writeRate":1[,}]/);
    // A sample that fails is reported to the page; the server keeps going.
    await dash.refresh();
    await seen(3);
    assert.equal(frames[2], 'event: failure\ndata: "journal is closed"');
    res.destroy();
  });

  test('with a token, every route needs it, as a Bearer header or a parameter', async (t) => {
    const token = 'a-long-enough-token';
    const dash = await open(scripted([{}]), { token });
    t.after(() => dash.close());
    assert.match(dash.url, /\?token=a-long-enough-token$/);
    const base = dash.url.replace(/\?.*$/, '');
    for (const path of [
      '',
      'app.js',
      'api/snapshot',
      'api/history',
      'api/dead-letters',
      'metrics',
    ]) {
      assert.equal((await fetch(`${base}${path}`)).status, 401, `/${path}`);
      assert.equal(
        (await fetch(`${base}${path}?token=wrong-token-value`)).status,
        401,
        `/${path} wrong`,
      );
    }
    assert.equal((await fetch(`${base}api/snapshot?token=${token}`)).status, 200);
    const html = await (
      await fetch(`${base}`, { headers: { authorization: `Bearer ${token}` } })
    ).text();
    assert.match(html, /<script src="\/app\.js\?token=a-long-enough-token"><\/script>/);
  });

  test('/metrics without prom-client says so; unknown routes and methods are refused', async (t) => {
    const dash = await open(scripted([{}]));
    t.after(() => dash.close());
    const metrics = await fetch(`${dash.url}metrics`);
    assert.equal(metrics.status, 501);
    assert.match(await metrics.text(), /npm install prom-client/);
    assert.equal((await fetch(`${dash.url}admin`)).status, 404);
    assert.equal((await fetch(`${dash.url}api/snapshot`, { method: 'POST' })).status, 405);
  });

  test('the page has a cluster panel, hidden until a sample carries cluster stats', async (t) => {
    const dash = await open(scripted([{}]));
    t.after(() => dash.close());
    const html = await (await fetch(dash.url)).text();
    assert.match(html, /<div class="panel cluster hidden" id="clusterPanel">/);
    assert.match(html, /<canvas id="partitionLag" class="bars">/);
    const script = await (await fetch(`${dash.url}app.js`)).text();
    assert.match(script, /el\.classList\.toggle\('hidden', !cluster\)/);
  });

  test('the page escapes the title it shows', async (t) => {
    const source = { ...scripted([{}]), title: '<script>alert(1)</script>' };
    const dash = await open(source);
    t.after(() => dash.close());
    const html = await (await fetch(dash.url)).text();
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /&#60;script&#62;alert\(1\)/);
  });
});

test('a port in use is a ConfigError naming it', async (t) => {
  const first = await open(scripted([{}]));
  t.after(() => first.close());
  await assert.rejects(
    startDashboard({ source: scripted([{}]), port: first.port, intervalMs: HOUR }),
    (e: unknown) =>
      e instanceof ConfigError &&
      new RegExp(`127\\.0\\.0\\.1:${first.port} is in use`).test(e.message),
  );
});

test('a source that fails a request answers 500 with its message; the server keeps serving', async (t) => {
  const source = {
    ...scripted([{ written: 3 }]),
    deadLetters: () => Promise.reject(new Error('dead letters unreadable')),
  };
  const dash = await open(source);
  t.after(() => dash.close());
  const failed = await fetch(`${dash.url}api/dead-letters`);
  assert.equal(failed.status, 500);
  assert.match(await failed.text(), /dead letters unreadable/);
  const snapshot = (await (await fetch(`${dash.url}api/snapshot`)).json()) as { written: number };
  assert.equal(snapshot.written, 3);
});
