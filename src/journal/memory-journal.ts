/**
 * MemoryJournal: the journal's reference semantics, kept in memory.
 *
 * It keeps every promise of {@link Journal} except surviving the process: use it in tests,
 * and as the model the durable backends are checked against. `append` is durable as soon as
 * it returns (there is nothing more durable to wait for), so there is no group commit.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { checkNames, knownOptions, serviceOption } from '../core/options.js';
import { ClosedError, InputError, JournalLockedError, type JournalHolder } from '../errors.js';
import { AppendWaiters } from './append-waiters.js';
import { callSafely } from '../core/callbacks.js';
import { jsonCodec, type Codec } from './codec.js';
import { MemoryDeadLetters, type DeadLetterStore } from './dead-letters.js';
import type {
  AppendOptions,
  ConsumerHold,
  Journal,
  JournalEntry,
  JournalRecord,
  JournalStats,
  ReadOptions,
  TruncateOptions,
  TruncateResult,
} from './journal.js';
import { inRegion } from './region.js';
import {
  checkConsumer,
  checkPosition,
  checkRead,
  encodeRecords,
  payloadBytes,
  rejecting,
  type EncodedRecord,
} from './validate.js';

/** Options of `new MemoryJournal()`. */
export interface MemoryJournalOptions {
  /** How payloads are stored. @default jsonCodec */
  codec?: Codec;
}

interface Stored extends EncodedRecord {
  readonly appendedAt: number;
  readonly version: number;
}

/**
 * The journal's reference semantics, in memory: every promise of {@link Journal} except
 * surviving the process. For tests, and the model the durable backends are checked against.
 */
export class MemoryJournal implements Journal {
  readonly id = randomBytes(8).toString('hex');
  readonly #codec: Codec;
  readonly #holders = new Map<string, JournalHolder>();
  #version = 0;
  /**
   * `#entries[#offset + i]` has position `#first + i`. Truncation only moves `#offset` (and
   * clears the slots); the array is compacted once the dead prefix is most of it, so
   * truncating after every batch costs O(batch), not O(retained).
   */
  #entries: (Stored | undefined)[] = [];
  #offset = 0;
  #first = 1;
  readonly #ids = new Map<string, number>();
  readonly #checkpoints = new Map<string, number>();
  readonly #waiters = new AppendWaiters();
  readonly #appended = new Set<(entries: readonly JournalEntry[]) => void>();
  readonly #deadLetters = new MemoryDeadLetters();
  #bytes = 0;
  #closed = false;

  constructor(options: MemoryJournalOptions = {}) {
    const o = knownOptions('MemoryJournal options', options, ['codec']);
    this.#codec = serviceOption<Codec>('codec', o.codec, ['encode', 'decode'], jsonCodec);
  }

