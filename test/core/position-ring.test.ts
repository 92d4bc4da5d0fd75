import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PositionRing } from '../../src/core/position-ring.js';

test('.indexOf() finds held positions from the front, -1 for others; .shift() drops the front', () => {
  const ring = new PositionRing(2);
  for (const p of [3, 7, 8, 20]) ring.push(p, p * 10);
  assert.equal(ring.length, 4);
  assert.deepEqual(
    [3, 7, 8, 20].map((p) => ring.indexOf(p)),
    [0, 1, 2, 3],
  );
  assert.equal(ring.indexOf(5), -1, 'a gap');
  assert.equal(ring.indexOf(21), -1, 'past the last');
  ring.setValueAt(ring.indexOf(8), -1);
  ring.shift();
  assert.equal(ring.positionAt(0), 7);
  assert.equal(ring.indexOf(3), -1, 'shifted out');
  assert.deepEqual(
    [0, 1, 2].map((i) => ring.valueAt(i)),
    [70, -1, 200],
  );
  ring.shift();
  ring.shift();
  ring.shift();
  ring.shift(); // empty: nothing to drop
  assert.equal(ring.length, 0);
  assert.equal(ring.indexOf(20), -1);
});

test('pushes and shifts, wrapping and growing past the first size: the same as an array (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(0)), {
        minLength: 50,
        maxLength: 300,
        size: 'max',
      }),
      (steps) => {
        const ring = new PositionRing(4);
        const model: [number, number][] = [];
        let last = 0;
        for (const step of steps) {
          if (step === 0) {
            ring.shift();
            model.shift();
          } else {
            last += step;
            ring.push(last, -last);
            model.push([last, -last]);
          }
          assert.equal(ring.length, model.length);
          model.forEach(([p, v], i) => {
            assert.equal(ring.positionAt(i), p);
            assert.equal(ring.valueAt(i), v);
            assert.equal(ring.indexOf(p), i);
            assert.equal(ring.indexOf(p + 0.5), -1);
          });
        }
      },
    ),
  );
});

test('new PositionRing() refuses a capacity that is not a power of two', () => {
  for (const capacity of [0, 10, -4, 2.5])
    assert.throws(() => new PositionRing(capacity), RangeError);
  assert.equal(new PositionRing(1).length, 0);
});
