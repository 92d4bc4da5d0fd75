/**
 * Pipelines under test on a ManualClock, with a leak check after each test.
 *
 * `trackedPipelines()` is called once at the top of a test file. For each test it gives a
 * fresh ManualClock, opens WriteBehind pipelines on it (`open`), drives the clock until a
 * promise settles (`drive`) or a condition holds (`until`), and after the test checks that
 * every pipeline it opened was closed (and the close settled), that no timer is left on the
 * clock, and that every promise handed to `track` has settled. A pipeline left open is
 * closed before the check fails, so a broken test cannot keep the process alive.
 *
 * Driving is bounded (`maxSteps` steps of `stepMs` of manual time), so a pipeline that would
 * never finish fails the test with what it waited for instead of hanging the suite.
 */
import { afterEach, beforeEach } from 'node:test';
import {
  ManualClock,
  WriteBehind,
  type Encodable,
  type WriteBehindOptions,
} from '../../src/index.js';
import { track } from './flush-double.js';

export type Tracked<T> = ReturnType<typeof track<T>>;

export interface DriveOptions {
  /** Manual time moved per step. @default 1 */
  stepMs?: number;
  /** Steps before giving up. @default 20000 */
  maxSteps?: number;
}

export interface TrackedPipelines {
  /** This test's clock; a new one for each test. */
  readonly clock: ManualClock;
  /** `WriteBehind.open()` on this test's clock; the pipeline must be closed by the test. */
  open<V extends Encodable<V>>(
    options: Omit<WriteBehindOptions<V>, 'clock'>,
  ): Promise<WriteBehind<V>>;
  /** Moves the clock step by step until `promise` settles; its outcome is passed on. */
  drive<T>(promise: Promise<T>, what?: string, options?: DriveOptions): Promise<T>;
  /** Moves the clock step by step until `condition()` holds. */
  until(condition: () => boolean, what: string, options?: DriveOptions): Promise<void>;
  /** Records how `promise` settles; it must have settled by the end of the test. */
  track<T>(promise: Promise<T>): Tracked<T>;
  /** Runs after the test, once its pipelines are closed (journals, files). */
  defer(cleanup: () => unknown): void;
}

interface Opened {
  readonly wb: WriteBehind<never>;
  closing: Tracked<unknown> | undefined;
}

/** Moves `clock` step by step until `promise` settles; its outcome is passed on. */
export async function drive<T>(
  clock: ManualClock,
  promise: Promise<T>,
  what = 'the promise',
  { stepMs = 1, maxSteps = 20_000 }: DriveOptions = {},
): Promise<T> {
  const t = track(promise);
  for (let i = 0; i < maxSteps && t.state === 'pending'; i++) await clock.advance(stepMs);
  if (t.state === 'pending') {
    throw new Error(`${what} still pending after ${maxSteps * stepMs} ms of manual time`);
  }
  return promise;
}

/** Moves `clock` step by step until `condition()` holds. */
export async function until(
  clock: ManualClock,
  condition: () => boolean,
  what: string,
  { stepMs = 1, maxSteps = 20_000 }: DriveOptions = {},
): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    if (condition()) return;
    await clock.advance(stepMs);
  }
  if (!condition()) throw new Error(`${what}: not so after ${maxSteps * stepMs} ms`);
}

export function trackedPipelines(): TrackedPipelines {
  let clock = new ManualClock();
  let opened: Opened[] = [];
  let tracked: Tracked<unknown>[] = [];
  let cleanups: (() => unknown)[] = [];

  beforeEach(() => {
    clock = new ManualClock();
    opened = [];
    tracked = [];
    cleanups = [];
  });

  afterEach(async () => {
    const problems: string[] = [];
    try {
      for (const [i, p] of opened.entries()) {
        if (p.closing === undefined) {
          problems.push(`pipeline #${i + 1} was not closed`);
          await drive(
            clock,
            p.wb.close({ deadlineMs: 0 }).catch(() => undefined),
            'closing a leaked pipeline',
          ).catch((error: unknown) => problems.push(String(error)));
        } else if (p.closing.state === 'pending') {
          problems.push(`pipeline #${i + 1}: close() had not settled`);
        }
      }
      const pending = tracked.filter((t) => t.state === 'pending').length;
      if (pending > 0) problems.push(`${pending} tracked promise(s) never settled`);
      if (clock.pendingTimers > 0) {
        problems.push(`${clock.pendingTimers} timer(s) left pending on the clock`);
      }
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup();
    }
    if (problems.length > 0) throw new Error(`leak check: ${problems.join('; ')}`);
  });

  return {
    get clock() {
      return clock;
    },
    async open<V extends Encodable<V>>(options: Omit<WriteBehindOptions<V>, 'clock'>) {
      const wb = await WriteBehind.open<V>({ ...options, clock });
      const entry: Opened = { wb: wb as unknown as WriteBehind<never>, closing: undefined };
      opened.push(entry);
      const close = wb.close.bind(wb);
      // Same promise, same idempotence: only noted, so the check knows it was called.
      wb.close = (closeOptions) => {
        const closing = close(closeOptions);
        entry.closing ??= track(closing);
        return closing;
      };
      return wb;
    },
    drive: (promise, what, options) => drive(clock, promise, what, options),
    until: (condition, what, options) => until(clock, condition, what, options),
    track<T>(promise: Promise<T>) {
      const t = track(promise);
      tracked.push(t);
      return t;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}