  get #head(): number {
    return this.#first + this.#entries.length - this.#offset - 1;
  }

  append(records: readonly JournalRecord[], options?: AppendOptions): Promise<number[]> {
    return rejecting(() => {
      this.#open();
      const encoded = encodeRecords(records, this.#codec, options);
      const now = Date.now();
      const first = this.#head + 1;
      const positions = encoded.map((r) => {
        if (r.id !== undefined) {
          const existing = this.#ids.get(r.id);
          if (existing !== undefined) return existing;
        }
        const version = r.version ?? (this.#version = Math.max(this.#version + 1, now * 1000));
        // Bytes are copied: what is stored must not change with the caller's buffer.
        const payload = typeof r.payload === 'string' ? r.payload : Uint8Array.from(r.payload);
        this.#entries.push({ ...r, payload, appendedAt: now, version });
        this.#bytes += payloadBytes(r.payload);
        const position = this.#head;
        if (r.id !== undefined) this.#ids.set(r.id, position);
        return position;
      });
      if (this.#appended.size > 0 && this.#head >= first) this.#handOver(first);
      this.#waiters.notify(this.#head);
      return Promise.resolve(positions);
    });
  }

  onAppended(listener: (entries: readonly JournalEntry[]) => void): () => void {
    this.#open();
    const wrapped = (entries: readonly JournalEntry[]): void => listener(entries);
    this.#appended.add(wrapped);
    return () => this.#appended.delete(wrapped);
  }

  /** The entries from `first` to the head, to the `onAppended` listeners, as read returns them. */
  #handOver(first: number): void {
    const base = this.#first - this.#offset;
    // Each listener its own entries, as each read decodes its own.
    for (const listener of this.#appended) {
      const entries: JournalEntry[] = [];
      for (let i = first - base; i < this.#entries.length; i++) entries.push(this.#entry(base + i));
      callSafely(listener, entries);
    }
  }

  #entry(position: number): JournalEntry {
    const e = this.#entries[position - this.#first + this.#offset] as Stored;
    return {
      position,
      key: e.key,
      type: e.type,
      id: e.id,
      payload: this.#codec.decode(e.payload),
      appendedAt: e.appendedAt,
      bytes: payloadBytes(e.payload),
      version: e.version,
      origin: e.origin,
    };
  }

  read(after: number, options: ReadOptions = {}): Promise<JournalEntry[]> {
    return rejecting(() => {
      this.#open();
      const { limit, region, maxBytes } = checkRead(after, options);
      const out: JournalEntry[] = [];
      let bytes = 0;
      const base = this.#first - this.#offset; // position of #entries[0]
      for (let i = Math.max(this.#offset, after + 1 - base); i < this.#entries.length; i++) {
        const e = this.#entries[i] as Stored;
        if (!inRegion(region, e.key, e.type)) continue;
        const size = payloadBytes(e.payload);
        if (out.length > 0 && bytes + size > maxBytes) break;
        bytes += size;
        out.push(this.#entry(base + i));
        if (out.length >= limit) break;
      }
      return Promise.resolve(out);
    });
  }

  commit(consumer: string, position: number): Promise<void> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      checkPosition('position', position);
      if (position > this.#head) {
        throw new InputError(`cannot commit ${consumer} at ${position}: the head is ${this.#head}`);
      }
      this.#checkpoints.set(consumer, position);
      return Promise.resolve();
    });
  }

  committed(consumer: string): Promise<number> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      return Promise.resolve(this.#checkpoints.get(consumer) ?? 0);
    });
  }

  waitForAppend(after: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    return rejecting(() => {
      this.#open();
      checkPosition('after', after);
      return this.#waiters.wait(after, this.#head, options.signal);
    });
  }

  truncate(before: number, options: TruncateOptions = {}): Promise<TruncateResult> {
    return rejecting(() => {
      this.#open();
      checkPosition('before', before);
      checkNames('truncate options', options, ['force']);
      let limit = Math.min(before, this.#head + 1);
      if (options.force !== true && this.#checkpoints.size > 0) {
        limit = Math.min(limit, Math.min(...this.#checkpoints.values()) + 1);
      }
      const n = Math.max(0, limit - this.#first);
      for (let i = this.#offset; i < this.#offset + n; i++) {
        const e = this.#entries[i] as Stored;
        if (e.id !== undefined) this.#ids.delete(e.id);
        this.#bytes -= payloadBytes(e.payload);
        this.#entries[i] = undefined;
      }
      this.#offset += n;
      this.#first += n;
      if (this.#offset >= 1024 && this.#offset * 2 >= this.#entries.length) {
        this.#entries = this.#entries.slice(this.#offset);
        this.#offset = 0;
      }
      return Promise.resolve({ removed: n, firstRetained: this.#first });
    });
  }

  stats(): Promise<JournalStats> {
    return rejecting(() => {
      this.#open();
      const head = this.#head;
      return Promise.resolve({
        head,
        first: this.#first,
        entries: this.#entries.length - this.#offset,
        bytes: this.#bytes,
        consumers: [...this.#checkpoints].map(([consumer, position]) => ({
          consumer,
          position,
          lag: head - position,
        })),
      });
    });
  }

  acquire(consumer: string): Promise<ConsumerHold> {
    return rejecting(() => {
      this.#open();
      checkConsumer(consumer);
      const holder = this.#holders.get(consumer);
      if (holder !== undefined) throw new JournalLockedError('a memory journal', consumer, holder);
      const mine = { pid: process.pid, host: hostname(), since: Date.now() };
      this.#holders.set(consumer, mine);
      return Promise.resolve({
        consumer,
        release: () => {
          if (this.#holders.get(consumer) === mine) this.#holders.delete(consumer);
          return Promise.resolve();
        },
      });
    });
  }

  deadLetters(): DeadLetterStore {
    return this.#deadLetters;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#waiters.releaseAll();
    return Promise.resolve();
  }

  #open(): void {
    if (this.#closed) throw new ClosedError('journal is closed');
  }
}
