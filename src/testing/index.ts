/** `sluice/testing`: conformance suites every backend must pass. */
export { journalConformance, type JournalHarness } from './journal-conformance.js';
