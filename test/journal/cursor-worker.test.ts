import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClosedError,
  ConfigError,
  CursorWorker,
  JournalLockedError,
  ManualClock,
  MemoryJournal,
  RestartBudgetExhaustedError,
} from '../../src/index.js';
import { Deliveries, journalWith } from '../helpers/deliveries.js';
import { until } from '../helpers/flush-double.js';

test('CursorWorker delivers batches in order and commits after each one', async () => {
  const journal = await journalWith(5);
  const d = new Deliveries();
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', batchSize: 2, clock: new ManualClock() },
    d.handler,
  );
  await d.next(1);
  assert.equal(await journal.committed('c'), 0, 'not committed while the handler runs');
  d.ok();
  await d.next(2);
  assert.equal(await journal.committed('c'), 2);
  d.ok();
  await d.next(3);
  d.ok('stop');
  await worker.join();
  assert.deepEqual(d.seen, [[1, 2], [3, 4], [5]]);
  assert.equal(await journal.committed('c'), 5);
  assert.equal(worker.state, 'stopped');
});

test('CursorWorker resumes from the committed checkpoint', async () => {
  const journal = await journalWith(4);
  await journal.commit('c', 3);
  const d = new Deliveries();
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', clock: new ManualClock() },
    d.handler,
  );
  await d.next(1);
  d.ok('stop');
  await worker.join();
  assert.deepEqual(d.seen, [[4]]);
});

test('CursorWorker parks when idle and wakes on the next append', async () => {
  const clock = new ManualClock();
  const journal = new MemoryJournal();
  const d = new Deliveries();
  const worker = CursorWorker.start(journal, { consumer: 'c', clock, idleMs: 60_000 }, d.handler);
  await until(() => clock.pendingTimers === 1, 'the worker to park');
  assert.equal(d.seen.length, 0);
  await journal.append([{ key: 'a', payload: 1 }]);
  await d.next(1);
  d.ok('stop');
  await worker.join();
  assert.equal(clock.pendingTimers, 0, 'the idle timer was cancelled');
});

test("restart 'once': a failed batch is delivered again from the checkpoint, a second failure is final", async () => {
  const journal = await journalWith(3);
  const d = new Deliveries();
  const restarts: string[] = [];
  const worker = CursorWorker.start(
    journal,
    {
      consumer: 'c',
      batchSize: 2,
      restart: 'once',
      clock: new ManualClock(),
      onRestart: (e) => restarts.push((e as Error).message),
    },
    d.handler,
  );
  await d.next(1);
  d.ok();
  await d.next(2);
  d.fail('first failure');
  await d.next(3);
  assert.deepEqual(d.seen[2], [3], 'the failed batch again, from the checkpoint');
  d.fail('second failure');
  await assert.rejects(worker.join(), (e: unknown) => {
    assert.ok(e instanceof RestartBudgetExhaustedError);
    assert.equal(e.code, 'ERR_SLUICE_RESTART_BUDGET');
    assert.equal(e.restarts, 1);
    assert.equal((e.cause as Error).message, 'second failure');
    assert.match(e.message, /cursor worker 'c' failed after 1 restart\(s\)/);
    return true;
  });
  assert.equal(worker.state, 'failed');
  assert.deepEqual(restarts, ['first failure']);
  assert.equal(await journal.committed('c'), 2, 'the failed batch stays uncommitted');
});

test("restart 'never': the first failure is final", async () => {
  const journal = await journalWith(1);
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', restart: 'never', clock: new ManualClock() },
    () => {
      throw new Error('boom');
    },
  );
  await assert.rejects(worker.join(), RestartBudgetExhaustedError);
  assert.equal(worker.restarts, 0);
});

test('restart { maxRestarts, withinMs }: failures spread in time go on, a burst exhausts it', async () => {
  const clock = new ManualClock();
  const journal = await journalWith(1);
  const d = new Deliveries();
  const worker = CursorWorker.start(
    journal,
    { consumer: 'c', restart: { maxRestarts: 2, withinMs: 1000 }, clock },
    d.handler,
  );
  let deliveries = 0;
  const failNext = async (): Promise<void> => {
    await d.next(++deliveries);
    d.fail(`failure ${deliveries}`);
  };
  await failNext(); // t=0: restart 1
  await clock.advance(600);
  await failNext(); // t=600: restart 2
  await clock.advance(500); // t=1100: the restart at 0 has left the window
  await failNext(); // restart 3
  await clock.advance(1000); // t=2100: both earlier restarts have left
  await failNext(); // restart 4
  await failNext(); // restart 5: two in the window now
  assert.equal(worker.state, 'running');
  await failNext(); // a third within a second: exhausted
  await assert.rejects(
    worker.join(),
    (e: unknown) => e instanceof RestartBudgetExhaustedError && e.restarts === 5,
  );
  assert.equal(await journal.committed('c'), 0);
});

