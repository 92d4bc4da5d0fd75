import { test } from 'node:test';
import assert from 'node:assert/strict';
import { owners, partitionMoves, type PartitionEvent } from '../../src/cli/partition-moves.js';

const acquired = (at: number, node: string, partition: number, epoch = 1): PartitionEvent => ({
  at,
  node,
  name: 'partition:acquired',
  partition,
  epoch,
});
const released = (
  at: number,
  node: string,
  partition: number,
  reason: 'rebalance' | 'close' | 'lost',
  epoch = 1,
): PartitionEvent => ({ at, node, name: 'partition:released', partition, epoch, reason });

test('owners() replays the events up to a moment', () => {
  const events = [
    acquired(10, 'a', 0),
    acquired(10, 'a', 1),
    acquired(20, 'b', 2),
    released(30, 'a', 1, 'rebalance'),
    acquired(40, 'b', 1, 2),
  ];
  assert.deepEqual(
    owners(events, 30),
    new Map([
      [0, 'a'],
      [2, 'b'],
    ]),
  );
  assert.deepEqual(
    owners(events, 40),
    new Map([
      [0, 'a'],
      [2, 'b'],
      [1, 'b'],
    ]),
  );
});

test('owners() ignores a late release by a node that no longer holds the partition', () => {
  // b took partition 0 over before a reported letting it go (a lost lease, say).
  const events = [acquired(10, 'a', 0), acquired(50, 'b', 0, 2), released(60, 'a', 0, 'lost')];
  assert.deepEqual(owners(events, 100), new Map([[0, 'b']]));
});

test('owners() keeps a partition its node took again before reporting the old lease let go', () => {
  const events = [
    acquired(10, 'a', 0, 1),
    acquired(50, 'a', 0, 2),
    released(60, 'a', 0, 'lost', 1),
  ];
  assert.deepEqual(owners(events, 100), new Map([[0, 'a']]));
  assert.deepEqual(owners([...events, released(70, 'a', 0, 'close', 2)], 100), new Map());
});

test('partitionMoves() after a SIGKILL: who took each partition, and how long after', () => {
  const kill = 1_000;
  const events = [
    acquired(0, 'a', 0),
    acquired(0, 'b', 1),
    acquired(5, 'b', 4),
    acquired(0, 'c', 2),
    acquired(kill + 2_210, 'a', 1, 2),
    acquired(kill + 2_340, 'c', 4, 2),
  ];
  assert.deepEqual(partitionMoves(events, 'b', kill), [
    { partition: 1, to: 'a', acquiredAfterMs: 2_210 },
    { partition: 4, to: 'c', acquiredAfterMs: 2_340 },
  ]);
});

test('partitionMoves() after a SIGTERM: the release, its reason, then the takeover', () => {
  const term = 500;
  const events = [
    acquired(0, 'a', 3),
    acquired(0, 'b', 5),
    released(term + 12, 'a', 3, 'close'),
    acquired(term + 90, 'b', 3, 2),
  ];
  assert.deepEqual(partitionMoves(events, 'a', term), [
    { partition: 3, releasedAfterMs: 12, reason: 'close', to: 'b', acquiredAfterMs: 90 },
  ]);
});

test('partitionMoves() leaves out `to` for a partition nobody took', () => {
  const events = [acquired(0, 'a', 0), released(110, 'a', 0, 'close')];
  assert.deepEqual(partitionMoves(events, 'a', 100), [
    { partition: 0, releasedAfterMs: 10, reason: 'close' },
  ]);
});

test('partitionMoves() takes events in time order, whatever order they arrived in', () => {
  const events = [acquired(3_000, 'b', 0, 2), acquired(0, 'a', 0), acquired(2_500, 'c', 0, 2)];
  assert.deepEqual(partitionMoves(events, 'a', 1_000), [
    { partition: 0, to: 'c', acquiredAfterMs: 1_500 },
  ]);
});

test('partitionMoves() counts only partitions held at the moment, and only later acquisitions', () => {
  const events = [
    acquired(0, 'a', 0),
    released(100, 'a', 0, 'rebalance'),
    acquired(150, 'b', 0, 2),
    acquired(0, 'a', 1),
  ];
  assert.deepEqual(partitionMoves(events, 'a', 200), [{ partition: 1 }]);
  assert.deepEqual(partitionMoves([], 'a', 0), []);
});
