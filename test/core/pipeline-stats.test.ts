import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineStats } from '../../src/core/write-behind/pipeline-stats.js';

test('end-to-end latency: each appended entry is timed once, whatever order they finish in', () => {
  const stats = new PipelineStats();
  // More than the ring's first size, so it grows with entries still unfinished.
  const n = 5_000;
  for (let p = 1; p <= n; p++) stats.appended(p * 2, p, false);
  // Finish odd-numbered entries first (from the back), then the rest from the front.
  let sum = 0;
  for (let p = n - 1; p >= 1; p -= 2) {
    stats.finished(p * 2, p + 10);
    sum += 10;
  }
  for (let p = 2; p <= n; p += 2) {
    stats.finished(p * 2, p + 3);
    sum += 3;
  }
  // Finished twice, or never appended by this process: not timed.
  stats.finished(2, 1_000);
  stats.finished(3, 1_000);
  const s = stats.endToEnd.snapshot();
  assert.equal(s.count, n);
  assert.equal(s.mean, sum / n);
  assert.equal(stats.written, n);
});

test('end-to-end latency: a position appended out of order is still timed', () => {
  const stats = new PipelineStats();
  stats.appended(10, 100, false);
  stats.appended(5, 200, false); // settled after a later one
  stats.appended(11, 300, false);
  stats.finished(5, 207);
  stats.finished(11, 301);
  stats.finished(10, 150);
  stats.finished(5, 999);
  const s = stats.endToEnd.snapshot();
  assert.equal(s.count, 3);
  assert.equal(s.mean, (7 + 1 + 50) / 3);
});

test('end-to-end latency: an entry already through the pipeline when appended counts as 0', () => {
  const stats = new PipelineStats();
  stats.appended(1, 100, true);
  stats.finished(1, 500);
  assert.deepEqual([stats.endToEnd.snapshot().count, stats.endToEnd.snapshot().max], [1, 0]);
});

test('end-to-end latency: a position appended twice (one id written twice at once) is timed once and held nowhere', () => {
  const stats = new PipelineStats();
  stats.appended(5, 100, false);
  stats.appended(6, 100, false);
  stats.appended(5, 150, false); // the same id again: keeps the first time
  stats.finished(5, 110);
  stats.finished(5, 999);
  assert.equal(stats.endToEnd.snapshot().count, 1);
  assert.equal(stats.endToEnd.snapshot().mean, 10);
  // The duplicate comes after the first one finished and left: once the mark passes it, it
  // no longer holds the ring's front back, and what follows is forgotten as it finishes.
  stats.finished(6, 101);
  stats.appended(5, 200, false);
  stats.finishedThrough(6);
  for (let p = 7; p < 3_000; p++) stats.appended(p, 300, false);
  for (let p = 7; p < 3_000; p++) stats.finished(p, 301);
  stats.finishedThrough(2_999);
  assert.equal(stats.heldTimes, 0);
});
