/**
 * Seeds for tests that draw random numbers, so a failing run can be replayed.
 *
 * `testSeed(t)` takes `SLUICE_SEED` from the environment when set, otherwise draws one, and
 * prints `seed=<n>` as a test diagnostic either way; `mulberry32(seed)` is the small
 * deterministic generator to draw from instead of `Math.random`.
 *
 * ```sh
 * SLUICE_SEED=1234 node --import tsx --test test/core/write-behind.crash.test.ts
 * ```
 */
import { randomInt } from 'node:crypto';
import type { TestContext } from 'node:test';

/** The seed of this run: `SLUICE_SEED`, or a fresh one; printed with the test's output. */
export function testSeed(t: TestContext): number {
  const given = process.env['SLUICE_SEED'];
  let seed: number;
  if (given === undefined || given === '') {
    seed = randomInt(0, 2 ** 31 - 1);
  } else {
    seed = Number(given);
    if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) {
      throw new Error(`SLUICE_SEED must be an integer in [0, 2^32), got ${JSON.stringify(given)}`);
    }
  }
  t.diagnostic(`seed=${seed} (replay with SLUICE_SEED=${seed})`);
  return seed;
}

/** A generator of numbers in [0, 1) from a 32-bit seed (mulberry32): same seed, same run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
