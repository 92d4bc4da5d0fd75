#!/usr/bin/env node
/**
 * The `sluice` command. Each subcommand lives in its own file; this one only declares the
 * arguments. Every failure ends in one line on stderr and a non-zero exit (fail.ts).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { dashboard } from './dashboard.js';
import { demo } from './demo.js';
import { dlqList, dlqPurge, dlqReplay } from './dlq.js';
import { positiveInteger, run, UsageError } from './fail.js';
import { inspect } from './inspect.js';
import { inspectCluster } from './inspect-cluster.js';
import { isPostgresUrl } from './cluster-journal.js';
import { DEFAULT_HOST, DEFAULT_PORT, isLoopback } from '../dashboard/server.js';
import { DEFAULT_CONSUMER } from '../index.js';
import type { DemoNodeConfig } from './demo-node.js';

/** Refuses, before anything starts, a dashboard anyone on the network could read. */
function checkHost(host: string, token: string | undefined): void {
  if (!isLoopback(host) && token === undefined) {
    throw new UsageError(
      `--host ${host} listens beyond loopback: set --token (or SLUICE_DASHBOARD_TOKEN) so that only those who have it see the data`,
    );
  }
}

/** The package's own version: package.json is two folders up from src/cli and dist/cli. */
const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

const program = new Command('sluice')
  .description('Durable write-behind: journal every write at once, then batch it into your store.')
  .version(version, '-V, --version', 'print the version of sluice')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({
    writeErr: (s) => process.stderr.write(s.startsWith('error: ') ? `sluice: ${s.slice(7)}` : s),
  });

const portOption = (): Option =>
  new Option('--port <port>', 'port to listen on (0: any free port)').default(String(DEFAULT_PORT));
const hostOption = (): Option =>
  new Option('--host <host>', 'address to listen on; beyond loopback needs --token').default(
    DEFAULT_HOST,
  );
const tokenOption = (): Option =>
  new Option('--token <token>', 'required on every request (Bearer header or ?token=)').env(
    'SLUICE_DASHBOARD_TOKEN',
  );

/** `--writes` when not given: a cluster run stays short (its crash takeover is the point). */
const DEMO_WRITES = 200_000;
const CLUSTER_DEMO_WRITES = 100_000;
/** Options of the single-process demo that a cluster run has no use for. */
const NOT_WITH_JOURNAL = ['memory', 'resume', 'dashboard'];
/** Options only a cluster run takes. */
const ONLY_WITH_JOURNAL = ['nodes', 'schema', 'leaseMs'];

const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

