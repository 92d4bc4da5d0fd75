/**
 * The package as a user receives it: `npm pack` of a copy of the sources (its prepack script
 * cleans and builds dist/ there), installed into a scratch app in a temporary folder, then reached the ways a user
 * reaches it: import, require, a strict type check of the published declarations with
 * skipLibCheck off, and the `sluice` command through npx.
 *
 * npm installs the tarball and its own dependencies, nothing else: of the optional peers
 * only pg is present (linked from this repository with @types/pg, as every TypeScript user
 * of `sluice/postgres` has them), so what passes here works for a user who installed sluice
 * alone. TypeScript and @types/node are linked from this repository for the type check.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ROOT } from './helpers/cli.js';
import { tempDir } from './helpers/temp.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a failure is a result to assert on, not a throw. */
function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}${r.stderr}`);
}

interface Manifest {
  version: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest;
const dir = tempDir('sluice-package-');
const app = join(dir, 'app');
/** Paths in the tarball, relative to the package root. */
let packed: string[] = [];

/** Links a package from this repository's node_modules into the scratch app. */
function link(name: string): void {
  const target = join(app, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', name), target, 'dir');
}

/**
 * `sluice` through npx. `--yes=false` so that npx never installs a same-named package from
 * the registry; not `--no`, after which npm 11 answers `--version` with its own version.
 */
const npxSluice = (...args: string[]): Promise<Run> =>
  run('npx', ['--yes=false', 'sluice', ...args], app);

describe('the packed package', { timeout: 180_000 }, () => {
  before(
    async () => {
      // Packed from a copy of the sources, so that the build it runs (prepack) never
      // touches this repository's dist/ while other tests may read it.
      const stage = join(dir, 'stage');
      mkdirSync(stage);
      for (const file of [
        'package.json',
        'README.md',
        'LICENSE',
        'tsconfig.json',
        'tsconfig.build.json',
      ]) {
        copyFileSync(join(ROOT, file), join(stage, file));
      }
      cpSync(join(ROOT, 'src'), join(stage, 'src'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
      const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], stage);
      ok(pack, 'npm pack');
      const [result] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
      packed = result.files.map((f) => f.path);
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }),
      );
      const install = await run(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--no-package-lock',
          '--prefer-offline',
          join(dir, result.filename),
        ],
        app,
      );
      ok(install, 'npm install');
      for (const name of ['typescript', '@types/node', 'pg', '@types/pg']) link(name);
    },
    { timeout: 120_000 },
  );

  test('npm pack ships dist/ (JavaScript and declarations), README, LICENSE and package.json only', () => {
    for (const path of ['LICENSE', 'README.md', 'package.json', 'dist/index.js']) {
      assert.ok(packed.includes(path), `${path} is packed`);
    }
    const stray = packed.filter(
      (p) =>
        !/^dist\/.+(?<!\.test)\.(js|d\.ts)$/.test(p) &&
        !/^(LICENSE|README\.md|package\.json)$/.test(p),
    );
    assert.deepEqual(stray, [], 'no tests, benchmarks, sources or source maps');
  });

  test('every export, its types and the bin are in the tarball; sluice/package.json is exported', () => {
    assert.equal(manifest.exports['./package.json'], './package.json');
    const targets = Object.values(manifest.exports).flatMap((t) =>
      typeof t === 'string' ? [t] : Object.values(t),
    );
    for (const target of [...targets, ...Object.values(manifest.bin)]) {
      assert.ok(packed.includes(target.replace(/^\.\//, '')), `${target} is packed`);
    }
  });

  test("import { WriteBehind } from 'sluice' works in an ES module", async () => {
    writeFileSync(
      join(app, 'esm.mjs'),
      [
        "import { WriteBehind } from 'sluice';",
        "import { checkRegion } from 'sluice/backend';",
        "import { startDashboard } from 'sluice/dashboard';",
        'console.log(typeof WriteBehind, typeof checkRegion, typeof startDashboard);',
      ].join('\n'),
    );
    const r = await run(process.execPath, ['esm.mjs'], app);
    ok(r, 'esm.mjs');
    assert.equal(r.stdout.trim(), 'function function function');
  });

  test(
    "require('sluice') works in a CommonJS module",
    {
      skip:
        process.features.require_module !== true &&
        'require() of an ES module needs Node >= 20.19 or >= 22.12',
    },
    async () => {
      writeFileSync(
        join(app, 'cjs.cjs'),
        [
          "const { WriteBehind } = require('sluice');",
          "const { version } = require('sluice/package.json');",
          'console.log(typeof WriteBehind, version);',
        ].join('\n'),
      );
      const r = await run(process.execPath, ['cjs.cjs'], app);
      ok(r, 'cjs.cjs');
      assert.equal(r.stdout.trim(), `function ${manifest.version}`);
    },
  );

  test('the published declarations type-check strictly, skipLibCheck off, module nodenext', async () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          strict: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        files: ['app.ts', 'app.cts'],
      }),
    );
    writeFileSync(
      join(app, 'app.ts'),
      [
        "import { WriteBehind, MemoryJournal } from 'sluice';",
        "import { SqliteJournal, sqliteSink } from 'sluice/sqlite';",
        "import { postgresSink } from 'sluice/postgres';",
        "import { checkRegion } from 'sluice/backend';",
        'export const values = [WriteBehind, SqliteJournal, sqliteSink, postgresSink, checkRegion];',
        'export const journal: MemoryJournal = new MemoryJournal();',
      ].join('\n'),
    );
    writeFileSync(
      join(app, 'app.cts'),
      ["import { WriteBehind } from 'sluice';", 'export const value = WriteBehind;'].join('\n'),
    );
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    ok(await run(process.execPath, [tsc, '-p', '.'], app), 'tsc');
  });

  test('an optional peer that is not installed is a MissingDependencyError naming it; SQLite needs none from Node 22.16', async () => {
    writeFileSync(
      join(app, 'peers.mjs'),
      `import { MissingDependencyError } from 'sluice';
      const out = {};
      const why = (e) => (e instanceof MissingDependencyError ? e.message : 'other: ' + String(e));
      for (const spec of ['sluice/prometheus', 'sluice/otel']) {
        try {
          await import(spec);
          out[spec] = 'loaded';
        } catch (e) {
          out[spec] = why(e);
        }
      }
      const { mysqlSink } = await import('sluice/mysql');
      try {
        const table = { table: 't', columns: ['a'], mode: 'upsert', conflict: ['a'] };
        await mysqlSink({ uri: 'mysql://root@127.0.0.1:1/test', ...table });
        out.mysql = 'opened';
      } catch (e) {
        out.mysql = why(e);
      }
      const { SqliteJournal } = await import('sluice/sqlite');
      try {
        const journal = await SqliteJournal.open('./peers/journal.db');
        await journal.append([{ key: 'k', payload: 1 }]);
        await journal.close();
        out.sqlite = 'works';
      } catch (e) {
        out.sqlite = why(e);
      }
      console.log(JSON.stringify(out));`,
    );
    const r = await run(process.execPath, ['peers.mjs'], app);
    ok(r, 'peers.mjs');
    const out = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(
      out['sluice/prometheus'],
      'sluice/prometheus needs the prom-client package: npm install prom-client',
    );
    assert.equal(
      out['sluice/otel'],
      'sluice/otel needs the @opentelemetry/api package: npm install @opentelemetry/api',
    );
    assert.equal(out['mysql'], 'mysqlSink() needs the mysql2 package: npm install mysql2');
    const major = Number(process.versions.node.split('.')[0]);
    if (major >= 22)
      assert.equal(out['sqlite'], 'works'); // node:sqlite
    else
      assert.match(
        out['sqlite'] ?? '',
        /the better-sqlite3 package on Node\.js .*: npm install better-sqlite3/,
      );
  });

  test('npx sluice --help prints the usage', async () => {
    assert.ok(existsSync(join(app, 'node_modules', '.bin', 'sluice')), 'the bin is linked');
    const r = await npxSluice('--help');
    ok(r, 'sluice --help');
    assert.match(r.stdout, /^Usage: sluice /);
    assert.match(r.stdout, /\bdemo\b/);
  });

  test('npx sluice --version and -V print the version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await npxSluice(flag);
      ok(r, `sluice ${flag}`);
      assert.equal(r.stdout.trim(), manifest.version);
    }
  });
});
