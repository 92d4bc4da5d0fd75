/**
 * BatchChunk: the Batcher's bookkeeping for one batch, first in the making, then in flight.
 *
 * Items are admitted into the newest chunk until it holds `maxSize`; dispatch hands over a
 * whole chunk, so no item is copied or shifted. Each slot pairs an item with its caller's
 * `resolve` and `reject`, so items and callers always line up, also after aborted slots are
 * dropped (`compact`).
 *
 * States, one way only: filling (`dispatched` false: slots may be added or cancelled) →
 * dispatched (handed to a flush, or abandoned at a close deadline: the slots are fixed) →
 * settled (every caller has its outcome; later outcomes are ignored, so each caller settles
 * exactly once).
 */

/** A batch in the making, then in flight. */
export class BatchChunk<I, O> {
  // Preallocated and written by index: growing three arrays by push cost more than the
  // rest of a submit. `size` is the fill; the arrays are trimmed to it at dispatch.
  readonly items: I[];
  readonly resolves: ((value: O) => void)[];
  readonly rejects: ((error: unknown) => void)[];
  size = 0;
  /** Indexes removed by their abort signal before dispatch (rare, so created lazily). */
  cancelled: Set<number> | undefined = undefined;
  /** Removes abort listeners once the chunk is dispatched. */
  cleanups: (() => void)[] | undefined = undefined;
  dispatched = false;
  settled = false;
  controller: AbortController | undefined = undefined;

  constructor(
    /** Admission number of `items[0]`; the others follow without gaps. */
    readonly firstSeq: number,
    /** When `items[0]` was admitted: the batch's delay counts from here. */
    readonly arrivedAt: number,
    capacity: number,
  ) {
    this.items = new Array<I>(capacity);
    this.resolves = new Array<(value: O) => void>(capacity);
    this.rejects = new Array<(error: unknown) => void>(capacity);
  }

  add(item: I, resolve: (value: O) => void, reject: (error: unknown) => void): void {
    const i = this.size++;
    this.items[i] = item;
    this.resolves[i] = resolve;
    this.rejects[i] = reject;
  }

  get lastSeq(): number {
    return this.firstSeq + this.size - 1;
  }

  get live(): number {
    return this.size - (this.cancelled?.size ?? 0);
  }

  /** Aborted when the Batcher gives up on the flush; created only if someone reads it. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /**
   * Fixes the slots as they are now (dispatch, or abandonment at a close deadline): the abort
   * listeners are removed and cancelled slots dropped, so `items[i]` belongs to the caller
   * of `resolves[i]` and `rejects[i]`.
   */
  detach(): void {
    this.dispatched = true;
    if (this.cleanups !== undefined) for (const cleanup of this.cleanups) cleanup();
    this.cleanups = undefined;
    this.#compact();
  }

  /** Trims to the fill and drops cancelled slots, so items and callers line up. */
  #compact(): void {
    const cancelled = this.cancelled;
    if (cancelled === undefined || cancelled.size === 0) {
      if (this.items.length !== this.size) {
        this.items.length = this.resolves.length = this.rejects.length = this.size;
      }
      return;
    }
    let w = 0;
    for (let r = 0; r < this.size; r++) {
      if (cancelled.has(r)) continue;
      this.items[w] = this.items[r] as I;
      this.resolves[w] = this.resolves[r] as (value: O) => void;
      this.rejects[w] = this.rejects[r] as (error: unknown) => void;
      w++;
    }
    this.items.length = this.resolves.length = this.rejects.length = this.size = w;
    this.cancelled = undefined;
  }
}
