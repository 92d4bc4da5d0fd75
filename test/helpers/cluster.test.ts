import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  handoversAfter,
  overlaps,
  spuriousLosses,
  tenures,
  unreleasedAtClose,
  writesAfterRelease,
  type NodeEvent,
} from './cluster.js';

const at = (
  t: number,
  node: string,
  event: string,
  detail: Record<string, unknown> = {},
): NodeEvent => ({
  t,
  node,
  name: node.split('.')[0] as string,
  event,
  ...detail,
});

/** a.1 holds partition 0, is SIGKILLed at 1000; b.1 takes it over at 3000. */
const killed: NodeEvent[] = [
  at(100, 'a.1', 'acquired', { partition: 0, epoch: 1 }),
  at(1000, 'a.1', 'signal', { signal: 'SIGKILL' }),
  at(1010, 'a.1', 'exited', { code: null, signal: 'SIGKILL' }),
  at(3000, 'b.1', 'acquired', { partition: 0, epoch: 2 }),
];

test('tenures() end at the release, the kill or the exit; handoversAfter() measures from the signal', () => {
  assert.deepEqual(
    tenures(killed).map((x) => [x.node, x.from, x.to, x.end]),
    [
      ['a.1', 100, 1000, 'killed'],
      ['b.1', 3000, Infinity, 'held'],
    ],
  );
  assert.deepEqual(handoversAfter(killed, 'a.1', 1000), [
    { partition: 0, from: 'a.1', to: 'b.1', ms: 2000 },
  ]);
  // Nobody took it: an infinite handover, which every bound refuses.
  assert.equal(handoversAfter(killed.slice(0, 3), 'a.1', 1000)[0]?.ms, Infinity);
});

test('overlaps() names two nodes working one partition at once, beyond the tolerance', () => {
  assert.deepEqual(overlaps(killed, 0), []);
  const split: NodeEvent[] = [
    at(100, 'a.1', 'acquired', { partition: 3, epoch: 1 }),
    at(2000, 'b.1', 'acquired', { partition: 3, epoch: 2 }),
    at(2500, 'a.1', 'released', { partition: 3, epoch: 1, reason: 'lost' }),
  ];
  const found = overlaps(split, 100);
  assert.equal(found.length, 1);
  assert.match(
    found[0] as string,
    /^partition 3: a\.1 \(epoch 1, .*lost at .*\) and b\.1 \(epoch 2, .*\) overlap by 500 ms$/,
  );
  assert.deepEqual(overlaps(split, 500), []);
  // A node stops working a partition when its owned() no longer lists it, even if its
  // pipeline reports the release later.
  const stoppedEarly = [
    ...split.slice(0, 1),
    at(1900, 'a.1', 'owned', { partitions: [] }),
    ...split.slice(1),
  ];
  assert.deepEqual(overlaps(stoppedEarly, 0), []);
  assert.deepEqual(
    overlaps(split, 100, (x) => x.node === 'a.1'),
    [],
  );
});

test('writesAfterRelease() names sink writes after a handover, and counts those after a lost lease apart', () => {
  const events: NodeEvent[] = [
    at(100, 'a.1', 'acquired', { partition: 1, epoch: 1 }),
    at(100, 'a.1', 'acquired', { partition: 2, epoch: 1 }),
    at(500, 'a.1', 'write:unowned', { partitions: [1], entries: 3, duplicates: 0, superseded: 0 }),
    at(600, 'a.1', 'released', { partition: 1, epoch: 1, reason: 'rebalance' }),
    at(650, 'a.1', 'released', { partition: 2, epoch: 1, reason: 'lost' }),
    at(700, 'a.1', 'write:unowned', { partitions: [1], entries: 2, duplicates: 1, superseded: 0 }),
    at(710, 'a.1', 'write:unowned', { partitions: [2], entries: 1, duplicates: 1, superseded: 1 }),
    at(800, 'a.1', 'acquired', { partition: 1, epoch: 3 }),
    at(900, 'a.1', 'write:unowned', { partitions: [1], entries: 4, duplicates: 0, superseded: 0 }),
  ];
  const { afterHandover, afterLost } = writesAfterRelease(events);
  assert.equal(afterHandover.length, 1);
  assert.match(
    afterHandover[0] as string,
    /^a\.1 wrote 2 entries .* 100 ms after releasing partition 1 \(rebalance, epoch 1\)$/,
  );
  assert.equal(afterLost.length, 1);
  assert.match(afterLost[0] as string, /60 ms after releasing partition 2 \(lost, epoch 1\)$/);
});

test('unreleasedAtClose() names partitions a cleanly closed node never let go', () => {
  const events: NodeEvent[] = [
    at(100, 'a.1', 'acquired', { partition: 0, epoch: 1 }),
    at(100, 'a.1', 'acquired', { partition: 1, epoch: 1 }),
    at(900, 'a.1', 'released', { partition: 0, epoch: 1, reason: 'close' }),
    at(1000, 'a.1', 'exited', { code: 0 }),
  ];
  assert.deepEqual(unreleasedAtClose(events), [
    'a.1 acquired partition 1 (epoch 1) at 00:00:00.100 and exited cleanly without releasing it',
  ]);
  // A killed node releases nothing, and that is no broken promise of close().
  assert.deepEqual(unreleasedAtClose(killed), []);
});

test('spuriousLosses() names a lease let go as lost that no other node had taken', () => {
  const events: NodeEvent[] = [
    at(100, 'a.1', 'acquired', { partition: 0, epoch: 1 }),
    at(100, 'a.1', 'acquired', { partition: 1, epoch: 1 }),
    at(1500, 'b.1', 'acquired', { partition: 1, epoch: 2 }),
    at(1700, 'a.1', 'released', { partition: 0, epoch: 1, reason: 'lost' }),
    at(1700, 'a.1', 'released', { partition: 1, epoch: 1, reason: 'lost' }),
    at(1800, 'a.1', 'acquired', { partition: 0, epoch: 2 }),
  ];
  assert.deepEqual(spuriousLosses(events), [
    'a.1 let partition 0 (epoch 1) go as lost at 00:00:01.700, 1600 ms after taking it, and no other node had taken it',
  ]);
});
