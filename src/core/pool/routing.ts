/**
 * Routing: which worker a job goes to, and which worker owns a key while its jobs wait or run.
 *
 * Which to choose:
 * - **keyPersistent** (the default): jobs of one key must run in order, one at a time, and
 *   the work is local (CPU, an in-process cache). A key already queued or running on a
 *   worker stays there; otherwise hash(key) mod workers. Cheapest; a slow job delays the
 *   other keys that hash to its worker (head-of-line blocking).
 * - **stickyQueuer**: keys must run in order, one at a time, but jobs wait on remote calls
 *   of uneven length. A key being processed goes to that worker; otherwise the job waits in
 *   the shared queue for the next idle worker, so no worker idles while another has a line.
 * - **queuer**: no per-key order needed; a shared FIFO that idle workers pull from. Best
 *   utilisation.
 * - **roundRobin** / **random**: spread one-off jobs evenly without a shared queue.
 * - **customHash**: your own `(key, workers) => index`, for affinity the others do not give
 *   (an index that is not an integer means worker 0; a negative one wraps around).
 *
 * Only keyPersistent and stickyQueuer promise per-key order and exclusivity (also across
 * `resize`): the {@link Router} keeps a ledger of which worker owns each key while any of
 * its jobs waits on or runs on that worker. The other modes may run two jobs of one key at once.
 */
import { ConfigError } from '../../errors.js';
import { knownOptions } from '../options.js';

/**
 * Where a WorkerPool sends each job. Which to choose:
 *
 * - `'keyPersistent'` (the default): one key's jobs in order, one at a time, on the worker
 *   its hash picks; cheapest, but a slow job delays the keys behind it on that worker.
 * - `'stickyQueuer'`: per-key order too, but a key not in progress waits in one shared queue
 *   for the next idle worker; for jobs of uneven length (remote calls).
 * - `'queuer'`: one shared FIFO that idle workers pull from; no per-key order.
 * - `'roundRobin'` / `'random'`: spread one-off jobs without a shared queue.
 * - `{ customHash }`: your own `(key, workers) => index` (a non-integer means worker 0, a
 *   negative one wraps around).
 *
 * Only the two keyed modes promise per-key order and exclusivity (also across `resize`).
 */
export type RoutingMode =
  | 'keyPersistent'
  | 'stickyQueuer'
  | 'queuer'
  | 'roundRobin'
  | 'random'
  | {
      /** Picks the worker index for a key, given the worker count. */
      customHash: (key: string, workers: number) => number;
    };

/** The name of a routing mode; `'customHash'` when given a function. */
export type RoutingKind =
  'keyPersistent' | 'stickyQueuer' | 'queuer' | 'roundRobin' | 'random' | 'customHash';

export type CustomHash = (key: string, workers: number) => number;

/** A routing mode, checked: its kind and, for customHash, the function. */
export interface ResolvedRouting {
  kind: RoutingKind;
  customHash: CustomHash | undefined;
}

const named = ['keyPersistent', 'stickyQueuer', 'queuer', 'roundRobin', 'random'] as const;

/** Parses the `routing` option (default keyPersistent). */
export function resolveRouting(mode: unknown, name = 'routing'): ResolvedRouting {
  if (mode === undefined) return { kind: 'keyPersistent', customHash: undefined };
  if ((named as readonly unknown[]).includes(mode)) {
    return { kind: mode as RoutingKind, customHash: undefined };
  }
  if (typeof mode === 'object' && mode !== null && !Array.isArray(mode)) {
    const o = knownOptions(name, mode, ['customHash']);
    if (typeof o.customHash === 'function') {
      return { kind: 'customHash', customHash: o.customHash as CustomHash };
    }
    throw new ConfigError(`${name}.customHash`, 'a function (key, workers) => index', o.customHash);
  }
  throw new ConfigError(
    name,
    "'keyPersistent' | 'stickyQueuer' | 'queuer' | 'roundRobin' | 'random' | { customHash }",
    mode,
  );
}

/** FNV-1a over the key's UTF-16 code units: fast, stable across processes, well spread. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Where a new job goes: onto a worker (`sticky`: following its busy key), or the shared queue. */
export type Destination<W> = { worker: W; sticky: boolean } | 'shared';

export class Router<W> {
  readonly kind: RoutingKind;
  /** Jobs wait in one shared queue that idle workers pull from, rather than per worker. */
  readonly shared: boolean;
  /** One key runs on one worker at a time, in order. */
  readonly keyed: boolean;
  readonly #customHash: CustomHash | undefined;
  #turn = 0;
  /** Keyed modes: the worker a key's queued or running jobs are on, and how many there are. */
  readonly #owners = new Map<string, { worker: W; count: number }>();

  constructor(routing: ResolvedRouting) {
    this.kind = routing.kind;
    this.#customHash = routing.customHash;
    this.shared = this.kind === 'queuer' || this.kind === 'stickyQueuer';
    this.keyed = this.kind === 'keyPersistent' || this.kind === 'stickyQueuer';
  }

  /**
   * Where a new job of `skey` goes, among the `active` workers. `waitingShared`: a job of the
   * key still waits in the shared queue (then a sticky job waits behind it, so it is handed
   * over in order when pulled).
   */
  route(skey: string, active: readonly W[], waitingShared: boolean): Destination<W> {
    if (this.shared) {
      const owner = this.kind === 'stickyQueuer' ? this.#owners.get(skey) : undefined;
      return owner !== undefined && !waitingShared
        ? { worker: owner.worker, sticky: true }
        : 'shared';
    }
    const owner = this.keyed ? this.#owners.get(skey) : undefined;
    return { worker: owner?.worker ?? this.#pick(skey, active), sticky: false };
  }

  /**
   * Who runs a job `puller` took from the shared queue: the puller, or in stickyQueuer mode
   * the worker its key is busy on (the job is handed over to that worker's queue).
   */
  claimant(skey: string, puller: W): W {
    if (this.kind !== 'stickyQueuer') return puller;
    return this.#owners.get(skey)?.worker ?? puller;
  }

  /** Records that one more job of `skey` is queued on or running on `worker`. */
  own(worker: W, skey: string): void {
    if (!this.keyed) return;
    const owner = this.#owners.get(skey);
    if (owner === undefined) this.#owners.set(skey, { worker, count: 1 });
    else owner.count++;
  }

  /** One job of `skey` left its worker (ended, or discarded from its queue). */
  disown(skey: string): void {
    if (!this.keyed) return;
    const owner = this.#owners.get(skey);
    if (owner !== undefined && --owner.count === 0) this.#owners.delete(skey);
  }

  #pick(skey: string, active: readonly W[]): W {
    const n = active.length;
    let slot: number;
    switch (this.kind) {
      case 'roundRobin':
        slot = this.#turn++ % n;
        break;
      case 'random':
        slot = Math.floor(Math.random() * n);
        break;
      case 'customHash': {
        const chosen = (this.#customHash as CustomHash)(skey, n);
        slot = Number.isInteger(chosen) ? ((chosen % n) + n) % n : 0;
        break;
      }
      default:
        slot = hashKey(skey) % n;
    }
    return active[slot] as W;
  }
}
