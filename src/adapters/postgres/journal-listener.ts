/**
 * JournalListener: one connection of its own that LISTENs on the journal's channels and
 * hands each notification to the subscribers of its channel. When the connection breaks it
 * reconnects with backoff, and tells every subscriber `undefined` once it is back: what was
 * notified in between is unknown, so readers look at everything.
 */
import type pg from 'pg';

type Listener = (payload: string | undefined) => void;

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export class JournalListener {
  readonly #connect: () => pg.Client;
  readonly #channels: readonly string[];
  readonly #listeners = new Map<string, Set<Listener>>();
  #client: pg.Client | undefined;
  #stopped = false;
  #retryMs = RECONNECT_MIN_MS;
  #timer: NodeJS.Timeout | undefined;

  constructor(connect: () => pg.Client, channels: readonly string[]) {
    this.#connect = connect;
    this.#channels = channels;
  }

  /** Connects and listens; rejects if the first connection fails. */
  async start(): Promise<void> {
    await this.#open();
  }

  on(channel: string, listener: Listener): () => void {
    let set = this.#listeners.get(channel);
    if (set === undefined) this.#listeners.set(channel, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  async #open(): Promise<void> {
    const client = this.#connect();
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (n) => this.#emit(n.channel, n.payload));
    try {
      await client.connect();
      for (const channel of this.#channels) {
        await client.query(`LISTEN "${channel}"`);
      }
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#retryMs = RECONNECT_MIN_MS;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client || this.#stopped) return;
    this.#client = undefined;
    client.end().catch(() => {});
    this.#reconnect();
  }

  #reconnect(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#open().then(
        () => {
          for (const channel of this.#channels) this.#emit(channel, undefined);
        },
        () => {
          this.#retryMs = Math.min(this.#retryMs * 2, RECONNECT_MAX_MS);
          this.#reconnect();
        },
      );
    }, this.#retryMs);
    this.#timer.unref();
  }

  #emit(channel: string, payload: string | undefined): void {
    for (const listener of this.#listeners.get(channel) ?? []) listener(payload);
  }
}