program
  .command('demo')
  .description(
    'write N messages from simulated accounts through a durable SQLite journal into a table, then verify them; ' +
      'with --journal postgres://..., on a cluster of node processes sharing a PostgreSQL journal',
  )
  .option(
    '--writes <n>',
    `messages to write (default: ${DEMO_WRITES}; ${CLUSTER_DEMO_WRITES} with --journal)`,
  )
  .option('--keys <n>', 'simulated accounts (per-account order is checked)', '2000')
  .option(
    '--dir <path>',
    "a folder of its own for the journal, the SQLite table and the resume state (with --journal: the nodes' ack logs)",
    'sluice-demo',
  )
  .option(
    '--sink <url>',
    "write into PostgreSQL at this postgres:// URL instead of SQLite (with --journal: the database of the table, if not the journal's)",
  )
  .option(
    '--journal <url>',
    'run on a cluster: --nodes processes share a PostgreSQL journal at this postgres:// URL and write into a table beside it; ' +
      'one node is SIGKILLed mid-run and restarted, all are stopped with SIGTERM at the end, and the takeover times are shown',
  )
  .option('--nodes <n>', 'with --journal: node processes (default: 3)')
  .option(
    '--schema <name>',
    'with --journal: the schema of the journal and the table, made afresh for the run (default: sluice_demo)',
  )
  .option(
    '--lease-ms <ms>',
    "with --journal: how long a partition lease lasts without renewal, so how soon a killed node's partitions move (default: 2000)",
  )
  .option('--memory', 'in-memory mode: no journal, nothing survives a crash')
  .option(
    '--kill-after <n>',
    'SIGKILL the process after n acknowledged writes (with --journal: one node, by default after 40% of --writes)',
  )
  .option('--resume', 'recover a killed demo in --dir and finish it')
  .option('--rate <n>', 'hold the average rate to n writes per second')
  .option('--dashboard', 'serve the live dashboard while the demo runs (and after, until Ctrl-C)')
  .addOption(portOption())
  .addOption(hostOption())
  .addOption(tokenOption())
  .addHelpText(
    'after',
    `
Examples:
  sluice demo                                    ${DEMO_WRITES.toLocaleString('en-US')} durable writes into SQLite, verified
  sluice demo --kill-after 50000; sluice demo --resume
                                                 crash mid-run, recover, lose nothing
  sluice demo --journal postgres://127.0.0.1/db  ${CLUSTER_DEMO_WRITES.toLocaleString('en-US')} writes from 3 node processes sharing a
                                                 PostgreSQL journal; one is SIGKILLed mid-run,
                                                 its partitions move, it restarts`,
  )
  .action((o: Record<string, string | boolean | undefined>, command: Command) =>
    run(() => {
      const str = (k: string): string | undefined => o[k] as string | undefined;
      const given = (keys: readonly string[]): string[] =>
        keys.filter((k) => command.getOptionValueSource(k) === 'cli').map(flagOf);
      const journal = str('journal');
      if (journal !== undefined) {
        const refused = given(NOT_WITH_JOURNAL);
        if (refused.length > 0) {
          throw new UsageError(
            `--journal runs the demo on a cluster of node processes: drop ${refused.join(', ')}`,
          );
        }
        return import('./demo-cluster.js').then(({ clusterDemo }) =>
          clusterDemo({
            writes: positiveInteger('--writes', str('writes') ?? String(CLUSTER_DEMO_WRITES)),
            keys: positiveInteger('--keys', str('keys')),
            nodes: positiveInteger('--nodes', str('nodes') ?? '3'),
            journal,
            ...(str('sink') === undefined ? {} : { sink: str('sink') as string }),
            schema: str('schema') ?? 'sluice_demo',
            leaseMs: positiveInteger('--lease-ms', str('leaseMs') ?? '2000', 100),
            dir: str('dir') as string,
            ...(str('killAfter') === undefined
              ? {}
              : { killAfter: positiveInteger('--kill-after', str('killAfter')) }),
            ...(str('rate') === undefined ? {} : { rate: positiveInteger('--rate', str('rate')) }),
          }),
        );
      }
      const clusterOnly = given(ONLY_WITH_JOURNAL);
      if (clusterOnly.length > 0) {
        throw new UsageError(`${clusterOnly.join(', ')} only go with --journal postgres://...`);
      }
      if (o['dashboard'] === true) checkHost(str('host') as string, str('token'));
      if (o['resume'] === true) {
        const flags = given(['writes', 'keys', 'sink', 'memory', 'killAfter']);
        if (flags.length > 0) {
          throw new UsageError(
            `--resume finishes the run in --dir as it was started: drop ${flags.join(', ')}`,
          );
        }
      }
      return demo({
        writes: positiveInteger('--writes', str('writes') ?? String(DEMO_WRITES)),
        keys: positiveInteger('--keys', str('keys')),
        dir: str('dir') as string,
        ...(str('sink') === undefined ? {} : { sink: str('sink') as string }),
        memory: o['memory'] === true,
        ...(str('killAfter') === undefined
          ? {}
          : { killAfter: positiveInteger('--kill-after', str('killAfter')) }),
        resume: o['resume'] === true,
        ...(str('rate') === undefined ? {} : { rate: positiveInteger('--rate', str('rate')) }),
        ...(o['dashboard'] === true
          ? {
              dashboard: {
                port: positiveInteger('--port', str('port'), 0),
                host: str('host') as string,
                ...(str('token') === undefined ? {} : { token: str('token') as string }),
              },
            }
          : {}),
      });
    }),
  );

// A node of the cluster demo, started by it: not a command for people.
program
  .command('demo-node', { hidden: true })
  .argument('<config>', "the node's DemoNodeConfig, as JSON")
  .action(async (config: string) => {
    await run(async () => {
      const { demoNode } = await import('./demo-node.js');
      return demoNode(JSON.parse(config) as DemoNodeConfig);
    });
    // Its pools and listener may hold the event loop open after a failure: go, with the code.
    process.exit();
  });

/** The schema of a cluster journal: only with a postgres:// journal. */
const schemaOption = (): Option =>
  new Option('--schema <name>', 'schema of a postgres:// cluster journal').default('sluice');

/** Refuses options that only mean something for the other kind of journal. */
function checkJournalKind(
  journal: string,
  command: Command,
  clusterOnly: readonly string[],
  fileOnly: readonly string[],
): void {
  const cluster = isPostgresUrl(journal);
  const misplaced = (cluster ? fileOnly : clusterOnly).filter(
    (k) => command.getOptionValueSource(k) === 'cli',
  );
  if (misplaced.length > 0) {
    throw new UsageError(
      `${misplaced.map((k) => `--${k}`).join(', ')} ${misplaced.length === 1 ? 'is' : 'are'} for ${cluster ? 'a journal file' : 'a postgres:// cluster journal'}`,
    );
  }
}

