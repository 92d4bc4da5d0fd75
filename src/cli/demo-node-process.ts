/**
 * DemoNodeProcess: the cluster demo's handle on one node it started, a child process
 * running the same `sluice` entry point (`sluice demo-node <config>`) with the same Node.js
 * flags as this one, so it works from the built package and from source under tsx alike.
 *
 * It reads the node's JSON lines (NodeLine) as they come: lease events are passed to
 * `onEvent`, the rest kept as the node's latest state. The node's stderr is passed on to
 * this process's, each line prefixed with the node's name.
 *
 * States: starting → ready (its `ready` line) → written (its `written` line) → exited. An
 * exit nobody asked for (`expectExit()` not called) rejects `failed`.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { DemoNodeConfig, NodeLine } from './demo-node.js';
import type { PartitionEvent } from './partition-moves.js';

/** This module's sibling main.ts (from source) or main.js (built). */
const ENTRY = fileURLToPath(
  new URL(`./main${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

export interface NodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class DemoNodeProcess {
  readonly name: string;
  readonly index: number;
  readonly pid: number | undefined;
  /** Resolves at the node's `ready` line: it joined the cluster. */
  readonly ready: Promise<Extract<NodeLine, { type: 'ready' }>>;
  /** Resolves at its `written` line: every write of its share was acknowledged. */
  readonly written: Promise<Extract<NodeLine, { type: 'written' }>>;
  /** Resolves once it has exited and its output is read to the end. */
  readonly exited: Promise<NodeExit>;
  /** Rejects if it exits before `expectExit()`, or cannot be started. */
  readonly failed: Promise<never>;
  /** Writes it acknowledged, by its latest line. */
  acked = 0;
  /** Its `written` line, once printed. */
  finished: Extract<NodeLine, { type: 'written' }> | undefined;
  /** Its `closed` line, once printed. */
  closed: Extract<NodeLine, { type: 'closed' }> | undefined;
  readonly warnings: Extract<NodeLine, { type: 'warning' }>[] = [];
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  #exitExpected = false;
  #lastError = '';

  constructor(config: DemoNodeConfig, onEvent: (event: PartitionEvent) => void) {
    this.name = config.name;
    this.index = config.index;
    this.#child = spawn(
      process.execPath,
      [...process.execArgv, ENTRY, 'demo-node', JSON.stringify(config)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.pid = this.#child.pid;
    this.#child.stdin.on('error', () => {
      // A node that died closed its stdin: its exit is reported by `exited` and `failed`.
    });
    let ready!: (line: Extract<NodeLine, { type: 'ready' }>) => void;
    let written!: (line: Extract<NodeLine, { type: 'written' }>) => void;
    this.ready = new Promise((resolve) => (ready = resolve));
    this.written = new Promise((resolve) => (written = resolve));
    const out = createInterface({ input: this.#child.stdout });
    out.on('line', (text) => {
      let line: NodeLine;
      try {
        line = JSON.parse(text) as NodeLine;
      } catch {
        process.stderr.write(`${this.name}: ${text}\n`);
        return;
      }
      switch (line.type) {
        case 'ready':
          ready(line);
          break;
        case 'event': {
          const { type: _type, ...event } = line;
          onEvent({ ...event, node: this.name });
          break;
        }
        case 'status':
          this.acked = line.acked;
          break;
        case 'written':
          this.acked = line.acked;
          this.finished = line;
          written(line);
          break;
        case 'warning':
          this.warnings.push(line);
          break;
        case 'closed':
          this.closed = line;
          break;
      }
    });
    createInterface({ input: this.#child.stderr }).on('line', (text) => {
      this.#lastError = text;
      process.stderr.write(`${this.name}: ${text}\n`);
    });
    const outputRead = new Promise<void>((resolve) => out.once('close', resolve));
    this.exited = new Promise<NodeExit>((resolve, reject) => {
      this.#child.once('error', reject);
      this.#child.once('close', (code, signal) => {
        void outputRead.then(() => resolve({ code, signal }));
      });
    });
    this.failed = this.exited.then((exit) => {
      if (this.#exitExpected) return new Promise<never>(() => {});
      const how = exit.signal === null ? `code ${exit.code}` : exit.signal;
      const why = this.#lastError === '' ? '' : `: ${this.#lastError}`;
      throw new Error(`${this.name} exited unexpectedly (${how})${why}`);
    });
    // Observed by whoever races it; this keeps an unobserved rejection from ending the demo.
    this.failed.catch(() => {});
  }

  /** Lets it start writing. */
  go(): void {
    this.#child.stdin.write('go\n');
  }

  /** Sends `signal`; the exit that follows is expected. */
  kill(signal: NodeJS.Signals): void {
    this.#exitExpected = true;
    this.#child.kill(signal);
  }
}
