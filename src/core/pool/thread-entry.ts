/**
 * The code each pool thread runs: loads the user's module, then answers the pool's messages
 * (`job` → the handler's result or error, `ping` → `pong`) one job at a time. The module must
 * export the handler as `handler` or as its default export.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ToThread, FromThread } from './thread-worker.js';

const port = parentPort;
if (port === null) throw new Error('thread-entry must run in a worker thread');
const { module, data, workerId } = workerData as {
  module: string;
  data: unknown;
  workerId: number;
};
const loaded = (await import(module)) as { handler?: unknown; default?: unknown };
const handler = (loaded.handler ?? loaded.default) as
  | ((
      msg: unknown,
      ctx: { workerId: number; key: string; attempt: number; workerData: unknown },
    ) => unknown)
  | undefined;
if (typeof handler !== 'function') {
  throw new Error(`${module} must export a handler function (as 'handler' or default)`);
}

const send = (message: FromThread): void => port.postMessage(message);

port.on('message', (message: ToThread) => {
  if (message.type === 'ping') {
    send({ type: 'pong', id: message.id });
    return;
  }
  const ctx = { workerId, key: message.key, attempt: message.attempt, workerData: data };
  Promise.resolve()
    .then(() => handler(message.msg, ctx))
    .then(
      (value) => send({ type: 'result', id: message.id, ok: true, value }),
      (error: unknown) => {
        try {
          send({ type: 'result', id: message.id, ok: false, error });
        } catch {
          // An error that cannot be cloned crosses as its message.
          send({ type: 'result', id: message.id, ok: false, error: new Error(String(error)) });
        }
      },
    );
});
send({ type: 'ready' });
