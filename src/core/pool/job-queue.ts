/**
 * JobQueue: where jobs wait, by priority, with the order of each key kept.
 *
 * Guarantees: the jobs of one key leave in the order they were queued whatever their
 * priorities: a job queued at the back never gets a higher level than the job of its key
 * queued before it, and a job put back at the front (re-dispatched after a crash) never gets
 * a lower level than the jobs of its key still waiting. Higher levels leave first; within a
 * level, oldest first. Every queue of a pool counts into one shared {@link QueueTally}, so the
 * pool knows how much waits in all of them without summing.
 */
import type { PoolJob } from './job.js';
import { PriorityQueue } from './priority-queue.js';

/** Jobs waiting across every queue of one pool (and its rate-limit delay line). */
export interface QueueTally {
  queued: number;
}

/** Per key: how many of its jobs wait here, and the levels bounding them. */
interface KeyEntry {
  count: number;
  /** At least the level of the key's first waiting job (levels only fall towards the back). */
  first: number;
  /** The level of the key's last waiting job: the ceiling for the next one. */
  last: number;
}

export class JobQueue<J extends PoolJob = PoolJob> {
  readonly #queue: PriorityQueue<J>;
  readonly #keys = new Map<string, KeyEntry>();

  constructor(
    levels: number,
    private readonly tally: QueueTally,
  ) {
    this.#queue = new PriorityQueue(levels);
  }

  get length(): number {
    return this.#queue.length;
  }

  /** Whether a job of this key waits here. */
  has(skey: string): boolean {
    return this.#keys.has(skey);
  }

  /** Lowest level with a job waiting, or -1 when empty. */
  lowestLevel(): number {
    return this.#queue.lowestLevel();
  }

  /** Queues a job behind everything (`'back'`) or, for a job re-dispatched, before (`'front'`). */
  enqueue(job: J, end: 'back' | 'front'): void {
    const entry = this.#keys.get(job.skey);
    if (entry === undefined) {
      this.#keys.set(job.skey, { count: 1, first: job.level, last: job.level });
    } else if (end === 'back') {
      job.level = Math.min(job.level, entry.last);
      entry.last = job.level;
      entry.count++;
    } else {
      job.level = Math.max(job.level, entry.first);
      entry.first = job.level;
      entry.count++;
    }
    if (end === 'back') this.#queue.push(job, job.level);
    else this.#queue.unshift(job, job.level);
    this.tally.queued++;
  }

  /** The next job: the oldest of the highest level. */
  shift(): J | undefined {
    const job = this.#queue.shift();
    if (job !== undefined) this.#forget(job);
    return job;
  }

  /** Removes the oldest or newest job of the lowest level (load shedding). */
  shed(which: 'oldest' | 'newest'): J | undefined {
    const job = this.#queue.shed(which);
    if (job !== undefined) this.#forget(job);
    return job;
  }

  /** Removes every job, highest level first. */
  drain(): J[] {
    const jobs = this.#queue.drain();
    this.#keys.clear();
    this.tally.queued -= jobs.length;
    return jobs;
  }

  #forget(job: J): void {
    const entry = this.#keys.get(job.skey);
    if (entry !== undefined && --entry.count === 0) this.#keys.delete(job.skey);
    this.tally.queued--;
  }
}
