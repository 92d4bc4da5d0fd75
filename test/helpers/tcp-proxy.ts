import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy a test can break: `down()` drops every connection and refuses new ones,
 * `blackhole()` accepts connections and swallows everything (half-open: no reset, no
 * answer), `heal()` forwards again.
 */
export class TcpProxy {
  #mode: 'up' | 'down' | 'blackhole' = 'up';
  readonly #pairs = new Set<[Socket, Socket | undefined]>();
  #server: Server | undefined;
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(): Promise<void> {
    this.#server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }

  down(): void {
    this.#mode = 'down';
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream?.destroy();
    }
    this.#pairs.clear();
  }

  blackhole(): void {
    this.#mode = 'blackhole';
  }

  heal(): void {
    this.#mode = 'up';
    // Connections accepted while black-holed stay dead, as a half-open connection does.
  }

  async stop(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }

  #accept(client: Socket): void {
    client.on('error', () => {});
    if (this.#mode === 'down') {
      client.destroy();
      return;
    }
    if (this.#mode === 'blackhole') {
      client.on('data', () => {}); // swallow, never answer
      this.#pairs.add([client, undefined]);
      return;
    }
    const upstream = connect(this.targetPort, this.targetHost);
    upstream.on('error', () => client.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    client.on('data', (chunk) => {
      if (this.#mode !== 'blackhole') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (this.#mode !== 'blackhole') client.write(chunk);
    });
    client.on('close', () => {
      upstream.destroy();
      this.#pairs.delete(pair);
    });
    upstream.on('close', () => client.destroy());
  }
}
