/**
 * A progress display for long commands: one line redrawn in place on a terminal, a plain
 * line every few seconds otherwise (logs and pipes get a readable history, not escapes).
 */
export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  /** Redraw interval on a terminal. @default 100 */
  ttyIntervalMs?: number;
  /** Line interval when not a terminal. @default 2000 */
  plainIntervalMs?: number;
}

export function startProgress(render: () => string, options: ProgressOptions = {}): () => void {
  const stream = options.stream ?? process.stdout;
  const tty = stream.isTTY === true;
  const draw = (): void => {
    if (tty) stream.write(`\r${render()}\x1b[K`);
    else stream.write(`${render()}\n`);
  };
  const timer = setInterval(
    draw,
    tty ? (options.ttyIntervalMs ?? 100) : (options.plainIntervalMs ?? 2000),
  );
  return () => {
    clearInterval(timer);
    draw();
    if (tty) stream.write('\n');
  };
}
