/** `sluice dashboard <journal>`: the live page for a journal another process is working on. */
import { journalSource } from '../dashboard/source.js';
import { startDashboard } from '../dashboard/server.js';
import { openJournalFile } from './journal-file.js';

export async function dashboard(
  path: string,
  options: { port: number; host: string; token?: string; consumer: string },
): Promise<number> {
  const journal = await openJournalFile(path);
  try {
    const server = await startDashboard({
      source: await journalSource(journal, `journal ${path}`, options.consumer),
      port: options.port,
      host: options.host,
      ...(options.token === undefined ? {} : { token: options.token }),
    });
    // Listen before saying where: a Ctrl-C right after the line must find the handler.
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    process.stdout.write(`dashboard ${server.url} watching ${path} (Ctrl-C to stop)\n`);
    await stopped;
    await server.close();
    return 0;
  } finally {
    await journal.close();
  }
}
