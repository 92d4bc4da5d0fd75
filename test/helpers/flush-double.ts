import type { FlushContext, FlushResult } from '../../src/index.js';

/** One call the double received; settle it by hand. */
export interface FlushCall<I, O> {
  readonly items: I[];
  readonly context: FlushContext;
  resolve(result?: FlushResult<O>): void;
  reject(error: unknown): void;
  readonly settled: boolean;
}

/**
 * A hand-driven flush: every call is recorded and stays pending until the test settles it,
 * so tests decide when and how each flush ends.
 */
export class FlushDouble<I, O = void> {
  readonly calls: FlushCall<I, O>[] = [];

  readonly flush = (items: I[], context: FlushContext): Promise<FlushResult<O>> =>
    new Promise((resolve, reject) => {
      let settled = false;
      this.calls.push({
        items: [...items],
        context,
        resolve: (result) => {
          settled = true;
          resolve(result);
        },
        reject: (error) => {
          settled = true;
          reject(error);
        },
        get settled() {
          return settled;
        },
      });
    });

  /** The calls not yet settled. */
  get open(): FlushCall<I, O>[] {
    return this.calls.filter((c) => !c.settled);
  }

  /** The only open call; fails the test if there is not exactly one. */
  only(): FlushCall<I, O> {
    const open = this.open;
    if (open.length !== 1) throw new Error(`expected exactly one open flush, got ${open.length}`);
    return open[0] as FlushCall<I, O>;
  }
}

/** Records how each promise settled, without leaving rejections unhandled. */
export function track<T>(promise: Promise<T>): {
  readonly state: 'pending' | 'resolved' | 'rejected';
  readonly value: T | undefined;
  readonly error: unknown;
} {
  const t = {
    state: 'pending' as 'pending' | 'resolved' | 'rejected',
    value: undefined as T | undefined,
    error: undefined as unknown,
  };
  promise.then(
    (v) => {
      t.state = 'resolved';
      t.value = v;
    },
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

/** Lets queued promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Lets the event loop turn until `condition` holds (no timers: fails after 2,000 turns). */
export async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}
