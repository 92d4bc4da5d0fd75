/**
 * Journals as the pipeline sees them, for tests of its read path: one that hands over
 * nothing (`onAppended` hidden), so every entry is read back, and one that counts what reads
 * returned.
 */
import type { Journal } from '../../src/index.js';

/** `journal` without `onAppended`: the pipeline reads back everything, as before a tail. */
export function withoutTail<J extends Journal>(journal: J): J {
  return new Proxy(journal, {
    get(target, name) {
      if (name === 'onAppended') return undefined;
      const value: unknown = Reflect.get(target, name, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

/** `journal` with a count of the entries its reads returned. */
export function countingReads<J extends Journal>(
  journal: J,
): { journal: J; readBack: () => number } {
  let readBack = 0;
  const counted = new Proxy(journal, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name, target);
      if (name === 'read') {
        return async (...args: Parameters<Journal['read']>) => {
          const entries = await target.read(...args);
          readBack += entries.length;
          return entries;
        };
      }
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  return { journal: counted, readBack: () => readBack };
}
