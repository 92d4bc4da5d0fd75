import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Emitter } from '../../src/core/events.js';
import { MemorySink, WriteBehind } from '../../src/index.js';

interface Events {
  'batch:flushed': { size: number };
}

class Source extends Emitter<Events> {
  fire(size: number): void {
    this.emit('batch:flushed', { size });
  }
}

test('.on() delivers the payload; the returned function unsubscribes', () => {
  const source = new Source();
  const seen: number[] = [];
  const off = source.on('batch:flushed', ({ size }) => seen.push(size));
  source.fire(3);
  off();
  source.fire(4);
  assert.deepEqual(seen, [3]);
  assert.equal(source.hasListeners('batch:flushed'), false);
});

test('event maps are closed: a misspelled event name does not compile', async () => {
  const source = new Source();
  // @ts-expect-error 'batch:flushd' is not an event of this emitter
  source.on('batch:flushd', () => {});
  const wb = await WriteBehind.open({ journal: 'memory', sink: new MemorySink<number>() });
  // @ts-expect-error 'batch:flushd' is not a WriteBehind event
  wb.on('batch:flushd', () => {});
  // @ts-expect-error the payload of 'sink:available' has no `error`
  wb.on('sink:available', ({ error }) => {
    void error;
  });
  await wb.close();
});

test('a listener that throws does not break the emitter', async (t) => {
  const source = new Source();
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  source.on('batch:flushed', () => {
    throw new Error('listener bug');
  });
  const seen: number[] = [];
  source.on('batch:flushed', ({ size }) => seen.push(size));
  source.fire(1);
  assert.deepEqual(seen, [1]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(
    warnings.some((w) => w.includes('listener bug')),
    warnings.join('; '),
  );
});
