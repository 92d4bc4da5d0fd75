/**
 * `sluice inspect <journal>`: what a journal holds and how far its consumers are; with
 * `--check`, whether it is whole: SQLite's integrity check over every page, and every
 * retained entry decoded, naming the positions that are damaged.
 */
import { SCHEMA_VERSION, type SqliteJournal } from '../adapters/sqlite/index.js';
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
  /** With `--check`. */
  check?: CheckReport;
}

export interface CheckReport {
  ok: boolean;
  /** What SQLite's integrity_check said ('ok', or the problems it found). */
  integrity: string[];
  /** Retained entries decoded. */
  decoded: number;
  /** Entries whose payload could not be decoded. */
  undecodable: { position: number; error: string }[];
  /** Where reading the entries stopped, if a read failed (a damaged page). */
  readError?: { after: number; error: string };
}

/** Every page checked by SQLite, then every retained entry read and decoded. */
async function check(journal: SqliteJournal): Promise<CheckReport> {
  let integrity: string[];
  try {
    integrity = (
      journal.database.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]
    ).map((r) => r.integrity_check);
  } catch (error) {
    integrity = [String(error)];
  }
  const report: CheckReport = { ok: true, integrity, decoded: 0, undecodable: [] };
  let after = 0;
  try {
    for (;;) {
      const entries = await journal.read(after, { limit: 1000, maxBytes: 16 * 1024 * 1024 });
      if (entries.length === 0) break;
      for (const e of entries) {
        report.decoded++;
        if (e.undecodable !== undefined) {
          report.undecodable.push({ position: e.position, error: e.undecodable.error });
        }
        after = e.position;
      }
    }
  } catch (error) {
    report.readError = { after, error: error instanceof Error ? error.message : String(error) };
  }
  report.ok =
    integrity.length === 1 &&
    integrity[0] === 'ok' &&
    report.undecodable.length === 0 &&
    report.readError === undefined;
  return report;
}

export async function inspect(
  path: string,
  options: { json: boolean; check?: boolean },
): Promise<number> {
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
      ...(options.check === true ? { check: await check(journal) } : {}),
    };
    const status = report.check === undefined || report.check.ok ? 0 : 1;
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return status;
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
        ...(report.check === undefined ? [] : checkLines(report.check)),
      ]) + '\n',
    );
    return status;
  } finally {
    await journal.close();
  }
}

function checkLines(c: CheckReport): (readonly [string, string])[] {
  const lines: (readonly [string, string])[] = [
    [
      'pages',
      c.integrity.length === 1 && c.integrity[0] === 'ok'
        ? 'ok (SQLite integrity_check)'
        : `DAMAGED: ${c.integrity.slice(0, 5).join('; ')}${c.integrity.length > 5 ? ` (+${c.integrity.length - 5} more)` : ''}`,
    ],
    [
      'entries',
      c.undecodable.length === 0
        ? `${count(c.decoded)} decoded, all readable`
        : `${count(c.decoded)} decoded, ${count(c.undecodable.length)} UNDECODABLE`,
    ],
  ];
  for (const u of c.undecodable.slice(0, 20))
    lines.push(['', `position ${count(u.position)}: ${u.error}`]);
  if (c.undecodable.length > 20) lines.push(['', `(+${count(c.undecodable.length - 20)} more)`]);
  if (c.readError !== undefined) {
    lines.push([
      '',
      `reading stopped after position ${count(c.readError.after)}: ${c.readError.error}`,
    ]);
  }
  lines.push(['check', c.ok ? 'OK' : 'FAILED: the journal is damaged']);
  return lines;
}
