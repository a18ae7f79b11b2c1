#!/usr/bin/env node
// `npm run install:global` in a clone: builds, packs and installs the `krill` command globally from
// the tarball `npm pack` made — the same files the npm package will hold — until krill-registry is
// published. `npm uninstall --global krill-registry` removes it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const dir = mkdtempSync(join(tmpdir(), 'krill-pack-'));
try {
  const packed = JSON.parse(
    execFileSync(npm, ['pack', '--json', '--pack-destination', dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const tarball = join(dir, packed[0].filename);
  execFileSync(npm, ['install', '--global', '--no-audit', '--no-fund', tarball], { stdio: 'inherit' });
  console.log(`krill installed: ${execFileSync(npm, ['prefix', '--global'], { encoding: 'utf8' }).trim()}/bin/krill`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
