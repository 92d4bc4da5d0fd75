/**
 * `sluice/backend`: for authors of a journal, sink or dead-letter store. The checks and
 * helpers every built-in backend runs, so a new one refuses bad input with the same typed
 * errors, validates its options the same way, and passes the conformance suites in
 * `sluice/testing`. An application needs nothing from here.
 *
 * @module sluice/backend
 */
export { AppendWaiters } from './journal/append-waiters.js';
export { requireOptional } from './core/optional-dependency.js';
export { callEach, callSafely } from './core/callbacks.js';
export { NETWORK_ERROR_CODES } from './sink/network-errors.js';
export { checkRegion, inRegion } from './journal/region.js';
export {
  decodedEntry,
  encodeRecords,
  encodeWith,
  payloadBytes,
  checkConsumer,
  checkLimit,
  checkPosition,
  checkRead,
  rejecting,
  type EncodedRecord,
  type StoredEntry,
} from './journal/validate.js';
export { checkIds, replayDeadLetters, deadLetterView } from './journal/dead-letters.js';
export {
  partitionOfKey,
  PARTITION_START,
  checkCursor,
  checkLease,
  checkLeaseCall,
  checkPartition,
  checkPartitionRead,
} from './journal/partitioned-journal.js';
export { LeaseTable } from './journal/lease-table.js';
export {
  coalesce,
  coalesceEntries,
  type CoalescedRow,
  identifier,
  quote,
  resolveTable,
  skippedResult,
  type ResolvedTable,
} from './sink/table.js';
export {
  booleanOption,
  checkNames,
  choiceOption,
  functionOption,
  integerOption,
  knownOptions,
  nearestName,
  numberOption,
  objectOption,
  serviceOption,
  stringOption,
} from './core/options.js';
export { withinDeadline } from './core/deadline.js';
export { Lifecycle } from './core/lifecycle.js';
export { Emitter } from './core/events.js';
export { Histogram } from './core/histogram.js';
export { RestartBudget, resolveRestartPolicy } from './core/restart-budget.js';
