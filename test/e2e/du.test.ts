import { cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import type { BuiltManifest } from '../harness/images.js';
import { Pusher, buildImage, buildIndex } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';

// `krill du` checked against the truth: the registry's own garbage collector. For each repository,
// the exclusive bytes krill reports equal what `docker-registry garbage-collect` frees once that
// repository's manifests are deleted; the catalog total equals the bytes of the blobs in storage.
let registry: TestRegistry;
let pristine: string;
const env = isolatedEnv();
/** Every manifest digest pushed per repository (untagged ones included), to delete them all. */
const pushed: Record<string, string[]> = {};

function digestsOf(m: BuiltManifest): string[] {
  return [m.digest, ...m.children.flatMap(digestsOf)];
}

async function push(pusher: Pusher, repository: string, m: BuiltManifest, ...tags: string[]) {
  await pusher.push(repository, m, ...tags);
  pushed[repository] = [...new Set([...(pushed[repository] ?? []), ...digestsOf(m)])];
}

/** Bytes of every blob in the registry's storage (the `data` files under blobs/). */
function storedBytes(): number {
  const root = join(registry.storageDir, 'docker/registry/v2/blobs');
  let total = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'data') total += statSync(path).size;
    }
  };
  walk(root);
  return total;
}

beforeAll(async () => {
  registry = await startRegistry({ onDisk: true });
  const pusher = new Pusher(registry);
  const base = 'a shared base layer '.repeat(2000);
  await push(pusher, 'apps/web', buildImage({ layers: [base, 'web 1'.repeat(300)] }), 'v1');
  await push(pusher, 'apps/web', buildImage({ layers: [base, 'web 2'.repeat(400)] }), 'v2', 'latest');
  const moving = buildImage({ layers: ['moving one'.repeat(500)] });
  await push(pusher, 'apps/web', moving, 'moving');
  // krill lists it once (its history now knows `moving`'s digest), then the tag moves on: the old
  // manifest stays in the registry untagged, with its blobs, until it is deleted.
  expect((await runKrill(['du', registry.host], { env })).code).toBe(0);
  await push(pusher, 'apps/web', buildImage({ layers: ['moving two'.repeat(500)] }), 'moving');
  const platforms = ['amd64', 'arm64'].map((architecture) =>
    buildImage({ architecture, layers: [base, `api ${architecture}`.repeat(700)] }),
  );
  await push(pusher, 'apps/api', buildIndex(platforms), '1.0');
  await push(pusher, 'libs/tool', buildImage({ layers: ['tool only'.repeat(900)] }), '2.3');
  pristine = mkdtempSync(join(tmpdir(), 'krill-du-pristine-'));
  await registry.restart(() => cpSync(registry.storageDir, pristine, { recursive: true }));
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  rmSync(pristine, { recursive: true, force: true });
});

interface Usage {
  totalBytes: number;
  complete: boolean;
  repositories: Array<{
    repository: string;
    exclusiveBytes: number;
    sharedBytes: number;
    totalBytes: number;
    tags: number;
    manifests: number;
    biggest: Array<{ tag: string }>;
  }>;
}

describe('krill du', () => {
  let usage: Usage;
  beforeAll(async () => {
    const res = await runKrill(['du', registry.host, '--json'], { env });
    expect(res.code, res.stderr).toBe(0);
    usage = JSON.parse(res.stdout) as Usage;
  });

  it('totals every blob in storage once', () => {
    expect(usage.complete).toBe(true);
    expect(usage.totalBytes).toBe(storedBytes());
    expect(usage.repositories.map((r) => r.repository)).toEqual(['apps/web', 'apps/api', 'libs/tool']);
    const web = usage.repositories[0]!;
    expect(web).toMatchObject({ tags: 4, manifests: 4 }); // three tagged and the untagged old `moving`
    expect(web.sharedBytes).toBeGreaterThan(0); // the base layer, shared with apps/api
  });

  it.each(['apps/web', 'apps/api', 'libs/tool'])(
    'exclusive bytes of %s equal what garbage collection frees once its manifests are deleted',
    async (repository) => {
      await registry.restart(() => {
        rmSync(registry.storageDir, { recursive: true, force: true });
        cpSync(pristine, registry.storageDir, { recursive: true });
      });
      const before = storedBytes();
      for (const digest of pushed[repository]!) {
        const res = await request(`${registry.url}/v2/${repository}/manifests/${digest}`, {
          method: 'DELETE',
          dispatcher: registry.dispatcher,
        });
        await res.body.dump();
        expect([202, 404]).toContain(res.statusCode);
      }
      await registry.garbageCollect();
      const freed = before - storedBytes();
      expect(usage.repositories.find((r) => r.repository === repository)!.exclusiveBytes).toBe(freed);
    },
  );

  it('says so when only some repositories were read, and fits 80 columns', async () => {
    const res = await runKrill(['du', `${registry.host}/apps/web`, `${registry.host}/libs/tool`], { env });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^REPOSITORY\s+TAGS\s+EXCLUSIVE\s+SHARED\s+TOTAL\n/);
    expect(res.stdout).toMatch(/2 repositories: .* in blobs, each counted once\.\nOnly these repositories were read/);
    expect(res.stdout.split('\n').every((l) => l.length <= 80)).toBe(true);
    const wide = await runKrill(['du', registry.host, '-o', 'wide'], { env });
    expect(wide.stdout).toMatch(/MANIFESTS.*BIGGEST IMAGES/);
  });
});
