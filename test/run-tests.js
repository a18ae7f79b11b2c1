// Builds, runs the whole vitest suite, and ends with one line "N passed, N failed" so that a run
// which executed no test is visible in CI logs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';

const out = '.test-output/results.json';
mkdirSync('.test-output', { recursive: true });
rmSync(out, { force: true });
const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.log('0 passed, 1 failed (build failed)');
  process.exit(1);
}
const args = [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${out}`,
  ...process.argv.slice(2),
];
const run = spawnSync('npx', args, { stdio: 'inherit' });
let passed = 0;
let failed = 0;
if (existsSync(out)) {
  const results = JSON.parse(readFileSync(out, 'utf8'));
  passed = results.numPassedTests;
  failed =
    results.numFailedTests +
    (results.numRuntimeErrorTestSuites ?? 0) +
    (results.numFailedTestSuites && results.numFailedTests === 0 ? results.numFailedTestSuites : 0);
} else {
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
