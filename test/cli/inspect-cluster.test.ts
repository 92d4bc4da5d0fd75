import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatClusterStats, partitionRanges } from '../../src/cli/inspect-cluster.js';
import type { ClusterStats } from '../../src/index.js';

/** Three partitions: two held by node a, one whose owner's lease ran out. */
const stats: ClusterStats = {
  consumer: 'write-behind',
  partitions: 3,
  head: 12_345,
  nodes: [
    { node: 'a:101:x', expiresInMs: 8_200, partitions: [0, 1] },
    { node: 'bb:202:y', expiresInMs: 9_900, partitions: [] },
  ],
  leases: [
    { partition: 0, owner: 'a:101:x', epoch: 3, expiresInMs: 9_500, checkpoint: 12_000, lag: 7 },
    { partition: 1, owner: 'a:101:x', epoch: 12, expiresInMs: 9_500, checkpoint: 11_990, lag: 0 },
    { partition: 2, owner: 'c:303:z', epoch: 2, expiresInMs: -1_200, checkpoint: 0, lag: 1_500 },
  ],
  deadLetters: 2,
};

describe('formatClusterStats', () => {
  test('a summary, then one aligned line per partition', () => {
    assert.equal(
      formatClusterStats(stats),
      [
        '  consumer       write-behind',
        '  head           12,345',
        '  partitions     3: 2 with a live owner, 1 without',
        '  lag            1,507 entries (most: partition 2, 1,500)',
        '  nodes          2 live',
        '                 a:101:x    2 partitions (0–1), heartbeat 8.2 s left',
        '                 bb:202:y   no partitions, heartbeat 9.9 s left',
        '  dead letters   2',
        '',
        '  partition  owner    epoch  lease              checkpoint    lag',
        '          0  a:101:x      3  9.5 s                  12,000      7',
        '          1  a:101:x     12  9.5 s                  11,990      0',
        '          2  c:303:z      2  expired 1.2 s ago           0  1,500',
      ].join('\n'),
    );
  });

  test('a free partition, no live node, and a consumer no node has worked yet', () => {
    const free = formatClusterStats({
      ...stats,
      nodes: [],
      leases: [{ partition: 0, owner: null, epoch: 0, expiresInMs: null, checkpoint: 0, lag: 4 }],
      partitions: 1,
    });
    assert.match(free, /^ {2}nodes {10}none live$/m);
    assert.ok(free.endsWith('\n          0  -          0  free            0    4'), free);
    assert.match(free, /partitions {5}1: 0 with a live owner, 1 without/);

    const unworked = formatClusterStats({ ...stats, nodes: [], leases: [], head: 0 });
    assert.match(unworked, /partitions {5}3 \(no node has worked this consumer yet\)$/m);
    assert.match(unworked, /lag {12}0 entries$/m);
    assert.doesNotMatch(unworked, /checkpoint/, 'no partition table without leases');
  });
});

test('partitionRanges() writes runs of consecutive partitions as ranges', () => {
  assert.equal(partitionRanges([9, 0, 1, 2, 3, 5, 8]), '0–3, 5, 8–9');
  assert.equal(partitionRanges([4]), '4');
  assert.equal(partitionRanges([]), '');
});
