/**
 * `sluice/testing`: conformance suites every backend must pass.
 *
 * @module sluice/testing
 */
export { journalConformance, type JournalHarness } from './journal-conformance.js';
export {
  partitionedJournalConformance,
  type PartitionedJournalHarness,
  type LateAppend,
} from './partitioned-journal-conformance.js';
export { sinkConformance, type SinkHarness, type BalanceRow } from './sink-conformance.js';
export { deadLetterConformance, type DeadLetterHarness } from './dead-letter-conformance.js';