test('poison: a batch that fails maxDeliveries times is handed to onPoison and skipped', async () => {
  const journal = await journalWith(3);
  const poisoned: [number[], string][] = [];
  const delivered: number[][] = [];
  const worker = CursorWorker.start(
    journal,
    {
      consumer: 'c',
      batchSize: 1,
      restart: { maxRestarts: 10, withinMs: 1000 },
      clock: new ManualClock(),
      poison: {
        maxDeliveries: 3,
        onPoison: (batch, error) =>
          void poisoned.push([batch.map((e) => e.position), (error as Error).message]),
      },
    },
    (batch) => {
      delivered.push(batch.map((e) => e.position));
      if (batch[0]?.payload === 2) throw new Error('cannot handle 2');
      return batch[0]?.payload === 3 ? 'stop' : 'continue';
    },
  );
  await worker.join();
  assert.deepEqual(delivered, [[1], [2], [2], [2], [3]]);
  assert.deepEqual(poisoned, [[[2], 'cannot handle 2']]);
  assert.equal(await journal.committed('c'), 3);
  assert.equal(worker.restarts, 2);
});

test('poison: an onPoison that throws fails the worker, and the batch stays uncommitted', async () => {
  const journal = await journalWith(1);
  const worker = CursorWorker.start(
    journal,
    {
      consumer: 'c',
      restart: { maxRestarts: 5, withinMs: 1000 },
      clock: new ManualClock(),
      poison: {
        maxDeliveries: 2,
        onPoison: () => {
          throw new Error('dead-letter store is down');
        },
      },
    },
    () => {
      throw new Error('cannot handle');
    },
  );
  await assert.rejects(worker.join(), /dead-letter store is down/);
  assert.equal(await journal.committed('c'), 0);
});

test('CursorWorker fails with the journal error when its journal closes under it', async () => {
  const clock = new ManualClock();
  const journal = new MemoryJournal();
  const worker = CursorWorker.start(journal, { consumer: 'c', clock }, () => {});
  await until(() => clock.pendingTimers === 1, 'the worker to park');
  await journal.close();
  await assert.rejects(worker.join(), ClosedError);
});

test('CursorWorker.start() refuses bad options', () => {
  const journal = new MemoryJournal();
  const start = (options: Record<string, unknown>, handler: unknown = () => {}): CursorWorker =>
    CursorWorker.start(journal, { consumer: 'c', ...options }, handler as never);
  const refuses = (options: Record<string, unknown>, message: RegExp, handler?: unknown): void => {
    assert.throws(
      () => start(options, handler),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      String(message),
    );
  };
  refuses({ consumer: '' }, /Expected `consumer` to be a non-empty string, got `""`/);
  refuses({ batchSize: 0 }, /`batchSize`/);
  refuses({ restart: 'always' }, /`restart`/);
  refuses({ restart: { maxRestarts: 1, withinMS: 10 } }, /in restart; did you mean `withinMs`\?/);
  refuses({ poison: { maxDeliveries: 0, onPoison: () => {} } }, /`poison.maxDeliveries`/);
  refuses(
    { poison: { maxDeliveries: 2, onPoison: 'log' } },
    /Expected `poison.onPoison` to be a function, got `"log"`/,
  );
  refuses(
    { poison: { maxDelivery: 2, onPoison: () => {} } },
    /in poison; did you mean `maxDeliveries`\?/,
  );
  refuses(
    { batchsize: 10 },
    /Unknown option `batchsize` in CursorWorker options; did you mean `batchSize`\?/,
  );
  refuses({ onRestart: 'log' }, /Expected `onRestart` to be a function, got `"log"` \(string\)/);
  refuses({ clock: 'now' }, /Expected `clock` to be an object with now\(\), setTimer\(\)/);
  refuses({ region: { keys: 'a' } }, /region.keys must be an array of strings/);
  refuses({ region: { keyPrefx: 'a' } }, /in region; did you mean `keyPrefix`\?/);
  refuses({}, /Expected `handler` to be a function/, 'handle');
});

test('CursorWorker holds its consumer: a second worker on it fails with JournalLockedError; after close() the next one runs', async () => {
  const journal = await journalWith(3);
  const first = new Deliveries();
  const a = CursorWorker.start(journal, { consumer: 'mailer' }, first.handler);
  await first.next(1);
  const b = CursorWorker.start(journal, { consumer: 'mailer' }, () => undefined);
  await assert.rejects(b.join(), JournalLockedError);
  const closing = a.close();
  first.ok();
  assert.deepEqual(await closing, { drained: true });
  await journal.append([{ key: 'k', payload: 4 }]);
  const third = new Deliveries();
  const c = CursorWorker.start(journal, { consumer: 'mailer' }, third.handler);
  await third.next(1);
  assert.deepEqual(third.seen, [[4]], 'it resumes after what the first one committed');
  const closingC = c.close();
  third.ok();
  await closingC;
  await c.join();
});
