/**
 * `SqliteJournal.open()` options: the documented type and its one resolver, which fills
 * every default and refuses, with a ConfigError, a wrong value or an unknown name.
 */
import { jsonCodec, systemClock, type Clock, type Codec } from '../../index.js';
import { driverOption, type SqliteDriverOption } from './driver.js';
import {
  booleanOption,
  choiceOption,
  integerOption,
  knownOptions,
  numberOption,
  serviceOption,
} from '../../backend.js';

/** Options of `SqliteJournal.open()`; a bad value or an unknown name is a ConfigError. */
export interface SqliteJournalOptions {
  /** `'full'`: survives power loss; `'normal'`: survives a process kill only. @default 'full' */
  synchronous?: 'full' | 'normal';
  /** How payloads are stored. @default jsonCodec */
  codec?: Codec;
  /** Create the file (and its folder) if it does not exist. @default true */
  create?: boolean;
  /** Most records written in one transaction. @default 10000 */
  maxGroupRecords?: number;
  /**
   * While appends come from several callers at once, the least time in ms from the start of
   * one write transaction to the start of the next: appends made meanwhile wait and share
   * the next one, so a steady stream of writes pays fewer fsyncs (each also blocks the event
   * loop). A lone caller awaiting each append, and an append after a quiet spell, are
   * written on the next turn of the event loop, as with 0; under full load a transaction
   * takes longer than this anyway. @default 2
   */
  groupCommitMs?: number;
  /** How often `waitForAppend` checks for appends by other processes. @default 250 */
  pollIntervalMs?: number;
  /**
   * The (key, position) index that makes exact-key reads a seek. `false` drops it: appends
   * get cheaper (one B-tree less to update, at random places; ~10% less CPU per append in
   * the pipeline here), and exact-key reads
   * then scan forward from `after` like prefix reads. For a journal that is only read in
   * order, such as a WriteBehind's. Unset: the file keeps what it has (new files get it).
   */
  keyIndex?: boolean;
  /**
   * The WAL is folded back into the file each time it reaches this many pages (4 KiB each
   * by default), bounding its size when no reader holds an old snapshot: a smaller value
   * suits a small volume, at some cost per append. @default 4000 (~16 MiB)
   */
  walCheckpointPages?: number;
  /**
   * Source of time for `pollIntervalMs` and `groupCommitMs`; a ManualClock drives both in
   * tests (appends that wait out `groupCommitMs` then wait for `advance()`). @default systemClock
   */
  clock?: Clock;
  /**
   * The SQLite driver: `'auto'` uses Node's built-in `node:sqlite` on Node.js 24 and later
   * and better-sqlite3 (an optional peer dependency) before. @default 'auto'
   */
  driver?: SqliteDriverOption;
}

export interface ResolvedSqliteJournalOptions {
  readonly synchronous: 'full' | 'normal';
  readonly codec: Codec;
  readonly create: boolean;
  readonly maxGroupRecords: number;
  readonly groupCommitMs: number;
  readonly pollIntervalMs: number;
  /** Undefined: the file keeps the key index it has. */
  readonly keyIndex: boolean | undefined;
  readonly walCheckpointPages: number;
  readonly clock: Clock;
  readonly driver: SqliteDriverOption;
}

const KNOWN: readonly (keyof SqliteJournalOptions)[] = [
  'synchronous',
  'codec',
  'create',
  'maxGroupRecords',
  'groupCommitMs',
  'pollIntervalMs',
  'keyIndex',
  'walCheckpointPages',
  'clock',
  'driver',
];

export function resolveSqliteJournalOptions(options: unknown): ResolvedSqliteJournalOptions {
  const o = knownOptions('SqliteJournal.open() options', options, KNOWN);
  return {
    synchronous: choiceOption('synchronous', o.synchronous, 'full', ['full', 'normal']),
    codec: serviceOption<Codec>('codec', o.codec, ['encode', 'decode'], jsonCodec),
    create: booleanOption('create', o.create, true),
    maxGroupRecords: integerOption('maxGroupRecords', o.maxGroupRecords, 10_000, 1),
    groupCommitMs: numberOption('groupCommitMs', o.groupCommitMs, 2, 0),
    pollIntervalMs: integerOption('pollIntervalMs', o.pollIntervalMs, 250, 1),
    keyIndex: o.keyIndex === undefined ? undefined : booleanOption('keyIndex', o.keyIndex, true),
    walCheckpointPages: integerOption('walCheckpointPages', o.walCheckpointPages, 4000, 1),
    clock: serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
    driver: driverOption(o.driver),
  };
}
