/**
 * README.md's TypeScript blocks compile against the built package, as an application's
 * code: the package's declarations are emitted into a scratch `node_modules/sluice` beside
 * its package.json (so `sluice/postgres` and the rest resolve through `exports`), and every
 * ```ts block becomes a module of its own, all compiled in one program with the settings of
 * a Node 20 application (those of `@tsconfig/node20`: `strict`, `module: nodenext`, ES2023,
 * `@types/node`) and `skipLibCheck: false`, so the published declarations are checked too.
 * A block that cannot be a complete program is preceded by `<!-- not compiled: why -->`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { tempDir } from './helpers/temp.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** A fenced ```ts block: its code, the README line its first code line is on, and why not compiled. */
interface Block {
  readonly line: number;
  readonly code: string;
  readonly skip: string | undefined;
}

const FENCE = /^(`{3,}|~{3,})\s*([\w-]*)/;
const SKIP = /^<!--\s*not compiled:\s*(.+?)\s*-->$/;

function tsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] as string);
    if (open === null) continue;
    const [, fence = '', lang = ''] = open;
    const start = i + 1;
    for (i = start; i < lines.length && !(lines[i] as string).startsWith(fence); i++);
    if (lang !== 'ts' && lang !== 'typescript') continue;
    let before = start - 2;
    while (before >= 0 && (lines[before] as string).trim() === '') before--;
    blocks.push({
      line: start + 1,
      code: lines.slice(start, i).join('\n'),
      skip: SKIP.exec((lines[before] ?? '').trim())?.[1],
    });
  }
  return blocks;
}

/** The package's declarations, emitted from src as `npm run build` does, into `outDir`. */
function emitDeclarations(outDir: string): void {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(root, 'tsconfig.build.json'),
    { outDir, emitDeclarationOnly: true, declarationMap: false, sourceMap: false },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  assert.ok(parsed !== undefined, 'tsconfig.build.json');
  const emitted = ts.createProgram(parsed.fileNames, parsed.options).emit();
  assert.equal(emitted.emitSkipped, false, 'the declarations were not emitted');
  assert.deepEqual(emitted.diagnostics.map(describe), [], 'declaration emit');
}

/**
 * `<dir>/node_modules` as an application's: sluice (its package.json and declarations), and
 * the packages its declarations and the blocks import (pg, better-sqlite3, @types/...),
 * linked from this repository's.
 */
function installPackage(dir: string): void {
  const modules = join(dir, 'node_modules');
  const own = join(modules, 'sluice');
  mkdirSync(own, { recursive: true });
  copyFileSync(join(root, 'package.json'), join(own, 'package.json'));
  emitDeclarations(join(own, 'dist'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.') || name === 'sluice') continue;
    symlinkSync(join(root, 'node_modules', name), join(modules, name));
  }
}

function describe(d: ts.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
  if (d.file === undefined || d.start === undefined) return `TS${d.code}: ${text}`;
  const { line } = d.file.getLineAndCharacterOfPosition(d.start);
  return `${d.file.fileName}:${line + 1}: TS${d.code}: ${text}`;
}

test('tsBlocks() finds the ts blocks, where their code starts, and why one is not compiled', () => {
  const markdown = [
    '# title', // 1
    '```ts', // 2
    'const a = 1;', // 3
    '```', // 4
    '```sh', // 5
    'npm start', // 6
    '```', // 7
    '<!-- not compiled: needs a file -->', // 8
    '', // 9
    '````typescript', // 10
    '```', // 11
    '````', // 12
  ].join('\n');
  assert.deepEqual(tsBlocks(markdown), [
    { line: 3, code: 'const a = 1;', skip: undefined },
    { line: 11, code: '```', skip: 'needs a file' },
  ]);
});

test('README.md: every ```ts block compiles against the built package', () => {
  const blocks = tsBlocks(readFileSync(join(root, 'README.md'), 'utf8'));
  const compiled = blocks.filter((b) => b.skip === undefined);
  assert.ok(compiled.length >= 5, `found only ${compiled.length} ts blocks in README.md`);

  const dir = tempDir('sluice-readme-');
  installPackage(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const files = new Map<string, Block>();
  for (const block of compiled) {
    const file = join(dir, `readme-line-${block.line}.ts`);
    // `export {}` keeps a block without imports a module (top-level await, own scope).
    writeFileSync(file, `${block.code}\nexport {};\n`);
    files.set(file, block);
  }

  const program = ts.createProgram([...files.keys()], {
    strict: true,
    skipLibCheck: false,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    noEmit: true,
  });
  const resolved = program.getSourceFile(join(dir, 'node_modules/sluice/dist/index.d.ts'));
  assert.ok(resolved !== undefined, "'sluice' did not resolve to the built package");

  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const block = d.file === undefined ? undefined : files.get(d.file.fileName);
    if (block === undefined || d.start === undefined) {
      return describe(d).replace(`${dir}/`, '');
    }
    const { line } = (d.file as ts.SourceFile).getLineAndCharacterOfPosition(d.start);
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    return `README.md:${block.line + line}: TS${d.code}: ${text}`;
  });
  assert.deepEqual(problems, []);
});
