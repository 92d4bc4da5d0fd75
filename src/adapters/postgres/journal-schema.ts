/**
 * The PostgreSQL journal's tables, in a schema of their own:
 *
 * - `meta` — the journal's id, partition count and version base, fixed at creation.
 * - `entries` — the log. `position` comes from a sequence (it grows with time; a rolled-back
 *   append leaves a gap), `tx` is the appending transaction's id: readers go in `(tx,
 *   position)` order below the oldest transaction still running, so an entry that commits
 *   late is never skipped. A statement trigger notifies `<schema>:append` with the
 *   partitions an insert touched, whoever inserted (the journal, or the application's own
 *   transaction through `appendInTransaction`).
 * - `leases` — one row per (consumer, partition): owner, epoch (the fencing token),
 *   expiry, and the checkpoint `(cp_tx, cp_pos)`.
 * - `nodes` — the live nodes of each consumer, by heartbeat.
 * - `applied` — the sink ids an exactly-once sink (`postgresSink({ exactlyOnce })`) wrote,
 *   in the same transaction as its rows; trimmed with the entries.
 * - `dead_letters` — shared by every node.
 *
 * Creation runs in one transaction under an advisory lock, so nodes starting together do
 * not race on `CREATE ... IF NOT EXISTS`.
 */
import { quote } from '../../backend.js';
import { deadLetterTableSql } from './postgres-dead-letters.js';

/** The channel the append trigger notifies. */
export const appendChannel = (schema: string): string => `${schema}:append`;
/** The channel lease releases and joins notify. */
export const clusterChannel = (schema: string): string => `${schema}:cluster`;

/** The statements that create the journal's tables, each idempotent. */
export function journalSchemaSql(schema: string): string[] {
  const s = quote(schema);
  return [
    `CREATE SCHEMA IF NOT EXISTS ${s}`,
    `CREATE TABLE IF NOT EXISTS ${s}.meta (name text PRIMARY KEY, value text NOT NULL)`,
    `CREATE SEQUENCE IF NOT EXISTS ${s}.entries_position_seq`,
    `CREATE TABLE IF NOT EXISTS ${s}.entries (
       position bigint PRIMARY KEY,
       part integer NOT NULL,
       tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
       key text NOT NULL,
       type text,
       id text,
       payload_text text,
       payload_bytes bytea,
       version bigint,
       origin text,
       appended_at bigint NOT NULL
     )`,
    `CREATE INDEX IF NOT EXISTS entries_part_tx ON ${s}.entries (part, tx, position)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS entries_id ON ${s}.entries (id) WHERE id IS NOT NULL`,
    `CREATE INDEX IF NOT EXISTS entries_origin ON ${s}.entries (origin) WHERE origin IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${s}.leases (
       consumer text NOT NULL,
       part integer NOT NULL,
       owner text,
       epoch bigint NOT NULL DEFAULT 0,
       expires_at timestamptz,
       cp_tx xid8 NOT NULL DEFAULT '0',
       cp_pos bigint NOT NULL DEFAULT 0,
       PRIMARY KEY (consumer, part)
     )`,
    `CREATE TABLE IF NOT EXISTS ${s}.nodes (
       consumer text NOT NULL,
       node text NOT NULL,
       expires_at timestamptz NOT NULL,
       started_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (consumer, node)
     )`,
    `CREATE TABLE IF NOT EXISTS ${s}.applied (
       consumer text NOT NULL,
       sink_id text NOT NULL,
       part integer NOT NULL,
       PRIMARY KEY (sink_id, consumer)
     )`,
    deadLetterTableSql(s),
    `CREATE OR REPLACE FUNCTION ${s}.notify_append() RETURNS trigger LANGUAGE plpgsql AS $f$
     BEGIN
       -- An append whose ids were all known wrote nothing: nobody needs waking.
       IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF;
       -- A notification carries 8,000 bytes at most: past 1,000 partitions, '' means all.
       PERFORM pg_notify(${literal(appendChannel(schema))},
         (SELECT CASE WHEN count(DISTINCT part) > 1000 THEN ''
                      ELSE string_agg(DISTINCT part::text, ',') END FROM new_rows));
       RETURN NULL;
     END $f$`,
    `DO $d$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_trigger
                      WHERE tgname = 'notify_append' AND tgrelid = '${s}.entries'::regclass) THEN
         CREATE TRIGGER notify_append AFTER INSERT ON ${s}.entries
           REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
           EXECUTE FUNCTION ${s}.notify_append();
       END IF;
     END $d$`,
  ];
}

/** A SQL string literal of a name `identifier` allowed (no quote can be in it). */
export const literal = (text: string): string => `'${text}'`;
