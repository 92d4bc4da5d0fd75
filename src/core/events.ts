/**
 * A small typed event emitter: events are named `noun:verb` and carry one payload object.
 * Emitting with no listener costs a map lookup, so hot paths may emit freely. A listener
 * that throws does not break the emitter's caller: the error becomes a process warning.
 */
import { callSafely } from './callbacks.js';

/**
 * A typed event emitter: `Events` maps each event name to its payload type. Base class of
 * the components that emit (WriteBehind, WorkerPool).
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Adds a listener; returns the function that removes it. */
  on<E extends keyof Events>(event: E, listener: (payload: Events[E]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with `on`; does nothing if it is not there. */
  off<E extends keyof Events>(event: E, listener: (payload: Events[E]) => void): void {
    this.#listeners.get(event)?.delete(listener);
  }

  /** Whether `event` has a listener: skip building a costly payload when it has none. */
  hasListeners(event: keyof Events): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /**
   * Calls each listener of `event` synchronously, in the order they were added. One that
   * throws does not stop the others or the caller: its error becomes a process warning.
   */
  protected emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) return;
    for (const listener of set) callSafely(listener as (payload: Events[E]) => void, payload);
  }
}
