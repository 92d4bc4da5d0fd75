/**
 * A line chart as a standalone SVG document, for benchmark figures under docs/: axes from
 * zero, tick labels, one polyline with point markers per series, a legend and a title. No
 * dependencies; the text is plain SVG 1.1 that browsers and GitHub render as is.
 *
 * Points whose x or y is not finite (a cost that could not be measured) are left out; a
 * series with none left is left out of the plot and the legend.
 *
 * ```ts
 * writeFileSync('docs/x.svg', lineChart({ title, xLabel, yLabel, series: [{ label, points }] }));
 * ```
 */

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  label: string;
  points: Point[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Where the x ticks go. @default evenly spaced round numbers from 0 */
  xTicks?: number[];
  /** Text of an x tick. @default the number */
  formatX?: (x: number) => string;
  /** @default 640 */
  widthPx?: number;
  /** @default 360 */
  heightPx?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

/** Round tick values from 0 to at least `max`, about `count` of them. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = 0; t < max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  if ((ticks.at(-1) as number) < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const num = (n: number): string => String(Math.round(n * 10) / 10);

export function lineChart(options: LineChartOptions): string {
  const width = options.widthPx ?? 640;
  const height = options.heightPx ?? 360;
  const formatX = options.formatX ?? ((x: number): string => String(x));
  const series = options.series
    .map((s) => ({
      label: s.label,
      points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)),
    }))
    .filter((s) => s.points.length > 0);
  const all = series.flatMap((s) => s.points);
  const xTicks = options.xTicks ?? niceTicks(Math.max(0, ...all.map((p) => p.x)));
  const yTicks = niceTicks(Math.max(0, ...all.map((p) => p.y)));
  const xMax = Math.max(...xTicks);
  const yMax = yTicks.at(-1) as number;

  const left = 64;
  const right = width - 24;
  const top = 48;
  const bottom = height - 52;
  const sx = (x: number): number => left + ((right - left) * x) / xMax;
  const sy = (y: number): number => bottom - ((bottom - top) * y) / yMax;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escape(options.title)}</text>`,
  ];
  for (const t of yTicks) {
    const y = num(sy(t));
    out.push(
      `<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escape(String(t))}</text>`,
    );
  }
  for (const t of xTicks) {
    const x = num(sx(t));
    out.push(
      `<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${bottom + 18}" text-anchor="middle">${escape(formatX(t))}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>`,
    `<text x="${(left + right) / 2}" y="${height - 12}" text-anchor="middle">${escape(options.xLabel)}</text>`,
    `<text transform="translate(16 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(options.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const points = [...s.points].sort((a, b) => a.x - b.x);
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${num(sx(p.x))},${num(sy(p.y))}`).join(' ')}"/>`,
      ...points.map(
        (p) => `<circle cx="${num(sx(p.x))}" cy="${num(sy(p.y))}" r="3.5" fill="${color}"/>`,
      ),
    );
  });
  // The legend sits in the top right corner of the plot, on a box of its own, sized for its
  // longest label at about 7 px a character (12 px sans-serif).
  const legendWidth = 44 + 7 * Math.max(0, ...series.map((s) => s.label.length));
  const lx = right - legendWidth;
  out.push(
    `<rect x="${lx}" y="${top - 4}" width="${legendWidth}" height="${series.length * 18 + 6}" fill="#fff" fill-opacity="0.85" stroke="#ccc"/>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const ly = top + 8 + i * 18;
    out.push(
      `<line x1="${lx + 8}" y1="${ly}" x2="${lx + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${lx + 38}" y="${ly}" dominant-baseline="middle">${escape(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
