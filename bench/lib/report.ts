/**
 * Shared by every benchmark: the smoke switch, timing of one variant, the printed table,
 * and the saved records (bench/results/<bench>.jsonl: name, date, commit, Node.js version,
 * items, items/s, p50, p99, the cost per item where measured (bench/lib/cost.ts) and the
 * setup).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cost } from './cost.js';

/** `--smoke` (or SLUICE_BENCH_SMOKE=1): tiny sizes, one round; proves the bench still runs. */
export const smoke = process.argv.includes('--smoke') || process.env['SLUICE_BENCH_SMOKE'] === '1';

export interface Result {
  variant: string;
  items: number;
  seconds: number;
  /** Per-item latency samples in milliseconds. */
  latenciesMs: number[];
  /** CPU and GC per item over the run; the table shows its columns when a row has one. */
  cost?: Cost;
}

export interface Row {
  variant: string;
  items: number;
  itemsPerSec: number;
  nsPerItem: number;
  p50Ms: number;
  p99Ms: number;
  cost?: Cost;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function toRow(r: Result): Row {
  const lat = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    variant: r.variant,
    items: r.items,
    itemsPerSec: r.items / r.seconds,
    nsPerItem: (r.seconds * 1e9) / r.items,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    ...(r.cost === undefined ? {} : { cost: r.cost }),
  };
}

/** Of several rounds of one variant, the one with the median throughput. */
export function median(rounds: Result[]): Result {
  const sorted = [...rounds].sort((a, b) => a.seconds - b.seconds);
  return sorted[Math.floor(sorted.length / 2)] as Result;
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return '-';
  return n.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

export interface TableOptions {
  /** Header of the cost's `serverCpuUs` column. @default 'server CPU µs/item' */
  serverCpuLabel?: string;
  /** Columns after all others, one cell per row (`'-'` where a row has nothing to show). */
  columns?: { header: string; cell: (row: Row) => string }[];
}

/**
 * Prints a table; `ratioTo` names the row every other row is compared with. When a row has
 * a cost, three columns follow, in µs per item: Node CPU, the server's CPU, GC ('-' where
 * not measured).
 */
export function printTable(
  title: string,
  rows: Row[],
  ratioTo: string,
  ratioLabel: string,
  options: TableOptions = {},
): void {
  const base = rows.find((r) => r.variant === ratioTo);
  const costs = rows.some((r) => r.cost !== undefined);
  const lines = rows.map((r) => [
    r.variant,
    fmt(r.itemsPerSec),
    fmt(r.nsPerItem),
    fmt(r.p50Ms, 3),
    fmt(r.p99Ms, 3),
    base === undefined ? '-' : `${fmt(r.nsPerItem / base.nsPerItem, 2)}x`,
    ...(costs
      ? [
          fmt(r.cost?.nodeCpuUs ?? Number.NaN, 1),
          fmt(r.cost?.serverCpuUs ?? Number.NaN, 1),
          fmt(r.cost?.gcUs ?? Number.NaN, 1),
        ]
      : []),
    ...(options.columns ?? []).map((c) => c.cell(r)),
  ]);
  const header = [
    'variant',
    'items/s',
    'ns/item',
    'p50 ms',
    'p99 ms',
    ratioLabel,
    ...(costs
      ? ['node CPU µs/item', options.serverCpuLabel ?? 'server CPU µs/item', 'GC µs/item']
      : []),
    ...(options.columns ?? []).map((c) => c.header),
  ];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...lines.map((l) => (l[i] as string).length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(line(l));
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Appends one JSON line per row to bench/results/<bench>.jsonl. */
export function save(bench: string, rows: Row[], setup: Record<string, unknown>): void {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString();
  const sha = commit();
  const node = process.version;
  const lines = rows.map((r) =>
    JSON.stringify({ bench, date, commit: sha, node, smoke, setup, ...r }),
  );
  appendFileSync(join(dir, `${bench}.jsonl`), `${lines.join('\n')}\n`);
}
