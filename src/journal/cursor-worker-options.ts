/**
 * The CursorWorker's options: their documented type, and the one resolver that fills every
 * default and validates every field when the worker starts (the consumer name, the region,
 * sizes, the restart policy, the poison options, the callbacks, the clock), refusing names
 * it does not know, in nested bags too.
 */
import { ConfigError, InputError } from '../errors.js';
import { systemClock, type Clock } from '../core/clock.js';
import {
  functionOption,
  integerOption,
  knownOptions,
  serviceOption,
  stringOption,
} from '../core/options.js';
import { resolveRestartPolicy, type RestartPolicy } from '../core/restart-budget.js';
import type { JournalEntry, Region } from './journal.js';
import { checkRegion } from './region.js';
import { checkConsumer } from './validate.js';

/** How a CursorWorker sets aside a batch that keeps failing, so it cannot stall the consumer. */
export interface PoisonOptions {
  /** Failed deliveries of the same batch before it is set aside. Integer >= 1. */
  maxDeliveries: number;
  /** Receives the batch and the last error; the checkpoint then moves past the batch. */
  onPoison: (batch: JournalEntry[], error: unknown) => void | Promise<void>;
}

/**
 * Options of `CursorWorker.start()`, checked when it starts (a bad one is a ConfigError).
 * Only `consumer` is required.
 */
export interface CursorWorkerOptions {
  /** Name under which the checkpoint is stored. */
  consumer: string;
  /** Which entries the handler gets; the others are skipped. @default everything */
  region?: Region;
  /** Most entries per handler call. @default 64 */
  batchSize?: number;
  /** Longest an idle worker waits before looking again (appends wake it sooner). @default 1000 */
  idleMs?: number;
  /** How often a handler that throws may restart the loop. @default 'once' */
  restart?: RestartPolicy;
  /** Set aside a batch that keeps failing. @default none: a failing batch uses restarts */
  poison?: PoisonOptions;
  /** Called on each restart with the error that caused it. */
  onRestart?: (error: unknown, restarts: number) => void;
  /** Source of time and timers; a ManualClock drives them in tests. @default systemClock */
  clock?: Clock;
}

/** The options with every default filled in and every field checked. */
export interface ResolvedCursorWorkerOptions {
  readonly consumer: string;
  /** `undefined`: every entry. */
  readonly region: Region | undefined;
  readonly batchSize: number;
  readonly idleMs: number;
  readonly restart: RestartPolicy;
  readonly poison: PoisonOptions | undefined;
  readonly onRestart: ((error: unknown, restarts: number) => void) | undefined;
  readonly clock: Clock;
}

const cursorWorkerOptionNames = [
  'consumer',
  'region',
  'batchSize',
  'idleMs',
  'restart',
  'poison',
  'onRestart',
  'clock',
] as const satisfies readonly (keyof CursorWorkerOptions)[];

/** Fills defaults and validates; throws a ConfigError naming the option, value and type. */
export function resolveCursorWorkerOptions(
  options: CursorWorkerOptions,
): ResolvedCursorWorkerOptions {
  const o = knownOptions('CursorWorker options', options, cursorWorkerOptionNames);
  return {
    // A bad name is a ConfigError here (an option), then the journal's own consumer check.
    consumer: checkConsumer(stringOption('consumer', o.consumer)),
    region: regionOption(o.region),
    batchSize: integerOption('batchSize', o.batchSize, 64, 1),
    idleMs: integerOption('idleMs', o.idleMs, 1000, 1),
    restart: resolveRestartPolicy(o.restart ?? 'once', 'restart'),
    poison: poisonOption(o.poison),
    onRestart:
      o.onRestart === undefined
        ? undefined
        : functionOption<(error: unknown, restarts: number) => void>('onRestart', o.onRestart),
    clock: serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
  };
}

function poisonOption(value: unknown): PoisonOptions | undefined {
  if (value === undefined) return undefined;
  const p = knownOptions('poison', value, ['maxDeliveries', 'onPoison']);
  return {
    maxDeliveries: integerOption('poison.maxDeliveries', p.maxDeliveries, undefined, 1),
    onPoison: functionOption<PoisonOptions['onPoison']>('poison.onPoison', p.onPoison),
  };
}

/** The journal's own region check, reported as the option it is. */
function regionOption(value: unknown): Region | undefined {
  if (value === undefined) return undefined;
  const r = knownOptions('region', value, ['keys', 'keyPrefix', 'types']);
  try {
    return checkRegion(r);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    throw new ConfigError('region', 'a region', value, error.message);
  }
}
