import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import { BASE_IMAGE, ensureBaseImage, podmanFlags } from '../harness/container.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// Every way krill ships, installed and run the way its users would: the npm tarball on a prefix
// without devDependencies, the container image (built from a local Node base: nothing can be pulled
// here) and the standalone binary. The release suite (`npm run test:release`): slow (a minute of
// npm install, esbuild and an image build), so not in the inner loop of `npm test`; CI runs both.
const ROOT = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let registry: TestRegistry;
let dir: string;

beforeAll(async () => {
  registry = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), 'krill-ship-'));
  await new Pusher(registry).push('apps/web', buildImage({ layers: ['ship'] }), '1.0.0');
});
afterAll(async () => {
  await registry?.stop();
});

/**
 * npm reads its global config (the machine's CA for a TLS-inspecting proxy, a registry mirror)
 * from PREFIX/etc/npmrc: a job with its own prefix must still find the machine's, as a runner's would.
 */
function npmMachineConfig(): Record<string, string> {
  const globalconfig = spawnSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).stdout.trim();
  return {
    npm_config_globalconfig: globalconfig,
    ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}),
  };
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const res = spawnSync(command, args, { encoding: 'utf8', ...options, maxBuffer: 64 * 1024 * 1024 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('the npm package', () => {
  it('packs a built dist/ and only what it needs; installs without devDependencies and runs', () => {
    const pack = run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
    expect(pack.code, pack.stderr).toBe(0);
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/krill.js', 'dist/cli/main.js', 'dist/index.d.ts', 'LICENSE']));
    expect(files).toEqual(expect.arrayContaining(['README.md', 'CHANGELOG.md', 'package.json']));
    expect(files.filter((f) => !/^(bin|dist)\//.test(f)).sort()).toEqual(
      ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'].sort(),
    );
    expect(files.some((f) => f.endsWith('.map') || f.startsWith('src/') || f.startsWith('test/'))).toBe(false);

    const prefix = join(dir, 'prefix');
    const install = run(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(dir, info!.filename),
      ],
      { cwd: dir },
    );
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(prefix, 'lib/node_modules/krill-registry/node_modules/typescript'))).toBe(false);
    const bin = join(prefix, 'bin/krill');
    expect(run(bin, ['--version']).stdout.trim()).toBe(VERSION);
    const tags = run(bin, ['tags', `${registry.host}/apps/web`, '--json'], { env: isolatedEnv() });
    expect(tags.code, tags.stderr).toBe(0);
    expect((JSON.parse(tags.stdout) as Array<{ tag: string }>).map((r) => r.tag)).toEqual(['1.0.0']);
    // The installed package opens the default ledger: its native SQLite module was built by the install.
    const ledger = run(bin, ['ledger', 'status'], { env: isolatedEnv() });
    expect(ledger.code, ledger.stderr).toBe(0);
    expect(ledger.stdout).toMatch(/^ledger: sqlite:.*ledger\.sqlite\nno events yet/);
  }, 240_000);

  it("the GitLab template's default install (the release tarball, KRILL_PACKAGE) puts krill on the PATH of a job without it", () => {
    // The job's own before_script line, run as the runner would; only the release asset's URL is a
    // local copy of the tarball `npm pack` made (the release does not exist on this machine).
    const template = parse(readFileSync(join(ROOT, 'ci/gitlab/krill-cleanup.yml'), 'utf8')) as {
      variables: Record<string, string>;
      'krill-cleanup': { before_script: string[] };
    };
    expect(template.variables.KRILL_PACKAGE).toBe(
      `https://github.com/krill-registry/krill/releases/download/v${VERSION}/krill-registry-${VERSION}.tgz`,
    );
    const pack = run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
    expect(pack.code, pack.stderr).toBe(0);
    const tarball = join(dir, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]!.filename);
    expect(tarball.endsWith(template.variables.KRILL_PACKAGE!.split('/').at(-1)!)).toBe(true);
    const prefix = join(dir, 'job-prefix');
    const env = {
      ...isolatedEnv(),
      // No krill anywhere on this PATH: `command -v krill` fails and the install runs.
      PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
      NPM_CONFIG_PREFIX: prefix,
      ...npmMachineConfig(),
      ...template.variables,
      KRILL_PACKAGE: tarball,
    };
    expect(run('sh', ['-c', 'command -v krill'], { env }).code).not.toBe(0);
    const script = ['set -e', ...template['krill-cleanup'].before_script, 'krill --version'].join('\n');
    const job = run('sh', ['-c', script], { env, cwd: dir });
    expect(job.code, job.stderr).toBe(0);
    expect(job.stdout.trim().split('\n').at(-1)).toBe(VERSION);
  }, 240_000);

  it('npm run install:global (the README Quick start from a clone) installs the krill command', () => {
    const prefix = join(dir, 'clone-prefix');
    const env = { ...process.env, NPM_CONFIG_PREFIX: prefix, ...npmMachineConfig() };
    const res = run('npm', ['run', 'install:global'], { cwd: ROOT, env });
    expect(res.code, res.stderr).toBe(0);
    expect(run(join(prefix, 'bin/krill'), ['--version']).stdout.trim()).toBe(VERSION);
  }, 240_000);

  it('npm publish --dry-run passes', () => {
    const res = run('npm', ['publish', '--dry-run', '--ignore-scripts'], { cwd: ROOT });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/krill-registry@/);
  }, 120_000);
});

