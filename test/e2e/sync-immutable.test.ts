import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';

// sync --immutable: a warm round over tags declared immutable costs one tag list per source
// repository and one per destination repository, counted from krill's own request log (--verbose).
let source: TestRegistry;
let mirror: TestRegistry;
let pusher: Pusher;
const env = isolatedEnv();
const REPOS = ['lib/alpha', 'lib/beta'];

beforeAll(async () => {
  [source, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  pusher = new Pusher(source);
  for (const repository of REPOS)
    for (const tag of ['v1.0', 'v1.1', 'v1.2', 'v2.0', 'edge'])
      await pusher.push(repository, buildImage({ layers: [`${repository} ${tag}`] }), tag);
  const first = await runKrill(['sync', ...REPOS.map((r) => `${source.host}/${r}`), '--to', mirror.host], { env });
  expect(first.code, first.stderr).toBe(0);
});
afterAll(async () => {
  await Promise.all([source?.stop(), mirror?.stop()]);
});

/** Requests per registry in a --verbose run, without the /v2/ pings. */
function requests(stderr: string, host: string): string[] {
  return stderr
    .split('\n')
    .filter(
      (l) => /^krill: (GET|HEAD|PUT|POST|DELETE|PATCH) /.test(l) && l.includes(`//${host}/`) && !/\/v2\/ →/.test(l),
    );
}

describe('sync --immutable', () => {
  it('a warm round with every tag immutable: one tag list per repository on each side, nothing else', async () => {
    const specs = REPOS.map((r) => `${source.host}/${r}`);
    const mutable = await runKrill(['-v', 'sync', ...specs, '--to', mirror.host], { env });
    // Without it: at least a HEAD per tag on each side (and the manifest, for referrers pushed since).
    expect(requests(mutable.stderr, source.host).length).toBeGreaterThanOrEqual(2 + 10);
    expect(requests(mutable.stderr, mirror.host).length).toBeGreaterThanOrEqual(10);
    const warm = await runKrill(['-v', 'sync', ...specs, '--to', mirror.host, '--immutable', '.', '--json'], { env });
    expect(warm.code, warm.stderr).toBe(0);
    expect(requests(warm.stderr, source.host).map((l) => l.replace(/ → .*/, ''))).toEqual(
      REPOS.map((r) => `krill: GET http://${source.host}/v2/${r}/tags/list?n=1000`),
    );
    expect(requests(warm.stderr, mirror.host)).toHaveLength(2);
    const outcomes = JSON.parse(warm.stdout) as Array<{ status: string; immutable?: boolean }>;
    expect(outcomes).toHaveLength(10);
    expect(outcomes.every((o) => o.status === 'up-to-date' && o.immutable)).toBe(true);
  });

  it('mutable tags keep the per-tag check: a moved `edge` is copied, immutable ones are not read', async () => {
    const moved = buildImage({ layers: ['lib/alpha edge moved'] });
    await pusher.push('lib/alpha', moved, 'edge');
    await pusher.push('lib/alpha', buildImage({ layers: ['lib/alpha v3.0'] }), 'v3.0'); // new: copied
    const res = await runKrill(
      ['-v', 'sync', `${source.host}/lib/alpha`, '--to', mirror.host, '--immutable', '^v\\d', '--json'],
      { env },
    );
    expect(res.code, res.stderr).toBe(0);
    const outcomes = JSON.parse(res.stdout) as Array<{ tag: string; status: string }>;
    expect(Object.fromEntries(outcomes.map((o) => [o.tag, o.status]))).toEqual({
      edge: 'copied',
      'v1.0': 'up-to-date',
      'v1.1': 'up-to-date',
      'v1.2': 'up-to-date',
      'v2.0': 'up-to-date',
      'v3.0': 'copied',
    });
    expect(requests(res.stderr, source.host).filter((l) => /manifests\/v[12]/.test(l))).toEqual([]);
    expect(await new Pusher(mirror).resolve('lib/alpha', 'edge')).toBe(moved.digest);
  });

  it('takes immutable: per spec and at the top of a sync file; a bad regex is refused before any request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-immutable-'));
    const file = join(dir, 'sync.yaml');
    writeFileSync(
      file,
      `version: 1\ntarget: ${mirror.host}\nimmutable: "^v"\nrepositories:\n  - ${source.host}/lib/beta\n  - {spec: "${source.host}/lib/alpha", immutable: "^nothing$"}\n`,
    );
    const res = await runKrill(['sync', '-f', file, '--json'], { env });
    expect(res.code, res.stderr).toBe(0);
    const outcomes = JSON.parse(res.stdout) as Array<{ source: string; tag: string; immutable?: boolean }>;
    expect(outcomes.filter((o) => o.immutable).every((o) => o.source.includes('lib/beta'))).toBe(true);
    expect(outcomes.filter((o) => o.immutable)).toHaveLength(4);
    const bad = await runKrill(['sync', `${source.host}/lib/beta`, '--to', mirror.host, '--immutable', '(']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--immutable/);
  });
});
