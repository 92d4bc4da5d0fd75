/**
 * bench/batcher: the cost of batching itself. 1,000,000 items go through a flush that does
 * nothing, side by side in one run:
 *
 * - floor: each item is one awaited promise (an async no-op), no batching at all;
 * - sluice Batcher;
 * - DataLoader (cache off) with the same batch size;
 * - a hand-rolled array + setTimeout micro-batcher, the code people write themselves.
 *
 * Two load shapes: `producers` (1,000 concurrent callers, each awaiting its write before
 * the next, as request handlers do) and `burst` (waves of 10,000 submits awaited together).
 * Each variant runs several rounds, alternating; the median round is reported. Latency is
 * sampled on every 64th item.
 *
 * Run: npm run bench -- batcher      (add --smoke for a quick check)
 */
import DataLoader from 'dataloader';
import { Batcher } from '../src/index.js';
import { median, printTable, save, smoke, toRow, type Result, type Row } from './lib/report.js';

const ITEMS = smoke ? 20_000 : 1_000_000;
const ROUNDS = smoke ? 1 : 5;
const BATCH = 1000;
const DELAY_MS = 1;
const PRODUCERS = 1000;
const WAVE = 10_000;

type Submit = (item: number) => Promise<unknown>;
interface Variant {
  name: string;
  make(): Submit;
}

class ArrayTimerBatcher {
  #items: number[] = [];
  #callers: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxSize: number,
    private readonly delayMs: number,
    private readonly flush: (items: number[]) => void | Promise<void>,
  ) {}

  submit(item: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#items.push(item);
      this.#callers.push({ resolve, reject });
      if (this.#items.length >= this.maxSize) this.#run();
      else this.#timer ??= setTimeout(() => this.#run(), this.delayMs);
    });
  }

  #run(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const items = this.#items;
    const callers = this.#callers;
    this.#items = [];
    this.#callers = [];
    Promise.resolve(this.flush(items)).then(
      () => callers.forEach((c) => c.resolve()),
      (e: unknown) => callers.forEach((c) => c.reject(e)),
    );
  }
}

const noop = (): void => {};

const variants: Variant[] = [
  {
    name: 'floor: one awaited promise per item',
    // eslint-disable-next-line @typescript-eslint/require-await -- the promise is the point
    make: () => async (item: number) => item,
  },
  {
    name: 'sluice Batcher',
    make: () => {
      const b = new Batcher<number>({
        maxSize: BATCH,
        maxDelayMs: DELAY_MS,
        maxPending: 20 * BATCH,
        flush: noop,
      });
      return (item) => b.submit(item);
    },
  },
  {
    name: 'DataLoader',
    make: () => {
      const loader = new DataLoader<number, number>((keys) => Promise.resolve(keys), {
        maxBatchSize: BATCH,
        cache: false,
      });
      return (item) => loader.load(item);
    },
  },
  {
    name: 'array + timer by hand',
    make: () => {
      const b = new ArrayTimerBatcher(BATCH, DELAY_MS, noop);
      return (item) => b.submit(item);
    },
  },
];

async function producers(name: string, submit: Submit): Promise<Result> {
  const per = ITEMS / PRODUCERS;
  const latenciesMs: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, p) => {
      for (let k = 0; k < per; k++) {
        const item = p * per + k;
        if ((item & 63) === 0) {
          const t0 = performance.now();
          await submit(item);
          latenciesMs.push(performance.now() - t0);
        } else {
          await submit(item);
        }
      }
    }),
  );
  return { variant: name, items: ITEMS, seconds: (performance.now() - start) / 1000, latenciesMs };
}

async function burst(name: string, submit: Submit): Promise<Result> {
  const latenciesMs: number[] = [];
  const start = performance.now();
  for (let i = 0; i < ITEMS; i += WAVE) {
    const wave = new Array<Promise<unknown>>(WAVE);
    const t0 = performance.now();
    for (let j = 0; j < WAVE; j++) wave[j] = submit(i + j);
    await Promise.all(wave);
    latenciesMs.push(performance.now() - t0);
  }
  return { variant: name, items: ITEMS, seconds: (performance.now() - start) / 1000, latenciesMs };
}

const setup = {
  items: ITEMS,
  batch: BATCH,
  delayMs: DELAY_MS,
  producers: PRODUCERS,
  wave: WAVE,
  rounds: ROUNDS,
};
console.log(
  `bench/batcher: ${ITEMS.toLocaleString('en-US')} items, batch ${BATCH}, flush does nothing, ${ROUNDS} round(s), median shown`,
);

for (const [shape, run] of [
  ['producers', producers],
  ['burst', burst],
] as const) {
  const rounds = new Map<string, Result[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const result = await run(v.name, v.make());
      rounds.set(v.name, [...(rounds.get(v.name) ?? []), result]);
    }
  }
  const rows: Row[] = variants.map((v) => toRow(median(rounds.get(v.name) as Result[])));
  const title =
    shape === 'producers'
      ? `${PRODUCERS} concurrent producers, each awaiting its item (latency: one submit)`
      : `bursts of ${WAVE.toLocaleString('en-US')} submits awaited together (latency: one burst)`;
  printTable(title, rows, variants[0]!.name, 'vs floor');
  const sluice = rows.find((r) => r.variant === 'sluice Batcher')!;
  const loader = rows.find((r) => r.variant === 'DataLoader')!;
  console.log(
    `sluice Batcher vs DataLoader: ${(loader.nsPerItem / sluice.nsPerItem).toFixed(2)}x the throughput`,
  );
  save('batcher', rows, { ...setup, shape });
}
