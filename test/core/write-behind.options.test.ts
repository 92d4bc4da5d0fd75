/**
 * What WriteBehind refuses: bad input to `write()` gets a typed error at the call and
 * nothing else is affected; `open()` checks every option, naming the nearest known one for
 * a misspelled name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EncodeError,
  InputError,
  MemoryJournal,
  MemorySink,
  WriteBehind,
} from '../../src/index.js';
import { trackedPipelines } from '../helpers/tracked-pipelines.js';

const fast = { batch: { maxSize: 50, maxDelayMs: 1 }, retry: { minDelayMs: 1, maxDelayMs: 5 } };
const h = trackedPipelines();
/** A hang becomes a failure. */
const within = { timeout: 10_000 };

test('bad input gets a typed error at the call; nothing else is affected', within, async () => {
  const sink = new MemorySink<unknown>();
  const wb = await h.open({ journal: new MemoryJournal(), sink, ...fast });
  await wb.write('good', { ok: 1 });
  await assert.rejects(wb.write('', { ok: 2 }), InputError);
  await assert.rejects(wb.write('bad', { big: 10n }), EncodeError);
  await wb.write('good2', { ok: 3 });
  await h.drive(wb.flush());
  assert.deepEqual([...sink.rows.keys()].sort(), ['good', 'good2']);
  assert.equal(wb.metrics().written, 2);
  await assert.rejects(wb.write('k', 1, { idd: 'x' } as never), {
    name: 'InputError',
    message: /write options take only `id`, got `idd`/,
  });
  await h.drive(wb.close());
});

test(
  'WriteBehind.open() checks every option: a misspelled name names the nearest known one',
  within,
  async () => {
    const sink = new MemorySink<unknown>();
    const open = (extra: object) =>
      WriteBehind.open({ journal: new MemoryJournal(), sink, ...fast, ...extra });
    await assert.rejects(open({ sink: {} }), {
      name: 'ConfigError',
      message: /Expected `sink` to be an object with writeBatch\(\)/,
    });
    await assert.rejects(
      open({ batch: { maxSize: 0 } }),
      /Expected `batch.maxSize` to be an integer >= 1/,
    );
    await assert.rejects(open({ maxbacklog: 10 }), {
      name: 'ConfigError',
      message:
        /Unknown option `maxbacklog` in WriteBehind.open\(\) options; did you mean `maxBacklog`\?/,
    });
    await assert.rejects(
      open({ batchSize: 10 }),
      /Unknown option `batchSize`.*did you mean `batch`\?/,
    );
    await assert.rejects(
      open({ batch: { maxDelay: 5 } }),
      /Unknown option `maxDelay` in batch; did you mean `maxDelayMs`\?/,
    );
    await assert.rejects(open({ retry: { attempts: 5 } }), /Unknown option `attempts` in retry/);
    await assert.rejects(
      open({ coalesce: 'yes' }),
      /Expected `coalesce` to be a boolean, got `"yes"` \(string\)/,
    );
    await assert.rejects(
      open({ clock: 'now' }),
      /Expected `clock` to be an object with now\(\), setTimer\(\)/,
    );
    await assert.rejects(open({ consumer: '' }), /Expected `consumer` to be a non-empty string/);
    await assert.rejects(
      open({ deadLetters: {} }),
      /Expected `deadLetters` to be an object with add\(\)/,
    );
    await assert.rejects(
      open({ journal: 'disk' }),
      /Expected `journal` to be an object with append\(\)/,
    );
  },
);
