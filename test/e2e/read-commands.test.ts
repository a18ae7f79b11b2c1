import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Transport } from '../../src/http/transport.js';
import { RegistryClient } from '../../src/registry/client.js';
import { isolatedEnv, krill, krillProcess } from '../harness/cli.js';
import type { WebFixture } from '../harness/fixtures.js';
import { expectedSize, seedManyRepositories, seedWebRepository } from '../harness/fixtures.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// Real distribution 2.8 registry, plain HTTP on loopback, no auth.
let registry: TestRegistry;
let web: WebFixture;
let bulk: string[];

beforeAll(async () => {
  registry = await startRegistry();
  web = await seedWebRepository(registry);
  bulk = await seedManyRepositories(registry, 'bulk', 105);
});

afterAll(async () => {
  await registry?.stop();
});

interface Row {
  tag: string;
  digest: string;
  mediaType: string;
  created: string | null;
  size: number;
  platforms: string[];
}

describe('krill repos', () => {
  it('lists the whole catalog, sorted', async () => {
    const res = await krill(['repos', registry.host, '--json']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual([...bulk, web.repository].sort());
  });

  it('prints one repository per line', async () => {
    const res = await krill(['repos', '--registry', registry.host]);
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n')).toHaveLength(bulk.length + 1);
  });

  it('follows Link pagination across catalog pages of the real server', async () => {
    const transport = new Transport();
    const client = new RegistryClient({ address: { host: registry.host, scheme: 'http' }, transport, pageSize: 40 });
    try {
      const repos = await client.listRepositories();
      expect(repos.sort()).toEqual([...bulk, web.repository].sort());
    } finally {
      await transport.close();
    }
  });
});

describe('krill tags', () => {
  it('shows digest, created, size and platforms, newest first, unknown dates last', async () => {
    const res = await krill(['tags', `${registry.host}/${web.repository}`, '--json']);
    expect(res.code).toBe(0);
    const rows = JSON.parse(res.stdout) as Row[];
    expect(rows.map((r) => r.tag)).toEqual(['3.0.0', '2.0.0', '1.1.0', 'stable', '1.0.0', 'epoch', 'nodate']);
    for (const row of rows) {
      const pushed = web.tags[row.tag]!;
      expect(row.digest).toBe(pushed.digest);
      expect(row.mediaType).toBe(pushed.mediaType);
      expect(row.size).toBe(expectedSize(pushed));
    }
    const multi = rows.find((r) => r.tag === '3.0.0')!;
    expect(multi.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(multi.created).toBe('2024-04-02T10:00:00.000Z');
    expect(rows.find((r) => r.tag === '1.0.0')).toMatchObject({
      created: '2024-01-01T10:00:00.000Z',
      platforms: ['linux/amd64'],
    });
    expect(rows.find((r) => r.tag === 'nodate')!.created).toBeNull();
    expect(rows.find((r) => r.tag === 'epoch')!.created).toBeNull();
  });

  it('never mistakes a multi-arch index for its amd64 child', async () => {
    const res = await krill(['tags', `${registry.host}/${web.repository}`, '--json', '--filter', '^3']);
    const [row] = JSON.parse(res.stdout) as Row[];
    expect(row!.digest).toBe(web.images.multi!.digest);
    expect(row!.digest).not.toBe(web.images.amd64!.digest);
  });

  it('prints a table where shared digests are visible', async () => {
    const res = await krill(['tags', `${registry.host}/${web.repository}`]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TAG\s+DIGEST\s+CREATED\s+SIZE\s+PLATFORMS$/);
    const short = web.images.v11!.digest.slice(0, 19);
    expect(lines.filter((l) => l.includes(short)).map((l) => l.split(/\s+/)[0])).toEqual(['1.1.0', 'stable']);
    // The day only (the time is in -o wide and --json).
    expect(lines.find((l) => l.startsWith('1.0.0'))).toMatch(/2024-01-01\s+\d+ B\s+linux\/amd64$/);
    // 80 columns: the first platform and a count; -o wide lists them all; -o name and --no-headers for scripts.
    expect(lines.find((l) => l.startsWith('3.0.0'))).toMatch(/linux\/amd64 \+1$/);
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    const wide = await krill(['tags', `${registry.host}/${web.repository}`, '-o', 'wide', '--no-headers']);
    expect(wide.stdout.split('\n')[0]).toMatch(/^3\.0\.0 .*linux\/amd64,linux\/arm64\/v8$/);
    const names = await krill(['tags', `${registry.host}/${web.repository}`, '-o', 'name', '--limit', '2']);
    expect(names.stdout).toBe(`${registry.host}/${web.repository}:3.0.0\n${registry.host}/${web.repository}:2.0.0\n`);
    const full = await krill(['tags', `${registry.host}/${web.repository}`, '--no-trunc']);
    expect(full.stdout).toContain(web.images.v11!.digest);
  });

  it('filters, excludes and limits', async () => {
    const res = await krill([
      'tags',
      `${registry.host}/${web.repository}`,
      '--json',
      '--filter',
      '^\\d',
      '--exclude',
      '^2',
      '--limit',
      '2',
    ]);
    expect((JSON.parse(res.stdout) as Row[]).map((r) => r.tag)).toEqual(['3.0.0', '1.1.0']);
  });

  it('--no-details lists sorted names with only the tag list request', async () => {
    const res = await krill(['tags', `${registry.host}/${web.repository}`, '--no-details', '--verbose']);
    expect(res.code).toBe(0);
    expect(res.stdout.trim().split('\n')).toEqual(Object.keys(web.tags).sort());
    const requests = res.stderr.split('\n').filter((l) => / → \d+/.test(l));
    expect(requests.map((l) => l.replace(/^krill: (\w+) \S+?(\/v2\/[^? ]*).*$/, '$1 $2'))).toEqual([
      'GET /v2/',
      `GET /v2/${web.repository}/tags/list`,
    ]);
  });

  it("resolves short references against KRILL_REGISTRY and the older tools' variables", async () => {
    for (const name of ['KRILL_REGISTRY', 'REGISTRY_CLI_HOSTNAME', 'REGISTRY']) {
      const res = await krill(['tags', web.repository, '--no-details'], {
        env: isolatedEnv({ [name]: registry.host }),
      });
      expect(res.code, `${name}: ${res.stderr}`).toBe(0);
      expect(res.stdout).toContain('stable');
    }
  });

  it('a warm cache needs only the tag list and one HEAD per tag, with identical output', async () => {
    const env = isolatedEnv();
    const ref = `${registry.host}/${web.repository}`;
    const cold = await krill(['tags', ref, '--json', '--verbose'], { env });
    const warm = await krill(['tags', ref, '--json', '--verbose'], { env });
    expect(warm.stdout).toBe(cold.stdout);
    const count = (log: string, re: RegExp) => log.split('\n').filter((l) => re.test(l)).length;
    const tagCount = Object.keys(web.tags).length;
    expect(count(cold.stderr, /GET \S+\/manifests\//)).toBeGreaterThanOrEqual(tagCount);
    expect(count(warm.stderr, /GET \S+\/(manifests|blobs)\//)).toBe(0);
    expect(count(warm.stderr, /HEAD \S+\/manifests\//)).toBe(tagCount);
    const uncached = await krill(['tags', ref, '--json', '--verbose', '--no-cache'], { env });
    expect(uncached.stdout).toBe(cold.stdout);
    expect(count(uncached.stderr, /GET \S+\/manifests\//)).toBeGreaterThanOrEqual(tagCount);
  });

  it('an unknown repository fails with one line and exit 1', async () => {
    const res = await krill(['tags', `${registry.host}/does/not-exist`]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr.trim()).toBe(`krill: repository does/not-exist does not exist on ${registry.host}`);
  });

  it('a bad regex is a usage error and sends nothing', async () => {
    const res = await krill(['tags', `${registry.host}/${web.repository}`, '--filter', '(', '--verbose']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^krill: invalid --filter regex "\(":/);
    expect(res.stderr).not.toMatch(/ → /);
  });
});

describe('krill inspect', () => {
  it('shows the details of an image', async () => {
    const res = await krill(['inspect', `${registry.host}/${web.repository}:1.0.0`]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`Digest:     ${web.images.v1!.digest}`);
    expect(res.stdout).toContain('Author:     Test Author <t@example.com>');
    expect(res.stdout).toContain('OS/Architecture: linux/amd64');
    expect(res.stdout).toContain('org.opencontainers.image.version=1.0.0');
    expect(res.stdout).toContain('Layers (2):');
  });

  it('--json gives layers and config for an image and manifests for an index', async () => {
    const image = JSON.parse((await krill(['inspect', `${registry.host}/${web.repository}:2.0.0`, '--json'])).stdout);
    expect(image.digest).toBe(web.images.v2!.digest);
    expect(image.layers.map((l: { digest: string }) => l.digest)).toEqual(
      web.images.v2!.blobs.slice(1).map((b) => b.digest),
    );
    expect(image.config.historySteps).toBe(3);
    const index = JSON.parse((await krill(['inspect', `${registry.host}/${web.repository}:3.0.0`, '--json'])).stdout);
    expect(index.manifests.map((m: { platform: string; digest: string }) => [m.platform, m.digest])).toEqual([
      ['linux/amd64', web.images.amd64!.digest],
      ['linux/arm64/v8', web.images.arm64!.digest],
    ]);
  });

  it('--platform picks one platform of an index', async () => {
    const res = await krill([
      'inspect',
      `${registry.host}/${web.repository}:3.0.0`,
      '--platform',
      'linux/arm64/v8',
      '--json',
    ]);
    expect(JSON.parse(res.stdout).digest).toBe(web.images.arm64!.digest);
    const missing = await krill(['inspect', `${registry.host}/${web.repository}:3.0.0`, '--platform', 'linux/s390x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('available: linux/amd64, linux/arm64/v8');
  });

  it('--raw prints the manifest bytes exactly, so their sha256 is the digest', async () => {
    for (const tag of ['1.0.0', '3.0.0']) {
      const res = await krill(['inspect', `${registry.host}/${web.repository}:${tag}`, '--raw']);
      expect(`sha256:${createHash('sha256').update(res.stdout).digest('hex')}`).toBe(web.tags[tag]!.digest);
    }
  });

  it('inspects by digest', async () => {
    const res = await krill(['inspect', `${registry.host}/${web.repository}@${web.images.v11!.digest}`, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout).created).toBe('2024-02-01T10:00:00.000Z');
  });

  it('an unknown tag fails with one line and exit 1', async () => {
    const res = await krill(['inspect', `${registry.host}/${web.repository}:nope`]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr.trim()).toBe(`krill: ${web.repository} has no tag nope`);
  });
});

describe('bin/krill.js as a process', () => {
  it('prints its version and lists tags like the in-process runs', async () => {
    const version = await krillProcess(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const listed = await krillProcess(['tags', `${registry.host}/apps/web`, '--no-details']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n')).toContain('1.0.0');
  });
});
