/**
 * Where a node's partitions went after a moment (a SIGKILL, a SIGTERM), worked out from the
 * nodes' `partition:acquired` / `partition:released` events alone: which partitions it held
 * then, when it let each go (never, if it was killed), and which node took each over and
 * how long after the moment.
 *
 * Events carry the time their node saw them (`Date.now()` there: the nodes of the demo
 * share one machine and its clock). They may arrive out of order across nodes; they are
 * taken in time order, ties in the order given.
 *
 * ```ts
 * const moves = partitionMoves(events, 'node-2', killedAt);
 * // [{ partition: 4, to: 'node-1', acquiredAfterMs: 2140 }, ...]
 * ```
 */
import type { ReleaseReason } from '../cluster/coordinator.js';

/** A lease event, as a node reports it. */
export type PartitionEvent =
  | { at: number; node: string; name: 'partition:acquired'; partition: number; epoch: number }
  | {
      at: number;
      node: string;
      name: 'partition:released';
      partition: number;
      epoch: number;
      reason: ReleaseReason;
    };

/** What became of one partition `from` held at the moment. */
export interface PartitionMove {
  partition: number;
  /** When `from` let it go, in ms after the moment; absent if it never did (it was killed). */
  releasedAfterMs?: number;
  /** Why it let it go. */
  reason?: ReleaseReason;
  /** The node that took it next; absent if none did. */
  to?: string;
  /** When `to` took it, in ms after the moment. */
  acquiredAfterMs?: number;
}

/**
 * Who holds each partition at `at` (events up to and including `at`). A release counts
 * only for the lease it names: a node may report letting an old lease go after it took the
 * partition again under a new one.
 */
export function owners(events: readonly PartitionEvent[], at: number): Map<number, string> {
  return new Map([...holders(inTimeOrder(events), at)].map(([p, { node }]) => [p, node]));
}

/** The partitions `from` held at `since`, by number, and what became of each after it. */
export function partitionMoves(
  events: readonly PartitionEvent[],
  from: string,
  since: number,
): PartitionMove[] {
  const ordered = inTimeOrder(events);
  const moves: PartitionMove[] = [];
  for (const [partition, { node, epoch }] of holders(ordered, since)) {
    if (node !== from) continue;
    const move: PartitionMove = { partition };
    for (const e of ordered) {
      if (e.at < since || e.partition !== partition) continue;
      if (
        e.name === 'partition:released' &&
        e.node === from &&
        e.epoch === epoch &&
        move.releasedAfterMs === undefined
      ) {
        move.releasedAfterMs = e.at - since;
        move.reason = e.reason;
      } else if (e.name === 'partition:acquired' && e.node !== from) {
        move.to = e.node;
        move.acquiredAfterMs = e.at - since;
        break;
      }
    }
    moves.push(move);
  }
  return moves.sort((a, b) => a.partition - b.partition);
}

/** The holder of each partition and its lease's epoch at `at`, from events in time order. */
function holders(
  ordered: readonly PartitionEvent[],
  at: number,
): Map<number, { node: string; epoch: number }> {
  const held = new Map<number, { node: string; epoch: number }>();
  for (const e of ordered) {
    if (e.at > at) break;
    const holder = held.get(e.partition);
    if (e.name === 'partition:acquired') held.set(e.partition, { node: e.node, epoch: e.epoch });
    else if (holder?.node === e.node && holder.epoch === e.epoch) held.delete(e.partition);
  }
  return held;
}

function inTimeOrder(events: readonly PartitionEvent[]): PartitionEvent[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at - b.e.at || a.i - b.i)
    .map(({ e }) => e);
}
