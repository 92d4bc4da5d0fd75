/**
 * The demo's workload, the same on one node and on many: write n goes to account
 * n % keys with sequence floor(n / keys), under the idempotency id `w<n>`, and each
 * account's writes are issued by one producer, one after the other, so the table must show
 * every account's rows in sequence order.
 *
 * On a cluster the accounts are split by node: node i (0-based) writes the accounts a with
 * a % nodes === i. Every account still has exactly one producer, on one node, so per-account
 * order stays a property the verification can check, whichever node delivers the writes.
 *
 * ```ts
 * const lists = nodeProducers({ writes: 10, keys: 4, nodes: 2, node: 1, producers: 2 });
 * // [[1, 5, 9], [3, 7]]: node 1 owns accounts 1 and 3, one producer each
 * ```
 */
import type { Message } from './demo-store.js';

/** Write n of the workload: its account, idempotency id and message. */
export function demoWrite(
  n: number,
  keys: number,
): { account: string; id: string; message: Message } {
  const account = `acct-${n % keys}`;
  return {
    account,
    id: `w${n}`,
    message: { account, seq: Math.floor(n / keys), body: `message ${n} for ${account}` },
  };
}

/** The node (0-based) that writes account number `account`. */
export const nodeOfAccount = (account: number, nodes: number): number => account % nodes;

export interface NodeShare {
  /** Writes of the whole workload. */
  writes: number;
  /** Accounts of the whole workload. */
  keys: number;
  /** Nodes the accounts are split over. */
  nodes: number;
  /** This node, 0-based. */
  node: number;
  /** Producers this node runs at most (fewer if it owns fewer accounts). */
  producers: number;
}

/**
 * The writes `node` issues, as one list per producer, each in the order that producer
 * issues them: producer p owns every p-th of the node's accounts and goes round by round,
 * so each account's writes come out in sequence order. The lists of all nodes together hold
 * every n below `writes` exactly once.
 */
export function nodeProducers(share: NodeShare): number[][] {
  const { writes, keys, nodes, node } = share;
  const accounts: number[] = [];
  for (let a = node; a < Math.min(keys, writes); a += nodes) accounts.push(a);
  const producers = Math.min(accounts.length, share.producers);
  const lists = Array.from({ length: producers }, () => [] as number[]);
  for (let round = 0; round * keys < writes; round++) {
    for (let j = 0; j < accounts.length; j++) {
      const n = round * keys + (accounts[j] as number);
      if (n < writes) (lists[j % producers] as number[]).push(n);
    }
  }
  return lists;
}
