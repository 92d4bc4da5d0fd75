import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { demoWrite, nodeOfAccount, nodeProducers } from '../../src/cli/demo-workload.js';

const share = fc.record({
  writes: fc.integer({ min: 0, max: 400 }),
  keys: fc.integer({ min: 1, max: 40 }),
  nodes: fc.integer({ min: 1, max: 6 }),
  producers: fc.integer({ min: 1, max: 8 }),
});

test('demoWrite() puts write n on account n % keys with sequence floor(n / keys) and id w<n>', () => {
  assert.deepEqual(demoWrite(1234, 100), {
    account: 'acct-34',
    id: 'w1234',
    message: { account: 'acct-34', seq: 12, body: 'message 1234 for acct-34' },
  });
});

test('nodeProducers() gives every write to exactly one producer of one node', () => {
  fc.assert(
    fc.property(share, ({ writes, keys, nodes, producers }) => {
      const all = Array.from({ length: nodes }, (_, node) =>
        nodeProducers({ writes, keys, nodes, node, producers }).flat(),
      ).flat();
      assert.deepEqual(
        all.sort((a, b) => a - b),
        Array.from({ length: writes }, (_, n) => n),
      );
    }),
  );
});

test("nodeProducers() gives a node only its own accounts' writes", () => {
  fc.assert(
    fc.property(share, fc.nat(), ({ writes, keys, nodes, producers }, pick) => {
      const node = pick % nodes;
      for (const n of nodeProducers({ writes, keys, nodes, node, producers }).flat()) {
        assert.equal(nodeOfAccount(n % keys, nodes), node);
      }
    }),
  );
});

test('nodeProducers() leaves each account to one producer, which issues its writes in sequence order', () => {
  fc.assert(
    fc.property(share, fc.nat(), ({ writes, keys, nodes, producers }, pick) => {
      const node = pick % nodes;
      const lists = nodeProducers({ writes, keys, nodes, node, producers });
      assert.ok(lists.length <= producers);
      const producerOf = new Map<string, number>();
      lists.forEach((list, p) => {
        const last = new Map<string, number>();
        for (const n of list) {
          const { account, message } = demoWrite(n, keys);
          assert.equal(producerOf.get(account) ?? p, p, `${account} has two producers`);
          producerOf.set(account, p);
          assert.ok((last.get(account) ?? -1) < message.seq, `${account} out of order`);
          last.set(account, message.seq);
        }
      });
    }),
  );
});

test('nodeProducers() runs no more producers than the node has accounts, and none without one', () => {
  assert.deepEqual(nodeProducers({ writes: 10, keys: 4, nodes: 2, node: 1, producers: 5 }), [
    [1, 5, 9],
    [3, 7],
  ]);
  assert.deepEqual(nodeProducers({ writes: 10, keys: 2, nodes: 3, node: 2, producers: 5 }), []);
  assert.deepEqual(nodeProducers({ writes: 3, keys: 10, nodes: 2, node: 0, producers: 5 }), [
    [0],
    [2],
  ]);
});
