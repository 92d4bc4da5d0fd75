/**
 * What bench/cluster and its node processes (bench/lib/cluster-node.ts) say to each other
 * over the IPC channel of `child_process.fork`-style spawning.
 *
 * A node opens its system from its NodeConfig (passed in the environment), says `ready`,
 * then either runs a closed loop (`go`: its share of the entries, each producer awaiting
 * its write) or an open loop (`load`: a fixed rate until `stop`), reports the entries its
 * workers have written (`progress`) and, for sluice's PostgreSQL journal, every partition
 * it acquires or releases; `close` ends it (a SIGTERM does too, the same way).
 */
import type { TableMode } from './keyed-table.js';

export type System = 'sluice-sqlite' | 'sluice-postgres' | 'pg-boss' | 'graphile-worker';

export interface NodeConfig {
  system: System;
  mode: TableMode;
  connectionString: string;
  /** The schema and table the workers write into. */
  schema: string;
  table: string;
  keys: number;
  /** This node, 0..nodes-1: it writes entries `index`, `index + nodes`, ... */
  index: number;
  nodes: number;
  /** Entries of the closed loop over all nodes. */
  entries: number;
  /** This node's closed-loop producers. */
  producers: number;
  sluice?: {
    /** The PostgreSQL journal's schema (sluice-postgres). */
    journalSchema?: string;
    /** The SQLite journal's file (sluice-sqlite). */
    journalPath?: string;
    partitions: number;
    leaseMs: number;
    workers: number;
    batchMaxSize: number;
    batchMaxDelayMs: number;
  };
  pgBoss?: {
    schema: string;
    queue: string;
    /** Jobs a fetch takes, written with one statement. */
    batchSize: number;
    /** Fetch loops of the node. */
    localConcurrency: number;
    pollingIntervalSeconds: number;
  };
  graphileWorker?: {
    schema: string;
    /** `queueName` per key, or this many queue names from a hash of the key. */
    queues: 'per-key' | number;
    concurrentJobs: number;
    localQueueSize: number;
    pollIntervalMs: number;
  };
  /** Group commit in front of the job queues' batch APIs. */
  enqueue?: { maxItems: number; maxInFlight: number };
}

export type ParentMessage =
  | { type: 'go' }
  | { type: 'load'; perSecond: number; firstSeq: number }
  | { type: 'stop' }
  | { type: 'close' };

export type NodeMessage =
  | { type: 'ready'; node: string }
  | { type: 'partition'; event: 'acquired' | 'released'; partition: number; at: number }
  | { type: 'progress'; processed: number; at: number; gcMs: number }
  | { type: 'produced'; latenciesMs: number[]; written: number; failed: number }
  | { type: 'closed' }
  | { type: 'failed'; message: string };

/** A system as one node runs it: producers' writes in, workers writing rows out. */
export interface KeyedNode {
  /** A name for the node (sluice's node id where there is one). */
  readonly name: string;
  /** Writes entry `seq`; resolves once the system acknowledges it as stored. */
  write(seq: number): Promise<unknown>;
  /** Entries this node's workers have written to the table (re-deliveries included). */
  processed(): number;
  /** When `processed()` last grew: wall-clock ms. */
  lastProcessedAt(): number;
  /** Finishes what is under way, stops the workers and releases what the node holds. */
  close(): Promise<void>;
}

/** What a node's system reports besides progress. */
export interface NodeEvents {
  partition(event: 'acquired' | 'released', partition: number): void;
}
