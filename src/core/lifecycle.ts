/**
 * Lifecycle: a component's named states and the transitions allowed between them, written
 * down once and asserted on every change, instead of booleans whose combinations mean
 * something. An impossible transition is a bug in sluice, so it throws at once.
 *
 * ```ts
 * const life = new Lifecycle('write-behind', 'running', {
 *   running: ['closing'], closing: ['closed'], closed: [],
 * });
 * life.to('closing');
 * ```
 */
export class Lifecycle<S extends string> {
  #state: S;

  constructor(
    private readonly component: string,
    initial: S,
    private readonly transitions: Readonly<Record<S, readonly S[]>>,
  ) {
    this.#state = initial;
  }

  /** The current state. */
  get state(): S {
    return this.#state;
  }

  /** Whether the current state is one of `states`. */
  is(...states: S[]): boolean {
    return states.includes(this.#state);
  }

  /** Moves to `next`; throws if the table does not allow it from the current state. */
  to(next: S): void {
    if (!this.transitions[this.#state].includes(next)) {
      throw new Error(`${this.component} cannot go from '${this.#state}' to '${next}'`);
    }
    this.#state = next;
  }
}
