import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/index.js';
import {
  booleanOption,
  knownOptions,
  nearestName,
  serviceOption,
  stringOption,
} from '../../src/core/options.js';

const KNOWN = ['batch', 'workers', 'maxBacklog', 'maxBacklogBytes', 'clock'];

test('nearestName() finds a misspelling, a wrong case and a name that contains a known one', () => {
  assert.equal(nearestName('maxbacklog', KNOWN), 'maxBacklog');
  assert.equal(nearestName('wokers', KNOWN), 'workers');
  assert.equal(nearestName('batchSize', KNOWN), 'batch');
  assert.equal(nearestName('zzzzzzzz', KNOWN), undefined);
});

test('knownOptions() refuses an unknown name with the nearest known one and the full list', () => {
  assert.deepEqual(knownOptions('opts', { workers: 2 }, KNOWN), { workers: 2 });
  assert.deepEqual(knownOptions('opts', undefined, KNOWN), {});
  assert.throws(
    () => knownOptions('opts', { maxbacklog: 1 }, KNOWN),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.option, 'maxbacklog');
      assert.match(
        error.message,
        /Unknown option `maxbacklog` in opts; did you mean `maxBacklog`\?/,
      );
      assert.match(error.message, /Known options: `batch`, `workers`/);
      return true;
    },
  );
  assert.throws(
    () => knownOptions('opts', { zzzzzzzz: 1 }, KNOWN),
    /Unknown option `zzzzzzzz` in opts\. Known/,
  );
  assert.throws(() => knownOptions('opts', [1], KNOWN), /Expected `opts` to be an object/);
});

test('booleanOption(), stringOption() and serviceOption() refuse near misses', () => {
  assert.equal(booleanOption('b', undefined, true), true);
  assert.throws(
    () => booleanOption('b', 'yes', false),
    /Expected `b` to be a boolean, got `"yes"`/,
  );
  assert.throws(() => booleanOption('b', 1, false), /got `1` \(number\)/);
  assert.equal(stringOption('s', undefined, 'd'), 'd');
  assert.throws(() => stringOption('s', ''), /a non-empty string/);
  const clock = { now: () => 0, setTimer: () => ({ cancel() {} }) };
  assert.equal(serviceOption('clock', clock, ['now', 'setTimer']), clock);
  assert.throws(
    () => serviceOption('clock', 'now', ['now', 'setTimer']),
    /Expected `clock` to be an object with now\(\), setTimer\(\), got `"now"` \(string\)/,
  );
  assert.throws(() => serviceOption('clock', { now: 1 }, ['now']), /an object with now\(\)/);
});
