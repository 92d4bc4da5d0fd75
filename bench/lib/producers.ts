/**
 * A closed loop of producers: `producers` callers, each awaiting its write before the next,
 * together writing `entries` (write `i` for i in 0..entries-1); latency sampled on every
 * 16th write.
 */
export async function produce(
  entries: number,
  write: (i: number) => Promise<unknown>,
  producers: number,
): Promise<{ seconds: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      for (let i = next++; i < entries; i = next++) {
        if ((i & 15) === 0) {
          const t0 = performance.now();
          await write(i);
          latenciesMs.push(performance.now() - t0);
        } else await write(i);
      }
    }),
  );
  return { seconds: (performance.now() - start) / 1000, latenciesMs };
}
