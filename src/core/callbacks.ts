/**
 * Helpers for the callbacks sluice calls: abort listeners and user callbacks.
 *
 * `onAbort(signal, fn)`: calls `fn` once when `signal` aborts; returns the function that
 * stops listening. Every wait in sluice that a caller can abort is wired through it, so each
 * removes its listener when it ends another way (no listener leaks on long-lived signals).
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * Calls a user callback (an `onDiscard` reporter) from inside sluice's bookkeeping. If it
 * throws, the error becomes a process warning (visible on stderr, `process.on('warning')`)
 * instead of tearing through half-updated state or crashing the process.
 */
export function callSafely<A extends unknown[]>(
  fn: ((...args: A) => void) | undefined,
  ...args: A
): void {
  if (fn === undefined) return;
  try {
    fn(...args);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.emitWarning(`a sluice callback threw (sluice carried on without it): ${message}`, {
      type: 'SluiceWarning',
      code: 'SLUICE_CALLBACK_THREW',
    });
  }
}

/** Calls each of `listeners` with `args` through {@link callSafely}: one that throws stops none. */
export function callEach<A extends unknown[]>(
  listeners: Iterable<(...args: A) => void>,
  ...args: A
): void {
  for (const listener of listeners) callSafely(listener, ...args);
}
