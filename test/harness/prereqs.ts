import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Test prerequisites are real programs from Debian packages. When one is missing and we are root
 * with apt, install it; otherwise stop with one line saying what to install.
 */
const NEEDED: Array<{ binary: string; pkg: string }> = [
  { binary: 'docker-registry', pkg: 'docker-registry' },
  { binary: 'htpasswd', pkg: 'apache2-utils' },
  { binary: 'openssl', pkg: 'openssl' },
];

function has(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

export function ensurePrerequisites(extra: Array<{ binary: string; pkg: string }> = []): void {
  const missing = [...NEEDED, ...extra].filter((p) => !has(p.binary));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((m) => m.pkg))];
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !has('apt-get')) {
    throw new Error(
      `missing test prerequisites: install the Debian packages ${pkgs.join(' ')} (apt-get install ${pkgs.join(' ')})`,
    );
  }
  process.stderr.write(`test setup: installing ${pkgs.join(' ')} with apt-get\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env });
}
