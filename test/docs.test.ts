/**
 * The API reference's check, as `npm run docs:check` runs it (typedoc.json): every public
 * export has a doc comment, every `{@link}` resolves, nothing public refers to a type that
 * is not exported; and every subpath of package.json "exports" is one module of the
 * reference, named as it is imported (`sluice/sqlite`), so a new entry point cannot be left
 * out. TypeDoc reads the sources only; nothing is written.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  Application,
  Logger,
  LogLevel,
  ReflectionKind,
  TSConfigReader,
  TypeDocReader,
  type ProjectReflection,
} from 'typedoc';

const root = fileURLToPath(new URL('..', import.meta.url));
// TypeDoc takes its entry points from the package.json of the working directory.
process.chdir(root);

/** Keeps what TypeDoc reports instead of printing it: errors, and validation warnings. */
class Recorder extends Logger {
  readonly errors: string[] = [];
  readonly validation: string[] = [];
  #counted = 0;

  override log(message: string, level: LogLevel): void {
    super.log(message, level);
    if (level === LogLevel.Error) this.errors.push(message);
    // validationWarning() counts, then logs a warning: a count ahead of ours marks one.
    else if (level === LogLevel.Warn && this.validationWarningCount > this.#counted) {
      this.#counted = this.validationWarningCount;
      this.validation.push(message);
    }
  }
}

const recorder = new Recorder();
let project: ProjectReflection;

before(async () => {
  const app = await Application.bootstrapWithPlugins({ emit: 'none' }, [
    new TypeDocReader(),
    new TSConfigReader(),
  ]);
  assert.equal(app.logger.errorCount, 0, 'typedoc.json or tsconfig.build.json was refused');
  app.logger = recorder;
  const converted = await app.convert();
  assert.ok(converted !== undefined, `TypeDoc could not convert:\n${recorder.errors.join('\n')}`);
  app.validate(converted);
  project = converted;
});

test('every public export is documented, every link resolves, nothing is left unexported', () => {
  assert.deepEqual(recorder.errors, []);
  const problems = recorder.validation;
  assert.equal(
    problems.length,
    0,
    `${problems.length} problem(s) in the API reference (see typedoc.json):\n` +
      problems.map((p) => `  ${p}`).join('\n'),
  );
});

test('each package.json "exports" subpath is one module of the reference', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    name: string;
    exports: Record<string, unknown>;
  };
  const expected = Object.entries(pkg.exports)
    .filter(([, target]) => typeof target === 'object' && target !== null && 'types' in target)
    .map(([subpath]) => (subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`))
    .sort();
  const modules = project.getChildrenByKind(ReflectionKind.Module).map((m) => m.name);
  assert.deepEqual(
    modules.sort(),
    expected,
    'an export with no module found no source file (its "types" must map to src/ through ' +
      'tsconfig.build.json); a module named by its path needs `@module <import specifier>` ' +
      'at the end of its entry file’s first comment',
  );
});
