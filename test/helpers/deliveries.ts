import { MemoryJournal, type CursorAction, type JournalEntry } from '../../src/index.js';
import { until } from './flush-double.js';

/** A handler the test answers by hand, delivery by delivery. */
export class Deliveries {
  readonly seen: number[][] = [];
  #answers: { resolve: (a: CursorAction) => void; reject: (e: unknown) => void }[] = [];

  readonly handler = (batch: JournalEntry[]): Promise<CursorAction> =>
    new Promise((resolve, reject) => {
      this.seen.push(batch.map((e) => e.position));
      this.#answers.push({ resolve, reject });
    });

  async next(count: number): Promise<void> {
    await until(() => this.seen.length >= count, `delivery ${count}`);
  }

  ok(action?: CursorAction): void {
    this.#take().resolve(action);
  }

  fail(message = 'handler failed'): void {
    this.#take().reject(new Error(message));
  }

  #take(): { resolve: (a: CursorAction) => void; reject: (e: unknown) => void } {
    const answer = this.#answers.shift();
    if (answer === undefined) throw new Error('no delivery is waiting for an answer');
    return answer;
  }
}

export async function journalWith(n: number): Promise<MemoryJournal> {
  const journal = new MemoryJournal();
  await journal.append(Array.from({ length: n }, (_, i) => ({ key: `k${i}`, payload: i + 1 })));
  return journal;
}
