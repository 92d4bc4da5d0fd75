#!/usr/bin/env node
// Runs benchmarks: `npm run bench` runs them all, `npm run bench -- batcher` one of them;
// `--smoke` runs each with tiny sizes (CI does this so benchmarks cannot rot).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
const wanted = args.filter((a) => !a.startsWith('--'));
const all = readdirSync('bench')
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const names = wanted.length > 0 ? wanted : all;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`no benchmark named ${name}; there are: ${all.join(', ')}`);
    process.exit(2);
  }
  const { status } = spawnSync(
    process.execPath,
    ['--import', 'tsx', `bench/${name}.ts`, ...flags],
    {
      stdio: 'inherit',
    },
  );
  if (status !== 0) process.exit(status ?? 1);
}
