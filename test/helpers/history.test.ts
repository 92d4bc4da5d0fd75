import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertHistory,
  checkHistory,
  Monotonic,
  type Ack,
  type History,
  type InsertedRow,
  type LatestRow,
  type Violation,
} from './history.js';

/**
 * A sound history: keys a and b written 0..2 each, interleaved; every write acknowledged
 * except b's last (its writer died after the commit), and delivered once, in order.
 */
function sound(): { acks: Ack[]; inserted: InsertedRow[]; latest: LatestRow[] } {
  const acks: Ack[] = [
    { key: 'a', seq: 0, id: 'a:0', position: 1, node: 'n1' },
    { key: 'b', seq: 0, id: 'b:0', position: 2, node: 'n1' },
    { key: 'a', seq: 1, id: 'a:1', position: 4, node: 'n1' },
    { key: 'b', seq: 1, id: 'b:1', position: 5, node: 'n1' },
    { key: 'a', seq: 2, id: 'a:2', position: 9, node: 'n1' },
  ];
  const inserted: InsertedRow[] = [
    { arrival: 1, id: 'b:0', key: 'b', seq: 0, version: 20 },
    { arrival: 2, id: 'a:0', key: 'a', seq: 0, version: 10 },
    { arrival: 3, id: 'a:1', key: 'a', seq: 1, version: 40 },
    { arrival: 5, id: 'b:1', key: 'b', seq: 1, version: 50 },
    { arrival: 6, id: 'b:2', key: 'b', seq: 2, version: 60 }, // unacknowledged, delivered once
    { arrival: 7, id: 'a:2', key: 'a', seq: 2, version: 90 },
  ];
  const latest: LatestRow[] = [
    { key: 'a', seq: 2, version: 90 },
    { key: 'b', seq: 2, version: 60 }, // later than its last acknowledged write: allowed
  ];
  return { acks, inserted, latest };
}

function only(history: History): Violation {
  const violations = checkHistory(history);
  assert.equal(violations.length, 1, violations.map((v) => v.message).join('\n'));
  return violations[0] as Violation;
}

test('checkHistory() passes a sound history, with an unacknowledged write delivered once', () => {
  assert.deepEqual(checkHistory(sound()), []);
  assertHistory(sound());
  // An unacknowledged write may also be absent.
  const h = sound();
  assert.deepEqual(
    checkHistory({
      ...h,
      inserted: h.inserted.filter((r) => r.id !== 'b:2'),
      latest: [h.latest[0] as LatestRow, { key: 'b', seq: 1, version: 50 }],
    }),
    [],
  );
});

test('checkHistory() names an acknowledged write missing from the sink table', () => {
  const h = sound();
  const v = only({ ...h, inserted: h.inserted.filter((r) => r.id !== 'a:1') });
  assert.equal(v.rule, 'missing');
  assert.equal(
    v.message,
    'missing: key a seq 1 (id a:1, acknowledged at position 4 by n1) is not in the sink table',
  );
});

