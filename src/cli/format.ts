/** How the CLI writes numbers and tables: grouped digits, aligned labels, one unit each. */

export const count = (n: number): string => Math.round(n).toLocaleString('en-US');

export const millis = (ms: number): string =>
  ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function seconds(s: number): string {
  if (!Number.isFinite(s)) return '-';
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Two aligned columns: `label   value`, indented by two spaces. */
export function table(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `  ${label.padEnd(width)}   ${value}`).join('\n');
}

/**
 * Columns under a header, indented by two spaces, two spaces apart; the columns whose
 * index is in `right` (numbers) are right-aligned.
 */
export function grid(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number> = new Set(),
): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map(
      (row) =>
        '  ' +
        widths
          .map((w, i) => (right.has(i) ? (row[i] ?? '').padStart(w) : (row[i] ?? '').padEnd(w)))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}
