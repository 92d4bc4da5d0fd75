/** `sluice/postgres`: the PostgreSQL backends (needs the `pg` package). */
export { postgresSink, type PostgresSink, type PostgresSinkOptions } from './postgres-sink.js';
export { classifyPostgresError } from './classify.js';
