/**
 * sluice: durable write-behind and keyed workers.
 *
 * Glossary
 * - item: one unit of work handed to a Batcher (`submit`) or a Channel (`send`).
 * - batch: the items one `flush` call receives, at most `maxSize`, in submit order.
 * - flush: the user's function that writes a batch; it returns one result per item or
 *   nothing.
 * - pending: items buffered or in flight; bounded by `maxPending`.
 * - overflow: what happens when a bound is reached: `wait`, `reject`, `dropOldest`,
 *   `dropNewest`.
 * - retry policy: attempts and backoff for a failed flush (`RetryPolicy`, `computeDelay`).
 * - clock: the source of time and timers; `ManualClock` drives time in tests.
 * - journal: the durable, append-only log a write enters before it is acknowledged.
 * - position: an entry's place in the journal; 1, 2, 3... without gaps. 0 is "before all".
 * - region: which entries a reader wants (exact keys, a key prefix, types).
 * - consumer / checkpoint: a named reader and the last position it has handled, stored in
 *   the journal so it survives restarts.
 * - restart policy: how often a supervised loop may restart after failures.
 * - worker pool: serial workers fed by routing; a job is { key, msg }; `cast` fires and
 *   forgets, `call` awaits the handler's result.
 * - routing mode: where a job goes (keyPersistent, stickyQueuer, queuer, roundRobin, random,
 *   customHash); the keyed modes keep one key on one worker at a time, in order.
 * - dead letter: an entry that could not be written, kept with its error and attempts
 *   instead of dropped; it can be replayed into the journal or purged.
 * - sink: where entries finally land; writes a batch all or nothing, idempotent by entry id.
 * - watermark: the position below which every entry has finished, when they finish out of
 *   order; what a consumer may safely commit.
 * - discard: a job dropped before it ran, always with a reason (ttl, loadshed, rateLimited,
 *   shutdown).
 *
 * Lifecycle verbs mean the same on every component that has them:
 *
 * | verb                   | meaning                                                         | on                                       |
 * |------------------------|-----------------------------------------------------------------|------------------------------------------|
 * | `flush()`              | send what is buffered now, without waiting for size or delay;   | Batcher, WriteBehind                     |
 * |                        | resolves once that work has settled; keeps accepting            |                                          |
 * | `drain()`              | resolves once nothing is queued, buffered or in flight (at once | Batcher, Channel, WorkerPool, WriteBehind |
 * |                        | if so already); keeps accepting                                 |                                          |
 * | `close({deadlineMs})`  | idempotent: stops accepting at once (later work gets            | Batcher, Channel, WorkerPool,            |
 * |                        | ClosedError), finishes what it accepted within `deadlineMs`     | CursorWorker, WriteBehind                |
 * |                        | (default: no deadline), then stops and resolves with what it    |                                          |
 * |                        | could not finish                                                |                                          |
 * | `[Symbol.asyncDispose]`| `close()` with no deadline, for `await using`                   | the same                                 |
 *
 * Every deadline is run by one helper (`withinDeadline`, core/deadline.ts).
 *
 * @module sluice
 */
