/** `sluice/sqlite`: the embedded SQLite backends. */
export { SqliteJournal } from './sqlite-journal.js';
export type { SqliteJournalOptions } from './sqlite-journal-options.js';
export { APPLICATION_ID, SCHEMA_VERSION } from './schema.js';
export { sqliteSink, type SqliteSinkOptions } from './sqlite-sink.js';
export { SqliteDeadLetters } from './sqlite-dead-letters.js';
