// Builds dist-bin/krill: one executable file with Node and krill inside (Node's single executable
// applications, https://nodejs.org/api/single-executable-applications.html), for CI images without
// Node. Steps: bundle dist/ into one CommonJS file (esbuild), turn it into a SEA blob (node
// --experimental-sea-config), copy this node binary and inject the blob (postject).
// The Kubernetes client library and the SQLite ledger are left out (the npm package has them).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'postject';
import { bundleCli } from './bundle-cli.mjs';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist-bin');
const work = join(out, '.work');
mkdirSync(work, { recursive: true });
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const bundle = join(work, 'krill.cjs');
// The binary's ledger is PostgreSQL, whose pure-JS client is bundled; SQLite's native module cannot
// live in one file.
await bundleCli({ format: 'cjs', outfile: bundle });

const config = join(work, 'sea-config.json');
const blob = join(work, 'krill.blob');
writeFileSync(
  config,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'inherit' });

const binary = join(out, 'krill');
copyFileSync(process.execPath, binary);
chmodSync(binary, 0o755);
await inject(binary, 'NODE_SEA_BLOB', readFileSync(blob), {
  sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
});
console.log(`built ${binary} (${(statSync(binary).size / 2 ** 20).toFixed(1)} MiB, krill ${version})`);
