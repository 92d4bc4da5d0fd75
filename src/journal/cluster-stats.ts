/** What a shared (partitioned) journal reports about its nodes and partitions. */

/** One live node of a consumer. */
export interface ClusterNodeStats {
  /** The node's name (`WriteBehind` picks `<host>:<pid>:<random>` unless told). */
  readonly node: string;
  /** Time left on its heartbeat, in ms. */
  readonly expiresInMs: number;
  /** The partitions it holds a live lease on. */
  readonly partitions: number[];
}

/** One partition of a consumer. */
export interface ClusterLeaseStats {
  /** The partition, 0 to `partitions - 1`. */
  readonly partition: number;
  /** The node holding it, or `null` when it is free. */
  readonly owner: string | null;
  /** Grows on every takeover. */
  readonly epoch: number;
  /** Time left on the lease in ms (negative: expired); `null` when free. */
  readonly expiresInMs: number | null;
  /** Position of the last entry its checkpoint passed; 0 if none. */
  readonly checkpoint: number;
  /** Entries of the partition past its checkpoint. */
  readonly lag: number;
}

/** What `PostgresJournal.clusterStats()` resolves with. */
export interface ClusterStats {
  /** The consumer described. */
  readonly consumer: string;
  /** The journal's partition count. */
  readonly partitions: number;
  /** Newest position; 0 when nothing was appended. */
  readonly head: number;
  /** Live nodes. */
  readonly nodes: ClusterNodeStats[];
  /** Every partition, in order. */
  readonly leases: ClusterLeaseStats[];
  /** Letters in the dead-letter store. */
  readonly deadLetters: number;
}
