/**
 * Runs the real `sluice` command in a child process (from source, through tsx: the same
 * entry point `npm run build` compiles to the package's bin).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its output is closed. */
  readonly done: Promise<CliResult>;
  /** Resolves with the match once stdout (so far or later) matches `pattern`. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

export function startSluice(args: readonly string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, SLUICE_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    for (const check of watchers) check();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    done,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = stdout.match(pattern);
          if (m !== null) {
            watchers.delete(check);
            resolve(m);
          }
        };
        watchers.add(check);
        check();
        void done.then((r) => {
          if (watchers.delete(check)) {
            reject(
              new Error(
                `exited (${r.code ?? r.signal}) before printing ${pattern}:\n${r.stdout}${r.stderr}`,
              ),
            );
          }
        });
      }),
  };
}

export function sluice(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return startSluice(args, env).done;
}