program
  .command('inspect')
  .description(
    'show a journal: head, size, consumers with checkpoint and lag, backlog, dead letters; ' +
      'for a postgres:// cluster journal: nodes, partitions with owner, lease, checkpoint and lag',
  )
  .argument(
    '<journal>',
    'journal file (such as sluice-demo/journal.db), or postgres://... for a cluster journal',
  )
  .option('--json', 'print JSON')
  .option(
    '--check',
    "journal file: also run SQLite's integrity check and decode every retained entry; exit 1 if anything is damaged",
  )
  .addOption(schemaOption())
  .option(
    '--consumer <name>',
    'cluster journal: the consumer whose partitions to show',
    DEFAULT_CONSUMER,
  )
  .action(
    (
      journal: string,
      o: { json?: boolean; check?: boolean; schema: string; consumer: string },
      command: Command,
    ) =>
      run(() => {
        checkJournalKind(journal, command, ['schema', 'consumer'], ['check']);
        return isPostgresUrl(journal)
          ? inspectCluster(journal, {
              schema: o.schema,
              consumer: o.consumer,
              json: o.json === true,
            })
          : inspect(journal, { json: o.json === true, check: o.check === true });
      }),
  );

const dlq = program
  .command('dlq')
  .description('list, replay or purge the dead letters of a journal');
const dlqJournal = 'journal file, or postgres://... for a cluster journal';
dlq
  .command('list')
  .description('list dead letters, oldest first')
  .argument('<journal>', dlqJournal)
  .option('--limit <n>', 'most letters to show', '20')
  .option('--after <id>', 'show letters after this id (paging)', '0')
  .option('--json', 'print JSON')
  .addOption(schemaOption())
  .action(
    (
      journal: string,
      o: { limit: string; after: string; json?: boolean; schema: string },
      command: Command,
    ) =>
      run(() => {
        checkJournalKind(journal, command, ['schema'], []);
        return dlqList(
          { journal, schema: o.schema },
          {
            limit: positiveInteger('--limit', o.limit),
            after: positiveInteger('--after', o.after, 0),
            json: o.json === true,
          },
        );
      }),
  );
dlq
  .command('replay')
  .description('append dead letters to the journal again, so the pipeline retries them')
  .argument('<journal>', dlqJournal)
  .argument('[ids...]', 'dead letter ids')
  .option('--all', 'every dead letter')
  .addOption(schemaOption())
  .action(
    (journal: string, ids: string[], o: { all?: boolean; schema: string }, command: Command) =>
      run(() => {
        checkJournalKind(journal, command, ['schema'], []);
        return dlqReplay({ journal, schema: o.schema }, ids, o.all === true);
      }),
  );
dlq
  .command('purge')
  .description('remove dead letters for good')
  .argument('<journal>', dlqJournal)
  .argument('[ids...]', 'dead letter ids')
  .option('--all', 'every dead letter')
  .addOption(schemaOption())
  .action(
    (journal: string, ids: string[], o: { all?: boolean; schema: string }, command: Command) =>
      run(() => {
        checkJournalKind(journal, command, ['schema'], []);
        return dlqPurge({ journal, schema: o.schema }, ids, o.all === true);
      }),
  );

program
  .command('dashboard')
  .description(
    'serve a live page for a journal: throughput, backlog, lag, dead letters, /metrics; ' +
      'for a postgres:// cluster journal also its nodes and lag per partition',
  )
  .argument('<journal>', 'journal file, or postgres://... for a cluster journal')
  .addOption(portOption())
  .addOption(hostOption())
  .addOption(tokenOption())
  .option('--consumer <name>', 'the checkpoint that counts as "in the sink"', DEFAULT_CONSUMER)
  .addOption(schemaOption())
  .action(
    (
      journal: string,
      o: { port: string; host: string; token?: string; consumer: string; schema: string },
      command: Command,
    ) =>
      run(() => {
        checkJournalKind(journal, command, ['schema'], []);
        checkHost(o.host, o.token);
        return dashboard(journal, {
          port: positiveInteger('--port', o.port, 0),
          host: o.host,
          consumer: o.consumer,
          schema: o.schema,
          ...(o.token === undefined ? {} : { token: o.token }),
        });
      }),
  );

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version exit 0; usage mistakes were already printed with the usage hint.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    throw error;
  }
}
