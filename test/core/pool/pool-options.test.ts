import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  ManualClock,
  WorkerPool,
  type WorkerPoolOptions,
} from '../../../src/index.js';
import { booked, checkBooks } from '../../helpers/pool.js';

afterEach(checkBooks);

const handler = (n: number): number => n;
type Options = WorkerPoolOptions<string, number, number>;
/** Options as a caller without types might pass them: misspelled, mistyped. */
const make = (options: Record<string, unknown>) => () =>
  booked(new WorkerPool<string, number, number>({ handler, ...options }));

test('new WorkerPool() refuses a misspelled option, naming the nearest known one', () => {
  assert.throws(make({ worker: 2 }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(
      e.message,
      /Unknown option `worker` in WorkerPool options; did you mean `workers`\?/,
    );
    return true;
  });
  assert.throws(make({ ttl: 5 }), /did you mean `ttlMs`\?/);
  assert.throws(make({ ondiscard: () => {} }), /did you mean `onDiscard`\?/);
});

test('new WorkerPool() refuses misspelled names in nested options', () => {
  assert.throws(
    make({ queue: { limt: 1 } }),
    /Unknown option `limt` in queue; did you mean `limit`\?/,
  );
  assert.throws(
    make({ deadManSwitch: { intervalMs: 10, timeoutMs: 10, kil: true } }),
    /`kil` in deadManSwitch; did you mean `kill`\?/,
  );
  assert.throws(
    make({ rateLimit: { limit: 1, mod: 'delay' } }),
    /`mod` in rateLimit; did you mean `mode`\?/,
  );
  assert.throws(make({ restart: { maxRestart: 1, withinMs: 10 } }), /did you mean `maxRestarts`\?/);
  assert.throws(
    make({ handler: undefined, threads: { modul: 'x.js' } }),
    /`modul` in threads; did you mean `module`\?/,
  );
  assert.throws(
    make({ routing: { customhash: () => 0 } }),
    /`customhash` in routing; did you mean `customHash`\?/,
  );
});

test('new WorkerPool() refuses a wrong-typed boolean, a bad clock and non-function callbacks', () => {
  assert.throws(
    make({ deadManSwitch: { intervalMs: 10, timeoutMs: 10, kill: 'yes' } }),
    /Expected `deadManSwitch.kill` to be a boolean, got `"yes"` \(string\)/,
  );
  assert.throws(
    make({ clock: 'now' }),
    /Expected `clock` to be an object with now\(\), setTimer\(\)/,
  );
  assert.throws(make({ clock: { now: () => 0 } }), /`clock`/);
  assert.throws(make({ onDiscard: 'log' }), /Expected `onDiscard` to be a function/);
  assert.throws(make({ handler: 'run' }), /`handler`/);
  assert.throws(
    make({ routing: { customHash: 3 } }),
    /Expected `routing.customHash` to be a function/,
  );
  assert.throws(make({ handler: undefined, threads: { module: 3 } }), /`threads.module`/);
  assert.throws(make({ threads: { module: 'x.js' } }), /exactly one/, 'handler and threads');
});

test('new WorkerPool() refuses bad numbers and choices in every nested option', () => {
  assert.throws(make({ queue: { discard: 'middle' } }), /`queue.discard`/);
  assert.throws(make({ queue: 'big' }), /Expected `queue` to be an object/);
  assert.throws(make({ ttlMs: -1 }), /`ttlMs`/);
  assert.throws(make({ priorities: 0 }), /`priorities`/);
  assert.throws(make({ deadManSwitch: { intervalMs: 10 } }), /`deadManSwitch.timeoutMs`/);
  assert.throws(make({ rateLimit: { limit: 1, burst: 0 } }), /`rateLimit.burst`/);
  assert.throws(make({ rateLimit: { limit: 1, mode: 'queue' } }), /`rateLimit.mode`/);
  assert.throws(make({ restart: 'always' }), /`restart`/);
  assert.throws(() => booked(new WorkerPool(null as unknown as Options)), ConfigError);
});

test('new WorkerPool() takes a well-formed options bag, the clock among them', async () => {
  const clock = new ManualClock();
  const pool = booked(
    new WorkerPool<string, number, number>({
      workers: 2,
      routing: { customHash: () => 1 },
      handler,
      queue: { limit: 5, discard: 'oldest' },
      ttlMs: 100,
      priorities: 2,
      deadManSwitch: { intervalMs: 50, timeoutMs: 200, kill: false },
      rateLimit: { limit: 10, intervalMs: 100, burst: 2, mode: 'delay' },
      restart: { maxRestarts: 1, withinMs: 1000 },
      onDiscard: () => {},
      clock,
    }),
  );
  assert.equal(await pool.call({ key: 'k', msg: 7 }), 7);
  assert.equal(pool.routing, 'customHash');
  await pool.close();
  assert.equal(clock.pendingTimers, 0, 'pings stop on close');
});
