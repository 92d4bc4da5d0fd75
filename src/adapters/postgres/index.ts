/**
 * `sluice/postgres`: the PostgreSQL backends (needs the `pg` package).
 *
 * @module sluice/postgres
 */
export { postgresSink, type PostgresSink, type PostgresSinkOptions } from './postgres-sink.js';
export { classifyPostgresError } from './classify.js';
export {
  PostgresDeadLetters,
  deadLetterTableSql,
  type PostgresDeadLettersOptions,
} from './postgres-dead-letters.js';
export { PostgresJournal, type PostgresJournalOptions } from './postgres-journal.js';
