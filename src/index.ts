/**
 * sluice: durable write-behind and keyed workers.
 *
 * Glossary
 * - item: one unit of work handed to a Batcher (`submit`) or a Channel (`send`).
 * - batch: the items one `flush` call receives, at most `maxSize`, in submit order.
 * - flush: the user's function that writes a batch; it returns one result per item or
 *   nothing.
 * - pending: items buffered or in flight; bounded by `maxPending`.
 * - overflow: what happens when a bound is reached: `wait`, `reject`, `dropOldest`,
 *   `dropNewest`.
 * - retry policy: attempts and backoff for a failed flush (`RetryPolicy`, `computeDelay`).
 * - clock: the source of time and timers; `ManualClock` drives time in tests.
 */
export {
  SluiceError,
  ClosedError,
  BatchError,
  QueueFullError,
  TimeoutError,
  ConfigError,
  type SluiceErrorCode,
} from './errors.js';
export {
  systemClock,
  ManualClock,
  sleep,
  type Clock,
  type Timer,
  type TimerOptions,
} from './core/clock.js';
export {
  Channel,
  type ChannelOptions,
  type ChannelStats,
  type OverflowPolicy,
  type DropReason,
  type SignalOptions,
} from './core/channel.js';
export {
  Batcher,
  type BatcherOptions,
  type BatcherStats,
  type FlushContext,
  type FlushFunction,
  type FlushResult,
  type SubmitOptions,
  type CloseOptions,
  type CloseResult,
} from './core/batcher.js';
export {
  computeDelay,
  retry,
  resolveRetryPolicy,
  defaultRetryPolicy,
  type RetryPolicy,
  type RetryOptions,
  type Jitter,
} from './core/retry.js';