describe('the container image', () => {
  it('builds from the Dockerfile, runs as non-root, lists a registry, and lists itself once pushed', () => {
    ensureBaseImage();
    const image = 'localhost/krill:test';
    const npmCache = join(process.env.HOME ?? '/root', '.npm');
    mkdirSync(npmCache, { recursive: true });
    const built = run(
      'podman',
      [
        'build',
        ...podmanFlags(),
        '--network',
        'host',
        '--volume',
        `${npmCache}:/root/.npm`,
        '--build-arg',
        `NODE_IMAGE=${BASE_IMAGE}`,
        // This machine reaches npm through a TLS-intercepting proxy whose CA is in the system bundle.
        '--build-arg',
        'npm_config_cafile=/etc/ssl/certs/ca-certificates.crt',
        '--build-arg',
        `VERSION=${VERSION}`,
        '-t',
        image,
        ROOT,
      ],
      { cwd: ROOT },
    );
    expect(built.code, built.stderr.slice(-2000)).toBe(0);
    const inspect = JSON.parse(run('podman', ['image', 'inspect', image]).stdout) as Array<{
      Config: { User: string; Entrypoint: string[]; Labels: Record<string, string>; Env: string[] };
    }>;
    expect(inspect[0]!.Config.User).toBe('10001:10001');
    expect(inspect[0]!.Config.Entrypoint).toEqual(['krill']);
    expect(inspect[0]!.Config.Labels['org.opencontainers.image.version']).toBe(VERSION);
    expect(inspect[0]!.Config.Env).toEqual(expect.arrayContaining(['DOCKER_CONFIG=/home/krill/.docker']));

    const container = (...args: string[]) =>
      run('podman', ['run', '--rm', ...podmanFlags(), '--network', 'host', image, ...args]);
    expect(container('--version').stdout.trim()).toBe(VERSION);
    const tags = container('tags', `${registry.host}/apps/web`, '--json');
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout)).toHaveLength(1);

    // Push the image to the test registry: krill must list its own image correctly.
    const pushed = run('podman', ['push', '--tls-verify=false', image, `${registry.host}/tools/krill:${VERSION}`]);
    expect(pushed.code, pushed.stderr).toBe(0);
    return krill(['inspect', `${registry.host}/tools/krill:${VERSION}`, '--json']).then((res) => {
      expect(res.code, res.stderr).toBe(0);
      const details = JSON.parse(res.stdout) as {
        platforms: string[];
        config: { labels: Record<string, string> };
        layers: unknown[];
      };
      expect(details.platforms).toEqual(['linux/amd64']);
      expect(details.config.labels['org.opencontainers.image.licenses']).toBe('MIT');
      expect(details.layers.length).toBeGreaterThan(1);
    });
  }, 600_000);
});

describe('the standalone binary', () => {
  it('npm run build:binary gives one file that runs without node on PATH', () => {
    const built = run('npm', ['run', 'build:binary'], { cwd: ROOT });
    expect(built.code, built.stderr).toBe(0);
    const binary = join(ROOT, 'dist-bin/krill');
    const env = { ...isolatedEnv(), PATH: '/nonexistent' };
    expect(run(binary, ['--version'], { env }).stdout.trim()).toBe(VERSION);
    const tags = run(binary, ['tags', `${registry.host}/apps/web`, '--json'], { env });
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout)).toHaveLength(1);
  }, 240_000);
});
