#!/usr/bin/env node
// @ts-check
/**
 * Runs an Nx command (`node tools/test-summary.js run-many -t test --parallel=1`, what `npm test`
 * runs), passing its output through as it comes, then closes with one line that adds up every
 * Jest run's `Tests:` summary, which Nx otherwise leaves scattered among the projects' output:
 *
 *   tests: 412 passed, 0 failed
 *
 * The exit code is Nx's. Extra arguments go to Nx (`npm test -- --output-style=static`).
 */
const { spawn } = require('node:child_process');
const { join } = require('node:path');

const nx = join(__dirname, '..', 'node_modules', '.bin', 'nx');
const counts = { passed: 0, failed: 0, skipped: 0, todo: 0 };
let summaries = 0;

/** Reads one Jest summary line, e.g. `Tests:       2 failed, 1 skipped, 40 passed, 43 total`. */
function count(line) {
  const summary = /^\s*Tests:\s+(.*)$/.exec(line.replace(/\x1b\[[0-9;]*m/g, '')); // eslint-disable-line no-control-regex
  if (!summary) return;
  summaries++;
  for (const [, n, word] of summary[1].matchAll(/(\d+) (passed|failed|skipped|todo)/g)) counts[word] += Number(n);
}

/** Passes a stream through unchanged while reading it line by line. */
function watch(from, to) {
  let partial = '';
  from.on('data', (chunk) => {
    to.write(chunk);
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach(count);
  });
  from.on('end', () => count(partial));
}

// Colours survive the pipe when a person is watching.
const env = process.stdout.isTTY && !process.env.NO_COLOR ? { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '1' } : process.env;
const child = spawn(nx, process.argv.slice(2), { env, stdio: ['inherit', 'pipe', 'pipe'] });
watch(child.stdout, process.stdout);
watch(child.stderr, process.stderr);
child.on('error', (error) => {
  console.error(`test-summary: cannot run ${nx}: ${error.message}`);
  process.exit(1);
});
child.on('close', (code, signal) => {
  const skipped = counts.skipped + counts.todo;
  const line = `tests: ${counts.passed} passed, ${counts.failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
  process.stdout.write(`\n${line}${summaries ? '' : ' (no Jest summary seen)'}\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
