/**
 * What a benchmark run costs besides time, per item, in microseconds:
 *
 * - Node CPU: `process.cpuUsage()` (user + system) over the run; it covers every thread of
 *   this process (worker threads, libuv's pool), nothing outside it;
 * - server CPU: utime + stime from /proc/<pid>/stat of a server's processes (a root process
 *   and its children: for PostgreSQL the postmaster and all its backends, autovacuum and
 *   background writers included), read before and after the run. Children that exit during
 *   the run are still counted: the root's cutime + cstime takes their time when it reaps
 *   them. /proc counts whole ticks (`getconf CLK_TCK`, normally 100 a second) per process,
 *   so a run of a fraction of a second reads low. NaN when the server's processes are not
 *   visible here (another machine, another PID namespace, /proc unreadable);
 * - GC: the summed duration of the `gc` performance entries that start during the run; they
 *   come from this process's main thread only.
 *
 * Usage: `const meter = startCost([postgres]); await run(); const { cost } = await meter.stop(items);`
 *
 * On a server shared with other work, `startProcessesCost` meters just some of its processes
 * (the backends of the run's own connections, found by application_name), sampled as they
 * come and go.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

/** Per item, in microseconds; NaN where it could not be measured. */
export interface Cost {
  nodeCpuUs: number;
  serverCpuUs: number;
  gcUs: number;
}

/** A server's processes: `root` and its children (a postmaster and its backends). */
export interface ServerProcesses {
  name: string;
  root: number;
}

/** Microseconds per clock tick of /proc/<pid>/stat (`getconf CLK_TCK`, normally 100). */
const usPerTick = ((): number => {
  try {
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return 1e6 / (Number.isInteger(hz) && hz > 0 ? hz : 100);
  } catch {
    return 1e6 / 100;
  }
})();

interface Stat {
  comm: string;
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks. */
  ticks: number;
}

function stat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command sits in parentheses and may itself hold spaces or parentheses.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  // Field n of proc(5) is rest[n - 3]: ppid is field 4, utime..cstime are 14..17.
  const rest = text.slice(close + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3]);
  return { comm, ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) };
}

/**
 * The server's processes as seen from here, if `pid` (one of its processes, such as
 * `pg_backend_pid()`) is visible in /proc under the command `comm`: the parent of `pid`
 * when it has the same command (a postmaster), else `pid` itself. Otherwise, why not.
 */
export function findServer(
  name: string,
  pid: number,
  comm: string,
): ServerProcesses | { reason: string } {
  const own = stat(pid);
  if (own === undefined)
    return {
      reason: `/proc/${pid}/stat is not readable (the server is on another machine or in another PID namespace)`,
    };
  if (own.comm !== comm)
    return {
      reason: `/proc/${pid} is \`${own.comm}\`, not ${comm} (the server is in another PID namespace)`,
    };
  const parent = stat(own.ppid);
  return { name, root: parent?.comm === comm ? own.ppid : pid };
}

/** Ticks of `server.root` and its children; NaN if the root is gone. */
function serverTicks(server: ServerProcesses): number {
  const root = stat(server.root);
  if (root === undefined) return Number.NaN;
  let ticks = root.ticks;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s !== undefined && s.ppid === server.root) ticks += s.ticks;
  }
  return ticks;
}

/** Every `gc` entry since the first meter started; pruned as meters stop. */
let gcEntries: PerformanceEntry[] = [];
let gcObserver: PerformanceObserver | undefined;
let running = 0;

export interface Meter {
  /** Ends the run: its cost per item, and each server's CPU per item by name. */
  stop(items: number): Promise<{ cost: Cost; servers: Record<string, number> }>;
}

/**
 * Starts measuring. `servers[0]` fills `serverCpuUs`; every server's figure is also in
 * `servers` by name. Read `stop()` where the timing stops, before closing connections.
 */
export function startCost(servers: ServerProcesses[] = []): Meter {
  if (gcObserver === undefined) {
    gcObserver = new PerformanceObserver((list) => {
      gcEntries.push(...list.getEntries());
    });
    gcObserver.observe({ entryTypes: ['gc'] });
  }
  running++;
  const serverBefore = servers.map(serverTicks);
  const start = performance.now();
  const cpu = process.cpuUsage();
  return {
    async stop(items) {
      const cpuUsed = process.cpuUsage(cpu);
      const end = performance.now();
      const serverAfter = servers.map(serverTicks);
      // A collection's entry is queued after it ends; give the last one its turn.
      await new Promise((resolve) => setImmediate(resolve));
      gcEntries.push(...gcObserver!.takeRecords());
      let gcMs = 0;
      for (const e of gcEntries) if (e.startTime >= start && e.startTime < end) gcMs += e.duration;
      if (--running === 0) gcEntries = [];
      const perItem = servers.map(
        (_, i) => ((serverAfter[i]! - serverBefore[i]!) * usPerTick) / items,
      );
      return {
        cost: {
          nodeCpuUs: (cpuUsed.user + cpuUsed.system) / items,
          serverCpuUs: perItem[0] ?? Number.NaN,
          gcUs: (gcMs * 1000) / items,
        },
        servers: Object.fromEntries(servers.map((s, i) => [s.name, perItem[i]!])),
      };
    },
  };
}

/** The CPU of a changing set of processes, metered by {@link startProcessesCost}. */
export interface ProcessesMeter {
  /** Ends the run: the processes' CPU per item, µs; NaN if none was ever readable. */
  stop(items: number): Promise<number>;
}

/**
 * Meters processes that come and go during the run, such as the PostgreSQL backends of the
 * connections pools open and close: `pids()` is asked every `everyMs`, and each process
 * counts from its ticks when first seen (from zero if it first shows up after the start) to
 * its last reading; one that exits meanwhile loses at most its last `everyMs`.
 */
export function startProcessesCost(
  pids: () => Promise<number[]>,
  everyMs = 100,
): Promise<ProcessesMeter> {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  let started = false;
  const sample = async (): Promise<void> => {
    for (const pid of await pids()) {
      const s = stat(pid);
      if (s === undefined) continue;
      if (!first.has(pid)) first.set(pid, started ? 0 : s.ticks);
      last.set(pid, s.ticks);
    }
  };
  let sampling: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  return sample().then(() => {
    started = true;
    // Samples run one at a time; a failed one fails `stop()`, which awaits the last.
    timer = setInterval(() => {
      sampling = sampling.then(sample);
    }, everyMs);
    return {
      async stop(items) {
        clearInterval(timer);
        await (sampling = sampling.then(sample));
        if (last.size === 0) return Number.NaN;
        let ticks = 0;
        for (const [pid, t] of last) ticks += t - first.get(pid)!;
        return (ticks * usPerTick) / items;
      },
    };
  });
}
