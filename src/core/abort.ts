/**
 * `onAbort(signal, fn)`: calls `fn` once when `signal` aborts; returns the function that
 * stops listening. Every wait in sluice that a caller can abort is wired through it, so each
 * removes its listener when it ends another way (no listener leaks on long-lived signals).
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
