import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher, ConfigError, type BatcherOptions } from '../../src/index.js';

test('new Batcher() refuses bad options with a ConfigError naming option, value and type', () => {
  const flush = (): void => {};
  const cases: [Partial<BatcherOptions<number, void>>, RegExp][] = [
    [{ maxSize: 0 }, /Expected `maxSize` to be an integer >= 1, got `0` \(number\)/],
    [{ maxSize: 2.5 }, /`maxSize`.*`2.5` \(number\)/],
    [{ maxDelayMs: -1 }, /Expected `maxDelayMs` to be a finite number >= 0, got `-1` \(number\)/],
    [{ maxPending: 1 }, /Expected `maxPending` to be an integer >= maxSize \(3\), got `1`/],
    [{ maxConcurrentFlushes: 0 }, /`maxConcurrentFlushes`/],
    [{ overflow: 'drop' as 'wait' }, /`overflow` to be one of 'wait' \| 'reject'/],
    [
      { flush: 'nope' as unknown as typeof flush },
      /Expected `flush` to be a function, got `"nope"` \(string\)/,
    ],
    [{ retry: { maxAttempts: -1 } }, /`retry.maxAttempts`/],
    [
      { retry: { maxAttempt: 2 } as never },
      /Unknown option `maxAttempt` in retry; did you mean `maxAttempts`\?/,
    ],
    [{ retry: 'always' as never }, /Expected `retry` to be an object, got `"always"`/],
    [
      { maxDelay: 5 } as never,
      /Unknown option `maxDelay` in Batcher options; did you mean `maxDelayMs`\?/,
    ],
    [{ maxsize: 5 } as never, /did you mean `maxSize`\?/],
    [
      { clock: 'now' as never },
      /Expected `clock` to be an object with now\(\), setTimer\(\), got `"now"` \(string\)/,
    ],
    [{ clock: { now: () => 0 } as never }, /Expected `clock` to be an object with now\(\)/],
    [
      { isRetryable: true as never },
      /Expected `isRetryable` to be a function, got `true` \(boolean\)/,
    ],
  ];
  for (const [patch, message] of cases) {
    assert.throws(
      () => new Batcher<number>({ maxSize: 3, flush, ...patch }),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      String(message),
    );
  }
});
