/**
 * Group commit in front of a batch API (pg-boss `insert`, graphile-worker `addJobs`): each
 * caller submits one item and waits for it alone; the items submitted meanwhile go out
 * together in one call of `write`, at most `maxItems` a call and `maxInFlight` calls at
 * once. No timer: a call starts on the next turn of the event loop after a slot frees up,
 * with whatever is waiting then, so a call carries one item under a light load and grows
 * with the load. This is how a service with many concurrent requests drives a batch API.
 *
 * ```ts
 * const send = groupCommit((jobs) => boss.insert('q', jobs), { maxItems: 1000, maxInFlight: 2 });
 * await send({ data });
 * ```
 */
export interface GroupCommitOptions {
  /** Items of one call at most. */
  maxItems: number;
  /** Calls of `write` under way at once at most. */
  maxInFlight: number;
}

interface Waiting<T> {
  item: T;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export function groupCommit<T>(
  write: (items: T[]) => Promise<unknown>,
  options: GroupCommitOptions,
): (item: T) => Promise<void> {
  const waiting: Waiting<T>[] = [];
  let inFlight = 0;
  let scheduled = false;

  const start = (): void => {
    scheduled = false;
    while (inFlight < options.maxInFlight && waiting.length > 0) {
      const batch = waiting.splice(0, options.maxItems);
      inFlight++;
      void write(batch.map((w) => w.item))
        .then(
          () => {
            for (const w of batch) w.resolve();
          },
          // Each caller of the batch gets the error: nothing else observes it.
          (error: unknown) => {
            for (const w of batch) w.reject(error);
          },
        )
        .finally(() => {
          inFlight--;
          schedule();
        });
    }
  };
  const schedule = (): void => {
    if (scheduled || waiting.length === 0 || inFlight >= options.maxInFlight) return;
    scheduled = true;
    setImmediate(start);
  };

  return (item) =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      schedule();
    });
}
