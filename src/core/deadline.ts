/**
 * The close-with-deadline race every component's `close({ deadlineMs })` runs: wait for the
 * work, or for the deadline on the component's clock, whichever comes first. Written once so
 * every `close` means the same thing (see the lifecycle table in the glossary, index.ts).
 */
import type { Clock, Timer } from './clock.js';

/**
 * Resolves `true` once `work` resolves, or `false` when `deadlineMs` passes first
 * (`Infinity`: no deadline). A rejection of `work` before the deadline is passed on.
 * The timer is cancelled either way, so nothing is left pending.
 */
export async function withinDeadline(
  work: Promise<unknown>,
  deadlineMs: number,
  clock: Clock,
): Promise<boolean> {
  if (deadlineMs === Infinity) {
    await work;
    return true;
  }
  let timer: Timer | undefined;
  try {
    return await Promise.race([
      work.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = clock.setTimer(() => resolve(false), deadlineMs);
      }),
    ]);
  } finally {
    timer?.cancel();
  }
}
