/**
 * Histogram: percentiles over the most recent samples (a ring of `size` values), so a
 * snapshot shows current behaviour in bounded memory, plus a count and sum of everything.
 */

/** A Histogram's numbers at one moment. */
export interface HistogramSnapshot {
  /** Samples recorded since creation. */
  count: number;
  /** Mean over every sample recorded. */
  mean: number;
  /** Median of the recent samples. */
  p50: number;
  /** 99th percentile of the recent samples. */
  p99: number;
  /** Largest of the recent samples. */
  max: number;
}

/**
 * Percentiles over the most recent samples (a ring of `size`, 2048 by default), so a
 * snapshot shows current behaviour in bounded memory; count and mean cover every sample.
 */
export class Histogram {
  readonly #ring: Float64Array;
  #next = 0;
  #count = 0;
  #sum = 0;

  constructor(size = 2048) {
    this.#ring = new Float64Array(size);
  }

  /** Adds one sample. */
  record(value: number): void {
    this.#ring[this.#next] = value;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#count++;
    this.#sum += value;
  }

  /** Count, mean and percentiles now; all 0 before the first sample. */
  snapshot(): HistogramSnapshot {
    const n = Math.min(this.#count, this.#ring.length);
    if (n === 0) return { count: 0, mean: 0, p50: 0, p99: 0, max: 0 };
    const recent = this.#ring.slice(0, n).sort();
    const at = (p: number): number => recent[Math.min(n - 1, Math.ceil(p * n) - 1)] as number;
    return {
      count: this.#count,
      mean: this.#sum / this.#count,
      p50: at(0.5),
      p99: at(0.99),
      max: recent[n - 1] as number,
    };
  }
}
