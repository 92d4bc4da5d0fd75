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
  /** Retained entries read (decodable or not). */
  read: number;
  /** Entries whose payload could not be decoded. */
  undecodable: { position: number; error: string }[];
  /** Ranges of positions that could not be read at all (damaged pages), and why. */
  unreadable: { from: number; to: number; error: string }[];
}

async function readable(journal: SqliteJournal, after: number): Promise<boolean> {
  try {
    await journal.read(after, { limit: 1 });
    return true;
  } catch {
    return false; // still inside the damage: the caller probes further
  }
}

/**
 * Every page checked by SQLite, then every retained entry read and decoded; past a range
 * that cannot be read, reading goes on where it can.
 */
async function check(journal: SqliteJournal): Promise<CheckReport> {
  let integrity: string[];
  try {
    integrity = (
      journal.database.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]
    ).map((r) => r.integrity_check);
  } catch (error) {
    integrity = [String(error)];
  }
  const report: CheckReport = { ok: true, integrity, read: 0, undecodable: [], unreadable: [] };
  const { head } = await journal.stats();
  let after = 0;
  while (after < head) {
    let entries;
    try {
      entries = await journal.read(after, { limit: 1000, maxBytes: 16 * 1024 * 1024 });
    } catch (error) {
      // A damaged page: find where reading works again, probing further each time.
      const why = error instanceof Error ? error.message : String(error);
      let skip = 1;
      while (after + skip < head && !(await readable(journal, after + skip))) skip *= 2;
      report.unreadable.push({ from: after + 1, to: Math.min(after + skip, head), error: why });
      after += skip;
      continue;
    }
    if (entries.length === 0) break;
    for (const e of entries) {
      report.read++;
      if (e.undecodable !== undefined) {
        report.undecodable.push({ position: e.position, error: e.undecodable.error });
      }
      after = e.position;
    }
  }
  report.ok =
    integrity.length === 1 &&
    integrity[0] === 'ok' &&
    report.undecodable.length === 0 &&
    report.unreadable.length === 0;
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
      c.undecodable.length === 0 && c.unreadable.length === 0
        ? `${count(c.read)} read, all decoded`
        : `${count(c.read)} read, ${count(c.undecodable.length)} UNDECODABLE, ${count(c.unreadable.length)} unreadable range(s)`,
    ],
  ];
  for (const u of c.undecodable.slice(0, 20))
    lines.push(['', `position ${count(u.position)}: ${u.error}`]);
  if (c.undecodable.length > 20) lines.push(['', `(+${count(c.undecodable.length - 20)} more)`]);
  for (const r of c.unreadable.slice(0, 20)) {
    lines.push(['', `positions ${count(r.from)}–${count(r.to)} UNREADABLE: ${r.error}`]);
  }
  lines.push(['check', c.ok ? 'OK' : 'FAILED: the journal is damaged']);
  return lines;
}
