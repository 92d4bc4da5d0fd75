/**
 * `sluice/sqlite`: the embedded SQLite backends.
 *
 * @module sluice/sqlite
 */
export { SqliteJournal } from './sqlite-journal.js';
export type { SqliteJournalOptions } from './sqlite-journal-options.js';
export { APPLICATION_ID, SCHEMA_VERSION } from './schema.js';
export { sqliteSink, type SqliteSinkOptions } from './sqlite-sink.js';
export { SqliteDeadLetters } from './sqlite-dead-letters.js';
export type {
  SqliteDatabase,
  SqliteDriverName,
  SqliteDriverOption,
  SqliteHandle,
  SqliteStatement,
} from './driver.js';
