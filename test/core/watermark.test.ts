import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InputError, Watermark } from '../../src/index.js';

test('.finish() advances the mark only over a finished prefix', () => {
  const wm = new Watermark();
  for (const p of [1, 2, 3, 5, 8]) wm.begin(p);
  assert.equal(wm.finish(2), 0);
  assert.equal(wm.finish(3), 0);
  assert.equal(wm.finish(1), 3, 'gaps between begun positions do not hold it back');
  assert.equal(wm.finish(8), 3);
  assert.equal(wm.pending, 1);
  assert.equal(wm.finish(5), 8);
  assert.equal(wm.pending, 0);
});

test('.begin() refuses positions that do not increase; .finish() refuses unknown ones', () => {
  const wm = new Watermark(10);
  assert.throws(() => wm.begin(10), InputError);
  wm.begin(11);
  assert.throws(() => wm.finish(12), InputError);
  wm.finish(11);
  assert.throws(() => wm.finish(11), InputError);
});

test('the mark never passes an unfinished position (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 60 }),
      fc.infiniteStream(fc.nat()),
      (gaps, picks) => {
        const wm = new Watermark();
        let p = 0;
        const positions = gaps.map((g) => (p += g));
        positions.forEach((x) => wm.begin(x));
        const open = [...positions];
        const it = picks[Symbol.iterator]();
        while (open.length > 0) {
          const [x] = open.splice((it.next().value as number) % open.length, 1) as [number];
          const mark = wm.finish(x);
          const lowestOpen = Math.min(...open);
          assert.ok(
            open.length === 0 ? mark === p : mark < lowestOpen,
            `mark ${mark} passed ${lowestOpen}`,
          );
          assert.ok(
            open.length === 0 || positions.filter((q) => q <= mark).every((q) => !open.includes(q)),
          );
        }
      },
    ),
  );
});

test('begins and finishes interleaved, past the ring it starts with: the same mark as a plain model (property)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ begin: fc.integer({ min: 1, max: 3 }) }),
          fc.record({ finish: fc.nat() }),
        ),
        { minLength: 50, maxLength: 400, size: 'max' },
      ),
      (steps) => {
        const wm = new Watermark(5);
        let last = 5;
        const open: number[] = []; // begun and not finished, in order
        const begun: number[] = []; // every position begun, in order
        for (const step of steps) {
          if ('begin' in step) {
            last += step.begin;
            wm.begin(last);
            open.push(last);
            begun.push(last);
          } else if (open.length > 0) {
            const [x] = open.splice(step.finish % open.length, 1) as [number];
            const mark = wm.finish(x);
            // The model: the last begun position below the lowest open one, or the last begun.
            const lowestOpen = open.length === 0 ? Infinity : (open[0] as number);
            const expected =
              open.length === 0 ? last : Math.max(5, ...begun.filter((q) => q < lowestOpen));
            assert.equal(mark, expected);
            assert.throws(() => wm.finish(x), InputError, 'a finished position is refused');
          }
          assert.equal(wm.pending, open.length);
        }
      },
    ),
  );
});
