/**
 * Checkpoint: moves the source's checkpoint to the watermark, one commit at a time; the
 * latest mark wins (marks asked for while a commit runs are folded into the next one). A
 * failed commit is reported and tried again with the next mark; until then the entries stay
 * in the journal, which only means they may be delivered again after a restart.
 */
import type { EntrySource } from './source.js';

export class Checkpoint {
  #committed: number;
  #wanted: number;
  #committing: Promise<void> | undefined;
  #stopped = false;

  constructor(
    private readonly source: EntrySource,
    committed: number,
    private readonly onFailed: (error: unknown) => void,
  ) {
    this.#committed = committed;
    this.#wanted = committed;
  }

  /** The last mark committed. */
  get committed(): number {
    return this.#committed;
  }

  /** Commits `mark` (or a later one) soon. */
  moveTo(mark: number): void {
    if (mark > this.#wanted) this.#wanted = mark;
    if (this.#stopped || this.#committing !== undefined || this.#wanted <= this.#committed) return;
    const target = this.#wanted;
    this.#committing = (async () => {
      try {
        await this.source.commit(target);
        this.#committed = target;
        await this.source.trim(target);
      } finally {
        this.#committing = undefined;
      }
      this.moveTo(target);
    })();
    this.#committing.catch(this.onFailed);
  }

  /**
   * Commits up to `mark` one last time and stops: nothing commits after this resolves (the
   * consumer's next holder does). A failure was reported through `onFailed`.
   */
  async stop(mark: number): Promise<void> {
    await this.#settled();
    this.moveTo(mark); // nothing is in flight: this starts the last commit, if one is due
    this.#stopped = true;
    await this.#settled();
  }

  /** Resolves once no commit is in flight (a commit's tail may start the next one). */
  async #settled(): Promise<void> {
    // Failures are reported through onFailed; here they only end the wait.
    for (let c = this.#committing; c !== undefined; c = this.#committing) {
      await c.catch(() => {});
    }
  }
}
