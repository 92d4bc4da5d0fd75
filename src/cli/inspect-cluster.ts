/**
 * `sluice inspect postgres://...`: a journal shared by several nodes, as one consumer sees
 * it: the live nodes and the partitions each holds, every partition's owner, lease epoch
 * and expiry, checkpoint and lag, and the shared dead letters.
 *
 * {@link formatClusterStats} is the text view, a pure function of `ClusterStats`; `--json`
 * prints the `ClusterStats` as they are.
 */
import type { ClusterLeaseStats, ClusterStats } from '../journal/cluster-stats.js';
import { openClusterJournal } from './cluster-journal.js';
import { count, grid, seconds, table } from './format.js';

/** `0–3, 5, 8–9`: partitions in order, runs of consecutive ones as a range. */
export function partitionRanges(partitions: readonly number[]): string {
  const sorted = [...partitions].sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    runs.push(i === j ? String(sorted[i]) : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  return runs.join(', ');
}

/** Whether a partition has an owner whose lease has not expired. */
export function liveLease(lease: ClusterLeaseStats): boolean {
  return lease.owner !== null && lease.expiresInMs !== null && lease.expiresInMs > 0;
}

function leaseLeft(lease: ClusterLeaseStats): string {
  if (lease.owner === null || lease.expiresInMs === null) return 'free';
  if (lease.expiresInMs > 0) return seconds(lease.expiresInMs / 1000);
  return `expired ${seconds(-lease.expiresInMs / 1000)} ago`;
}

/**
 * The text `sluice inspect` prints for a cluster journal: a summary (consumer, head,
 * partitions with and without a live owner, total lag and the partition most behind, the
 * live nodes with their partitions and heartbeat, dead letters), then one line per
 * partition: owner, epoch, lease left, checkpoint, lag.
 */
export function formatClusterStats(stats: ClusterStats): string {
  const live = stats.leases.filter(liveLease).length;
  const totalLag = stats.leases.reduce((sum, l) => sum + l.lag, 0);
  const most = stats.leases.reduce<ClusterLeaseStats | undefined>(
    (top, l) => (l.lag > (top?.lag ?? 0) ? l : top),
    undefined,
  );
  const nodeWidth = Math.max(0, ...stats.nodes.map((n) => n.node.length));
  const nodes: (readonly [string, string])[] =
    stats.nodes.length === 0
      ? [['nodes', 'none live']]
      : [
          ['nodes', `${count(stats.nodes.length)} live`],
          ...stats.nodes.map(
            (n) =>
              [
                '',
                `${n.node.padEnd(nodeWidth)}   ` +
                  (n.partitions.length === 0
                    ? 'no partitions'
                    : `${count(n.partitions.length)} partition${n.partitions.length === 1 ? '' : 's'} (${partitionRanges(n.partitions)})`) +
                  `, heartbeat ${n.expiresInMs > 0 ? `${seconds(n.expiresInMs / 1000)} left` : 'expired'}`,
              ] as const,
          ),
        ];
  const summary = table([
    ['consumer', stats.consumer],
    ['head', count(stats.head)],
    [
      'partitions',
      stats.leases.length === 0
        ? `${count(stats.partitions)} (no node has worked this consumer yet)`
        : `${count(stats.partitions)}: ${count(live)} with a live owner, ${count(stats.partitions - live)} without`,
    ],
    [
      'lag',
      `${count(totalLag)} entries` +
        (most === undefined ? '' : ` (most: partition ${most.partition}, ${count(most.lag)})`),
    ],
    ...nodes,
    ['dead letters', count(stats.deadLetters)],
  ]);
  if (stats.leases.length === 0) return summary;
  const partitions = grid(
    ['partition', 'owner', 'epoch', 'lease', 'checkpoint', 'lag'],
    stats.leases.map((l) => [
      String(l.partition),
      l.owner ?? '-',
      count(l.epoch),
      leaseLeft(l),
      count(l.checkpoint),
      count(l.lag),
    ]),
    new Set([0, 2, 4, 5]),
  );
  return `${summary}\n\n${partitions}`;
}

/** Prints the cluster view of the journal at `url` (in `schema`) for `consumer`. */
export async function inspectCluster(
  url: string,
  options: { schema: string; consumer: string; json: boolean },
): Promise<number> {
  const { journal, shown } = await openClusterJournal(url, options.schema, 'sluice inspect');
  try {
    const stats = await journal.clusterStats(options.consumer);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(
      `sluice cluster journal ${shown}, schema ${options.schema}\n\n${formatClusterStats(stats)}\n`,
    );
    return 0;
  } finally {
    await journal.close();
  }
}