export {
  SluiceError,
  ClosedError,
  BatchError,
  QueueFullError,
  TimeoutError,
  ConfigError,
  InputError,
  EncodeError,
  EntryTooLargeError,
  JournalFormatError,
  JournalWriteError,
  JournalReadError,
  JournalLockedError,
  LeaseLostError,
  SinkError,
  DeadLetteredError,
  RestartBudgetExhaustedError,
  DiscardedError,
  WorkerCrashedError,
  WorkerStuckError,
  FatalWorkerError,
  ThreadExitError,
  MissingDependencyError,
  type DiscardReason,
  type JournalHolder,
  type SluiceErrorCode,
} from './errors.js';
export {
  systemClock,
  ManualClock,
  sleep,
  type Clock,
  type Timer,
  type TimerOptions,
} from './core/clock.js';
export {
  Channel,
  type ChannelOptions,
  type ChannelState,
  type ChannelCloseResult,
  type ChannelStats,
  type OverflowPolicy,
  type DropReason,
  type SignalOptions,
} from './core/channel.js';
export {
  Batcher,
  type BatcherOptions,
  type BatcherState,
  type BatcherStats,
  type FlushContext,
  type FlushFunction,
  type FlushResult,
  type SubmitOptions,
  type CloseOptions,
  type CloseResult,
} from './core/batcher.js';
export {
  computeDelay,
  resolveRetryPolicy,
  retry,
  defaultRetryPolicy,
  type RetryPolicy,
  type RetryOptions,
  type Jitter,
} from './core/retry.js';
export {
  WorkerPool,
  type WorkerPoolOptions,
  type JobSpec,
  type JobContext,
  type PoolHandler,
  type PoolKey,
  type PoolStats,
  type PoolEvents,
  type PoolCloseResult,
  type PoolState,
  type WorkerStats,
  type WorkerState,
  type DeadManSwitch,
} from './core/pool/worker-pool.js';
export { hashKey, type RoutingMode } from './core/pool/routing.js';
export type { RateLimit } from './core/pool/rate-limiter.js';
export type { ThreadOptions } from './core/pool/thread-worker.js';
export { Watermark } from './core/watermark.js';
export type { HistogramSnapshot } from './core/histogram.js';
export {
  WriteBehind,
  DEFAULT_CONSUMER,
  type WriteBehindOptions,
  type WriteBehindMetrics,
  type WriteBehindEvents,
  type WriteBehindCloseResult,
  type WriteEntry,
  type WriteOptions,
  type DeadLetters,
  type LaneStats,
  type LaneState,
} from './core/write-behind.js';
export {
  ClusterWriteBehind,
  type ClusterWriteBehindOptions,
  type ClusterWriteBehindEvents,
  type ClusterMetrics,
} from './cluster/cluster-write-behind.js';
export type { RestartPolicy } from './core/restart-budget.js';
export type {
  AppendOptions,
  ConsumerHold,
  Journal,
  JournalEntry,
  JournalRecord,
  JournalStats,
  ConsumerStats,
  ReadOptions,
  Region,
  TruncateOptions,
  TruncateResult,
} from './journal/journal.js';
export {
  jsonCodec,
  type Codec,
  type Encodable,
  type Encoded,
  type JsonValue,
  type Payload,
} from './journal/codec.js';
export { MemoryJournal, type MemoryJournalOptions } from './journal/memory-journal.js';
export {
  MemoryPartitionedJournal,
  type MemoryPartitionedJournalOptions,
  type MemoryJournalTransaction,
} from './journal/memory-partitioned-journal.js';
export { onePartition, type OnePartitionOptions } from './journal/one-partition.js';
export {
  isPartitioned,
  type PartitionedJournal,
  type PartitionCursor,
  type PartitionLease,
  type PartitionRead,
  type EntryState,
} from './journal/partitioned-journal.js';
export type { ReleaseReason } from './cluster/coordinator.js';
export type { ClusterStats, ClusterNodeStats, ClusterLeaseStats } from './journal/cluster-stats.js';
export { Cursor, type CursorOptions } from './journal/cursor.js';
export {
  MemoryDeadLetters,
  type DeadLetter,
  type DeadLetterInput,
  type DeadLetterStore,
} from './journal/dead-letters.js';
export {
  CursorWorker,
  type CursorAction,
  type CursorHandler,
  type CursorWorkerOptions,
  type CursorWorkerCloseResult,
  type CursorHandlerContext,
  type CursorWorkerState,
  type PoisonOptions,
} from './journal/cursor-worker.js';

export type {
  Sink,
  SinkContext,
  SinkEntry,
  SinkFailure,
  SinkFence,
  SinkWriteResult,
} from './sink/sink.js';
export { MemorySink, type MemorySinkOptions } from './sink/memory-sink.js';
export { functionSink, type FunctionSinkOptions } from './sink/function-sink.js';
export type { TableSinkOptions } from './sink/table.js';
