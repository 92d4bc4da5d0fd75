/**
 * `sluice dashboard <journal>`: the live page for a journal another process is working on: a
 * journal file, or a cluster journal named by its postgres:// URL (which adds the cluster
 * panel: nodes, partitions, lag per partition).
 */
import { journalSource, type WatchedJournal } from '../dashboard/source.js';
import { startDashboard } from '../dashboard/server.js';
import { isPostgresUrl, openClusterJournal } from './cluster-journal.js';
import { openJournalFile } from './journal-file.js';

async function openWatched(
  target: string,
  schema: string,
): Promise<{ journal: WatchedJournal & { close(): Promise<void> }; title: string }> {
  if (!isPostgresUrl(target)) {
    return { journal: await openJournalFile(target), title: `journal ${target}` };
  }
  const { journal, shown } = await openClusterJournal(target, schema, 'sluice dashboard');
  return { journal, title: `cluster journal ${shown}, schema ${schema}` };
}

export async function dashboard(
  target: string,
  options: { port: number; host: string; token?: string; consumer: string; schema: string },
): Promise<number> {
  const { journal, title } = await openWatched(target, options.schema);
  try {
    const server = await startDashboard({
      source: await journalSource(journal, title, options.consumer),
      port: options.port,
      host: options.host,
      ...(options.token === undefined ? {} : { token: options.token }),
    });
    // Listen before saying where: a Ctrl-C right after the line must find the handler.
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    process.stdout.write(`dashboard ${server.url} watching ${title} (Ctrl-C to stop)\n`);
    await stopped;
    await server.close();
    return 0;
  } finally {
    await journal.close();
  }
}
