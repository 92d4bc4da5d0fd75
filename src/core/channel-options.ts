/**
 * The Channel's options: their documented type, and the one resolver that fills every
 * default and validates every field at construction (capacity, overflow policy, the
 * `onDiscard` callback, the clock), refusing names it does not know.
 */
import { systemClock, type Clock } from './clock.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  knownOptions,
  serviceOption,
} from './options.js';

/** What happens to an item sent while the channel is full. */
export type OverflowPolicy = 'wait' | 'reject' | 'dropOldest' | 'dropNewest';

/** Why an item was dropped. */
export type DropReason = 'dropOldest' | 'dropNewest';

/** Options of `new Channel()`, checked at construction (a bad one is a ConfigError). */
export interface ChannelOptions<T> {
  /** Most items buffered at once. Integer >= 1. */
  capacity: number;
  /** What `send` does when the buffer is full. @default 'wait' */
  overflow?: OverflowPolicy;
  /** Called with every dropped item. An error it throws becomes a process warning. */
  onDiscard?: (item: T, reason: DropReason) => void;
  /** Source of time and timers; a ManualClock drives them in tests. @default systemClock */
  clock?: Clock;
}

/** The options with every default filled in and every field checked. */
export interface ResolvedChannelOptions<T> {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  /** `undefined`: drops are only counted. */
  readonly onDiscard: ((item: T, reason: DropReason) => void) | undefined;
  readonly clock: Clock;
}

const channelOptionNames = [
  'capacity',
  'overflow',
  'onDiscard',
  'clock',
] as const satisfies readonly (keyof ChannelOptions<unknown>)[];

/** Fills defaults and validates; throws a ConfigError naming the option, value and type. */
export function resolveChannelOptions<T>(options: ChannelOptions<T>): ResolvedChannelOptions<T> {
  const o = knownOptions('Channel options', options, channelOptionNames);
  return {
    capacity: integerOption('capacity', o.capacity, undefined, 1),
    overflow: choiceOption('overflow', o.overflow, 'wait', [
      'wait',
      'reject',
      'dropOldest',
      'dropNewest',
    ]),
    onDiscard:
      o.onDiscard === undefined
        ? undefined
        : functionOption<(item: T, reason: DropReason) => void>('onDiscard', o.onDiscard),
    clock: serviceOption<Clock>('clock', o.clock, ['now', 'setTimer'], systemClock),
  };
}
