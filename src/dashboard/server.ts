/**
 * The dashboard's web server: one page, live numbers over server-sent events, Prometheus
 * text at /metrics and JSON under /api. Built on node:http; nothing to install.
 *
 * It listens on 127.0.0.1 by default. Listening anywhere else requires a token, checked on
 * every request (an `Authorization: Bearer` header or a `token` query parameter, which is
 * how the page passes it on to its own requests).
 *
 * Routes: `/` the page, `/app.js` its script, `/events` the sample stream (the history
 * first, then one sample per interval), `/api/snapshot` the latest sample,
 * `/api/history` the kept samples, `/api/dead-letters?limit=n`, `/metrics`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../errors.js';
import { integerOption, knownOptions, serviceOption, stringOption } from '../backend.js';
import { APP_JS, page } from './page.js';
import type { DashboardSample, DashboardSource } from './source.js';

/** Where the page listens unless told otherwise: loopback only, a fixed port. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7070;

/** Options of {@link startDashboard}; a bad value or an unknown name is a ConfigError. */
export interface DashboardOptions {
  /** What to show: {@link pipelineSource} or {@link journalSource}. */
  source: DashboardSource;
  /** 0 picks a free port. @default 7070 */
  port?: number;
  /** Interface to listen on; anything but loopback needs a `token`. @default '127.0.0.1' */
  host?: string;
  /** Required when `host` is not a loopback address; 8 characters at least. */
  token?: string;
  /** How often a sample is taken and sent, in ms. @default 1000 */
  intervalMs?: number;
  /** Samples kept for the charts. @default 600 */
  history?: number;
}

/** A sample with the rates since the one before it. */
export interface DashboardPoint extends DashboardSample {
  /** Entries written per second since the previous sample. */
  writeRate: number;
  /** Entries persisted per second since the previous sample. */
  persistRate: number;
}

/** A running dashboard, from {@link startDashboard}. */
export interface Dashboard {
  /** The page's address, with `?token=` when it needs one. */
  readonly url: string;
  /** The port it listens on (the one picked, when `port` was 0). */
  readonly port: number;
  /** The newest point, once one was taken. */
  latest(): DashboardPoint | undefined;
  /** Takes a sample now (and sends it), besides the periodic ones. */
  refresh(): Promise<void>;
  /** Stops sampling, ends the live streams and closes the server. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** A sample with its rates: the counters' change since `prev`, per second. */
export function toPoint(sample: DashboardSample, prev: DashboardPoint | undefined): DashboardPoint {
  const dt = prev === undefined ? 0 : (sample.t - prev.t) / 1000;
  const rate = (now: number, before: number): number =>
    dt > 0 ? Math.max(0, (now - before) / dt) : 0;
  return {
    ...sample,
    writeRate: rate(sample.written, prev?.written ?? 0),
    persistRate: rate(sample.persisted, prev?.persisted ?? 0),
  };
}

interface ResolvedDashboardOptions {
  readonly source: DashboardSource;
  readonly port: number;
  readonly host: string;
  readonly token: string | undefined;
  readonly intervalMs: number;
  readonly history: number;
}

const KNOWN: readonly (keyof DashboardOptions)[] = [
  'source',
  'port',
  'host',
  'token',
  'intervalMs',
  'history',
];

function resolveDashboardOptions(options: unknown): ResolvedDashboardOptions {
  const o = knownOptions('startDashboard() options', options, KNOWN);
  const source = serviceOption<DashboardSource>('source', o.source, [
    'sample',
    'deadLetters',
    'prometheus',
  ]);
  const host = stringOption('host', o.host, DEFAULT_HOST);
  const token = o.token;
  if (token !== undefined && (typeof token !== 'string' || token.length < 8)) {
    throw new ConfigError('token', 'a string of at least 8 characters', token);
  }
  if (!isLoopback(host) && token === undefined) {
    throw new ConfigError(
      'token',
      `set when listening beyond loopback (host ${host}): anyone who can reach it would see the data`,
      token,
    );
  }
  return {
    source,
    port: integerOption('port', o.port, DEFAULT_PORT, 0, 65_535),
    host,
    token,
    intervalMs: integerOption('intervalMs', o.intervalMs, 1000, 50),
    history: integerOption('history', o.history, 600, 2),
  };
}

/**
 * Serves the live dashboard: one page, samples over server-sent events, Prometheus text at
 * `/metrics`, JSON under `/api`; nothing to install beyond Node. It listens on 127.0.0.1 by
 * default; any other host requires a `token`, checked on every request. Takes a first
 * sample before it resolves. Throws ConfigError for a bad option or a port in use.
 *
 * ```ts
 * const dashboard = await startDashboard({ source: await pipelineSource(wb, 'orders') });
 * console.log(dashboard.url);
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { source, port, host, token, intervalMs, history: keep } = resolveDashboardOptions(options);
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  const expected = token === undefined ? undefined : digest(token);

  const history: DashboardPoint[] = [];
  const clients = new Set<ServerResponse>();
  let sampling = false;
  const tick = async (): Promise<void> => {
    if (sampling) return; // a slow sample: skip this tick rather than pile up
    sampling = true;
    try {
      const point = toPoint(await source.sample(), history.at(-1));
      history.push(point);
      if (history.length > keep) history.shift();
      const frame = `event: sample\ndata: ${JSON.stringify(point)}\n\n`;
      for (const res of clients) res.write(frame);
    } catch (error) {
      const frame = `event: failure\ndata: ${JSON.stringify(String((error as Error).message ?? error))}\n\n`;
      for (const res of clients) res.write(frame);
    } finally {
      sampling = false;
    }
  };
  await tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();

  const tokenOf = (req: IncomingMessage, url: URL): string | null => {
    const header = req.headers.authorization;
    return header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token');
  };
  const authorized = (given: string | null): boolean =>
    expected === undefined || (given !== null && timingSafeEqual(digest(given), expected));

  const json = (res: ServerResponse, body: unknown): void => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-content-type-options', 'nosniff');
    const given = tokenOf(req, url);
    if (!authorized(given)) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('unauthorized: this dashboard needs its token\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    switch (url.pathname) {
      case '/':
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy':
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        });
        // The page passes the token it was served with on to its own requests.
        res.end(page(source.title, expected === undefined ? undefined : (given ?? undefined)));
        return;
      case '/app.js':
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
        res.end(APP_JS);
        return;
      case '/events': {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          connection: 'keep-alive',
        });
        res.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify(history)}\n\n`);
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      case '/api/snapshot':
        json(res, history.at(-1) ?? null);
        return;
      case '/api/history':
        json(res, history);
        return;
      case '/api/dead-letters': {
        const limit = Math.min(
          1000,
          Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20),
        );
        json(res, await source.deadLetters(limit));
        return;
      }
      case '/metrics': {
        const text = await source.prometheus();
        if (text === undefined) {
          res.writeHead(501, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('metrics need the prom-client package: npm install prom-client\n');
          return;
        }
        res.writeHead(200, { 'content-type': text.contentType });
        res.end(text.body);
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('not found\n');
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${(error as Error).message ?? String(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => {
      clearInterval(timer);
      reject(
        error.code === 'EADDRINUSE'
          ? new ConfigError('port', `a free port (${host}:${port} is in use; 0 picks any)`, port)
          : error,
      );
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  return {
    url: `http://${shownHost}:${bound}/${query}`,
    port: bound,
    latest: () => history.at(-1),
    refresh: tick,
    close: async () => {
      clearInterval(timer);
      for (const res of clients) res.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
