import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { serviceGate, type Service } from './services.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('serviceGate() skips with one clear line when a server is down, and fails when required', async () => {
  const down: Service = { name: 'FakeDB', port: await closedPort(), start: 'fakedb --start' };
  assert.equal(
    await serviceGate(down, false),
    `FakeDB is not reachable on 127.0.0.1:${down.port}; start it with: fakedb --start`,
  );
  await assert.rejects(
    serviceGate(down, true),
    /FakeDB is not reachable .* SLUICE_REQUIRE_SERVICES=1/,
  );
});

test('serviceGate() lets a test run when its server answers', async () => {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    assert.equal(await serviceGate({ name: 'Up', port, start: '-' }, true), undefined);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
