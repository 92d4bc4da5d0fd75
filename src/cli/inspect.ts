/** `sluice inspect <journal>`: what a journal holds and how far its consumers are. */
import { SCHEMA_VERSION } from '../adapters/sqlite/index.js';
import { bytes, count, table } from './format.js';
import { openJournalFile } from './journal-file.js';

export interface InspectReport {
  path: string;
  schemaVersion: number;
  head: number;
  first: number;
  entries: number;
  bytes: number;
  consumers: { consumer: string; position: number; lag: number }[];
  /** Retained entries past the lowest checkpoint: not yet handled by every consumer. */
  backlog: number;
  deadLetters: number;
}

export async function inspect(path: string, options: { json: boolean }): Promise<number> {
  const journal = await openJournalFile(path);
  try {
    const stats = await journal.stats();
    const lowest = Math.min(...stats.consumers.map((c) => c.position), stats.head);
    const report: InspectReport = {
      path,
      schemaVersion: SCHEMA_VERSION,
      head: stats.head,
      first: stats.first,
      entries: stats.entries,
      bytes: stats.bytes,
      consumers: stats.consumers.map((c) => ({ ...c })),
      backlog:
        stats.consumers.length === 0 ? stats.entries : Math.min(stats.entries, stats.head - lowest),
      deadLetters: await journal.deadLetters().count(),
    };
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return 0;
    }
    const consumers =
      report.consumers.length === 0
        ? [['consumers', 'none yet'] as const]
        : report.consumers.map(
            (c, i) =>
              [
                i === 0 ? 'consumers' : '',
                `${c.consumer}: checkpoint ${count(c.position)}, lag ${count(c.lag)}`,
              ] as const,
          );
    process.stdout.write(
      table([
        ['journal', `${path} (sluice journal, schema v${report.schemaVersion})`],
        ['head', count(report.head)],
        [
          'retained',
          report.entries === 0
            ? '0 entries'
            : `${count(report.entries)} entries (positions ${count(report.first)}–${count(report.head)})`,
        ],
        ['size', bytes(report.bytes)],
        ...consumers,
        ['backlog', `${count(report.backlog)} (entries past the lowest checkpoint)`],
        ['dead letters', count(report.deadLetters)],
      ]) + '\n',
    );
    return 0;
  } finally {
    await journal.close();
  }
}