test('checkHistory() names a delivered entry present twice, acknowledged or not', () => {
  const h = sound();
  const acked = only({
    ...h,
    inserted: [...h.inserted, { arrival: 8, id: 'a:1-again', key: 'a', seq: 1, version: 40 }],
  });
  assert.equal(acked.rule, 'duplicate');
  assert.match(
    acked.message,
    /^duplicate: key a seq 1 \(id a:1-again, arrival 8.*first: seq 1 \(id a:1, arrival 3/,
  );
  // b:2 was never acknowledged: present twice is still once too many.
  const unacked = checkHistory({
    ...h,
    inserted: [...h.inserted, { arrival: 8, id: 'b:2', key: 'b', seq: 2, version: 60 }],
  });
  assert.ok(
    unacked.some(
      (x) => x.rule === 'duplicate' && /key b seq 2 \(id b:2, arrival 8/.test(x.message),
    ),
  );
});

test('checkHistory() names the first key whose rows arrived out of seq order', () => {
  const h = sound();
  const swapped = h.inserted.map((r) => (r.id === 'a:1' ? { ...r, arrival: 8 } : r));
  const v = checkHistory({ ...h, inserted: swapped }).find((x) => x.rule === 'order');
  assert.ok(v);
  assert.equal(v.key, 'a');
  assert.match(
    v.message,
    /^order: key a seq 1 \(id a:1, arrival 8, version 40\) arrived after seq 2 \(id a:2, arrival 7/,
  );
});

test('checkHistory() names rows of a key whose versions go back in arrival order', () => {
  const h = sound();
  const v = only({
    ...h,
    inserted: h.inserted.map((r) => (r.id === 'a:2' ? { ...r, version: 30 } : r)),
    latest: [{ key: 'a', seq: 2, version: 30 }, h.latest[1] as LatestRow],
  });
  assert.equal(v.rule, 'order');
  assert.match(v.message, /key a seq 2 .* with a version not above it/);
});

test('checkHistory() names a key whose upsert row is older than its last acknowledged write', () => {
  const h = sound();
  const v = only({
    ...h,
    latest: [{ key: 'a', seq: 1, version: 40, deliverer: 'n2' }, h.latest[1] as LatestRow],
  });
  assert.equal(v.rule, 'stale');
  assert.equal(
    v.message,
    'stale: key a holds seq 1 (version 40, by n2) in the upsert table, older than its last write seq 2 (id a:2, acknowledged at position 9 by n1)',
  );
  const absent = only({ ...h, latest: [h.latest[1] as LatestRow] });
  assert.match(absent.message, /^stale: key a has no row in the upsert table/);
  // A seq past the last acknowledged one must be one that was delivered.
  const invented = only({
    ...h,
    latest: [h.latest[0] as LatestRow, { key: 'b', seq: 7, version: 99 }],
  });
  assert.match(invented.message, /^stale: key b holds seq 7 .* no such entry was delivered/);
});

test('checkHistory() names an acknowledged id whose row holds another write', () => {
  const h = sound();
  const v = checkHistory({
    ...h,
    inserted: h.inserted.map((r) => (r.id === 'b:1' ? { ...r, seq: 7 } : r)),
  }).find((x) => x.rule === 'mismatch');
  assert.ok(v);
  assert.equal(
    v.message,
    'mismatch: id b:1 was acknowledged as key b seq 1 but the sink row holds key b seq 7',
  );
});

test('checkHistory() refuses acknowledgements that contradict the journal: a shared position, a position going back, a write acknowledged twice', () => {
  const h = sound();
  const shared = only({
    ...h,
    acks: h.acks.map((a) => (a.id === 'b:1' ? { ...a, position: 4 } : a)),
  });
  assert.equal(shared.rule, 'ack');
  assert.match(
    shared.message,
    /^ack: position 4 was returned for two writes: key a seq 1 .* and key b seq 1/,
  );
  const back = only({
    ...h,
    acks: h.acks.map((a) => (a.id === 'a:2' ? { ...a, position: 3 } : a)),
  });
  assert.match(
    back.message,
    /^ack: key a seq 2 \(id a:2, acknowledged at position 3 by n1\) has a position not above its earlier seq 1/,
  );
  const twice = only({ ...h, acks: [...h.acks, { key: 'a', seq: 1, id: 'a:1', position: 12 }] });
  assert.match(twice.message, /acknowledged twice/);
});

test('Monotonic reports each step back of a subject, and nothing for growth or repeats', () => {
  const m = new Monotonic('upsert table key');
  m.observe('a seq', 1, 'a');
  m.observe('a seq', 3, 'a');
  m.observe('a seq', 3, 'a');
  assert.deepEqual(m.regressions, []);
  m.observe('a seq', 2, 'a', 'delivered by n2');
  assert.deepEqual(m.regressions, [
    {
      rule: 'regression',
      key: 'a',
      message: 'regression: upsert table key a seq went back from 3 to 2 (delivered by n2)',
    },
  ]);
  // Its regressions are part of the history's verdict.
  assert.throws(
    () => assertHistory({ ...sound(), monotonic: [m] }),
    /^AssertionError.*regression: upsert table key a seq went back from 3 to 2/s,
  );
});

test('assertHistory() starts its message with the first violation and counts them per rule', () => {
  const h = sound();
  assert.throws(
    () => assertHistory({ ...h, inserted: [], latest: [] }),
    (e: unknown) => {
      assert.ok(e instanceof assert.AssertionError);
      const [first, counts] = e.message.split('\n');
      assert.equal(
        first,
        'missing: key a seq 0 (id a:0, acknowledged at position 1 by n1) is not in the sink table',
      );
      assert.equal(
        counts,
        '(7 violations: 5 missing, 2 stale; 5 acknowledged writes, 0 sink rows)',
      );
      return true;
    },
  );
});

test('Monotonic compares tuples element by element: (tx, position) may grow with a lower position', () => {
  const m = new Monotonic('partition');
  m.observe('0 checkpoint', [100, 60]);
  m.observe('0 checkpoint', [101, 55]);
  assert.equal(m.regressions.length, 0);
  m.observe('0 checkpoint', [100, 70], '0');
  assert.equal(
    m.regressions[0]?.message,
    'regression: partition 0 checkpoint went back from (101, 55) to (100, 70)',
  );
});
