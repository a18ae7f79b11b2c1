// Builds (when src/ changed since the last build), runs one vitest suite, and ends with one line
// "N passed, N failed" so that a run which executed no test is visible in CI logs.
//
//   node test/run-tests.js            the main suite: test/unit and test/e2e (`npm test`)
//   node test/run-tests.js release    the packaging suite: test/release (`npm run test:release`)
//   node test/run-tests.js peers      the Go peers suite (`npm run test:peers`): the e2e suites that
//                                     delete, copy and sync again on distribution 3, and test/peers
//                                     (real clients, a referrers-API registry); needs
//                                     scripts/build-peers.sh
//   node test/run-tests.js browser    krill serve in Debian's Chromium (`npm run test:browser`)
//   node test/run-tests.js total      prints the sum of the suites run so far (CI's last line)
//
// Extra arguments go to vitest (a file filter, -t NAME).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The e2e files that run again against distribution 3 (the registry matrix of the peers suite). */
const ON_DISTRIBUTION_3 = [
  'delete',
  'safety',
  'interrupted',
  'copy',
  'sync',
  'referrers',
  'read-commands',
  'ledger',
].map((name) => `test/e2e/${name}.test.ts`);
const SUITES = {
  main: ['test/unit', 'test/e2e'],
  release: ['test/release'],
  peers: ['test/peers', ...ON_DISTRIBUTION_3],
  browser: ['test/browser'],
};
const outDir = '.test-output';
mkdirSync(outDir, { recursive: true });

const [first, ...rest] = process.argv.slice(2);
if (first === 'total') {
  let passed = 0;
  let failed = 0;
  for (const suite of Object.keys(SUITES)) {
    const file = join(outDir, `counts-${suite}.json`);
    if (!existsSync(file)) continue;
    const counts = JSON.parse(readFileSync(file, 'utf8'));
    passed += counts.passed;
    failed += counts.failed;
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
const suite = first in SUITES ? first : 'main';
const vitestArgs = first in SUITES ? rest : process.argv.slice(2);

/** The newest modification time under a folder (files only). */
function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

// The process-level tests run dist/ through bin/krill.js. `npm ci` (prepare) has just built it in
// CI, so rebuild only when a source is newer than the build (tsc rewrites every output file).
const sources = Math.max(
  newest('src'),
  newest('package.json'),
  newest('tsconfig.json'),
  newest('tsconfig.build.json'),
  newest('scripts/bundle-cli.mjs'),
);
if (!existsSync('dist/index.js') || !existsSync('dist/cli.mjs') || sources > newest('dist')) {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  if (build.status !== 0) {
    console.log('0 passed, 1 failed (build failed)');
    process.exit(1);
  }
}

const out = join(outDir, `results-${suite}.json`);
rmSync(out, { force: true });
// A file filter of the caller's replaces the suite's folders; a flag's value (`-t NAME`) is not one.
const takesValue = (arg = '') => arg.startsWith('-') && !arg.includes('=');
const fileFilter = vitestArgs.some((a, i) => !a.startsWith('-') && !takesValue(vitestArgs[i - 1]));
const filters = fileFilter ? [] : SUITES[suite];
const args = [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${out}`,
  ...filters,
  ...vitestArgs,
];
const env = suite === 'peers' ? { ...process.env, KRILL_TEST_REGISTRY: '3' } : process.env;
const run = spawnSync('npx', args, { stdio: 'inherit', env });
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
writeFileSync(join(outDir, `counts-${suite}.json`), JSON.stringify({ passed, failed }));
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
