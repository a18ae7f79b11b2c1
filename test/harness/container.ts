import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  cpSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Container helpers for the image tests. No base image can be pulled on these machines, so the test
 * base is this machine's own Node 20 (node, npm, a shell, a few coreutils and the CA bundle, with the shared
 * libraries they need) imported as a one-layer image with `podman import`; the Dockerfile's default
 * stays the official image. Containers run with runc and explicit ulimits: in this sandbox crun
 * cannot drop cgroup controllers, and raising RLIMIT_NOFILE/NPROC is not permitted.
 */

export const BASE_IMAGE = 'localhost/krill-test-node:20';

/** Flags every `podman run`/`podman build` here needs. */
export function podmanFlags(): string[] {
  const nofile = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return ['--runtime', 'runc', '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', 'nproc=4096:4096'];
}

function libraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...out.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((m) => m[1]!);
}

/** Builds BASE_IMAGE from this machine's node and npm (idempotent: reuses an existing image). */
export function ensureBaseImage(): void {
  if (spawnSync('podman', ['image', 'exists', BASE_IMAGE]).status === 0) return;
  const root = mkdtempSync(join(tmpdir(), 'krill-rootfs-'));
  try {
    const node = execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();
    // What node:20-slim offers that the Dockerfile and GitLab's job shell use.
    const binaries = [
      node,
      '/usr/bin/dash',
      ...['env', 'ln', 'mkdir', 'cat', 'ls', 'rm', 'cp'].map((b) => `/usr/bin/${b}`),
    ];
    for (const file of [...binaries, ...binaries.flatMap(libraries)]) {
      mkdirSync(join(root, dirname(file)), { recursive: true });
      copyFileSync(file, join(root, file));
    }
    if (node !== '/usr/bin/node') symlinkSync(node, join(root, 'usr/bin/node'));
    mkdirSync(join(root, 'bin'), { recursive: true });
    symlinkSync('/usr/bin/dash', join(root, 'bin/sh'));
    const npmCli = readlinkSync('/usr/bin/npm'); // ../lib/node_modules/npm/bin/npm-cli.js
    const npmDir = join('/usr/bin', npmCli, '../..');
    cpSync(npmDir, join(root, 'usr/lib/node_modules/npm'), { recursive: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/bin/npm'));
    mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true });
    copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(root, 'etc/ssl/certs/ca-certificates.crt'));
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
    mkdirSync(join(root, 'tmp'), { recursive: true, mode: 0o1777 });
    mkdirSync(join(root, 'root'), { recursive: true });
    const tar = join(root, '..', `${root.split('/').at(-1)}.tar`);
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    execFileSync('podman', ['import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', tar, BASE_IMAGE], {
      stdio: 'pipe',
    });
    rmSync(tar, { force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
