#!/usr/bin/env node
// Runs every *.test.ts with node's test runner. The integration tiers need a
// real MariaDB and S3 server: they are started here from the project's own
// scripts, on 127.0.0.1, and stopped at the end whatever the outcome.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SKIP_DIRS = new Set(['node_modules', 'dist', 'data', '.git', '.test-infra', 'web']);

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = findTests('.')
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort();

const { startServices } = await import('../test/infra/services.ts');
const services = await startServices();
let code = 1;
try {
  code = await new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=2', ...files],
      { stdio: 'inherit', env: { ...process.env, ...services.env } },
    );
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
} finally {
  await services.stop();
}
process.exit(code);
