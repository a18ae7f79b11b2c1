import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import { startFakeRegistry } from '../harness/fake-registry.js';
import type { BuiltManifest } from '../harness/images.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// The live set (--keep-in-use FILE) and the deletion budgets on the real distribution 2.8 server.
let registry: TestRegistry;
let pusher: Pusher;
let dir: string;
let counter = 0;

beforeAll(async () => {
  registry = await startRegistry();
  pusher = new Pusher(registry);
  dir = mkdtempSync(join(tmpdir(), 'krill-live-'));
});
afterAll(async () => {
  await registry?.stop();
});

/** Five releases, one a month: `--keep 1` would delete 1.0 to 4.0. */
async function seedReleases(): Promise<{ repository: string; images: BuiltManifest[] }> {
  const repository = `live/app-${++counter}`;
  const images: BuiltManifest[] = [];
  for (let i = 1; i <= 5; i++) {
    const image = buildImage({ created: `2024-0${i}-01T00:00:00Z`, layers: [`${repository} v${i}`] });
    await pusher.push(repository, image, `${i}.0`);
    images.push(image);
  }
  return { repository, images };
}

describe('--keep-in-use: what runs is never deleted', () => {
  it("keeps what kubectl's output lists (a tag and a docker-pullable digest), deletes the rest", async () => {
    const { repository, images } = await seedReleases();
    const pods = join(dir, `pods-${counter}.txt`);
    writeFileSync(
      pods,
      `${registry.host}/${repository}:2.0 nginx:1.27\ndocker-pullable://${registry.host}/${repository}@${images[0]!.digest}\n`,
    );
    const res = await krill([
      'cleanup',
      `${registry.host}/${repository}`,
      '--keep',
      '1',
      '--keep-in-use',
      pods,
      '--yes',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(await pusher.tags(repository)).toEqual(['1.0', '2.0', '5.0']);
    const plan = JSON.parse(res.stdout) as { repositories: Array<{ keep: Array<{ tag: string; reason: string }> }> };
    expect(plan.repositories[0]!.keep.find((t) => t.tag === '2.0')!.reason).toBe(`in use: listed in ${pods}`);
  });

  it('apply re-reads the live set: an image deployed after the plan is kept; an unreadable source stops it', async () => {
    const { repository, images } = await seedReleases();
    const pods = join(dir, `pods-${counter}.txt`);
    writeFileSync(pods, `${registry.host}/${repository}:1.0\n`);
    const planFile = join(dir, `plan-${counter}.json`);
    const planned = await krill([
      'cleanup',
      `${registry.host}/${repository}`,
      '--keep',
      '1',
      '--keep-in-use',
      pods,
      '--plan-out',
      planFile,
    ]);
    expect(planned.code, planned.stderr).toBe(0);
    // 3.0 is rolled out between plan and apply.
    writeFileSync(pods, `${registry.host}/${repository}:1.0 ${registry.host}/${repository}@${images[2]!.digest}\n`);
    const applied = await krill(['apply', planFile, '--yes', '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await pusher.tags(repository)).toEqual(['1.0', '3.0', '5.0']);

    // The source is gone at apply time: nothing is deleted, unless --allow-stale-live-set.
    const again = await seedReleases();
    const gone = join(dir, `pods-${counter}.txt`);
    writeFileSync(gone, `${registry.host}/${again.repository}:1.0\n`);
    const plan2 = join(dir, `plan-${counter}.json`);
    await krill([
      'cleanup',
      `${registry.host}/${again.repository}`,
      '--keep',
      '1',
      '--keep-in-use',
      gone,
      '--plan-out',
      plan2,
    ]);
    rmSync(gone);
    const refused = await krill(['apply', plan2, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /cannot re-read the live set \(.*ENOENT.*\): nothing was deleted; .*--allow-stale-live-set/,
    );
    expect(await pusher.tags(again.repository)).toEqual(['1.0', '2.0', '3.0', '4.0', '5.0']);
    const stale = await krill(['apply', plan2, '--yes', '--allow-stale-live-set']);
    expect(stale.code, stale.stderr).toBe(0);
    expect(await pusher.tags(again.repository)).toEqual(['1.0', '5.0']);
  });

  it('reads standard input with -', async () => {
    const { repository } = await seedReleases();
    const res = await krill(
      ['cleanup', `${registry.host}/${repository}`, '--keep', '1', '--keep-in-use', '-', '--yes'],
      {
        stdin: `${registry.host}/${repository}:4.0\n`,
      },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(await pusher.tags(repository)).toEqual(['4.0', '5.0']);
  });
});

describe('deletion budgets', () => {
  it('--all-repos refuses a plan removing more than half of the tags unless told; nothing is deleted', async () => {
    const own = await startRegistry();
    try {
      const ownPusher = new Pusher(own);
      for (let i = 1; i <= 4; i++)
        await ownPusher.push(
          'apps/web',
          buildImage({ created: `2024-0${i}-01T00:00:00Z`, layers: [`w${i}`] }),
          `${i}.0`,
        );
      const refused = await krill(['cleanup', '--all-repos', own.host, '--keep', '1', '--yes']);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/delete\s+1\.0/); // the plan is shown
      expect(refused.stderr).toMatch(
        /the plan removes 3 of 4 tags \(75%\), over the default budget 50% \(--max-delete 100% lifts it\): the plan is refused and nothing was deleted/,
      );
      expect(await ownPusher.tags('apps/web')).toEqual(['1.0', '2.0', '3.0', '4.0']);
      const dry = await krill(['cleanup', `${own.host}/apps/web`, '--keep', '1', '--max-bytes', '1', '--dry-run']);
      expect(dry.code).toBe(1);
      expect(dry.stderr).toMatch(/over --max-bytes 1 bytes/);
      const allowed = await krill(['cleanup', '--all-repos', own.host, '--keep', '1', '--max-delete', '100%', '--yes']);
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(await ownPusher.tags('apps/web')).toEqual(['4.0']);
    } finally {
      await own.stop();
    }
  });

  it('bad budgets are usage errors before any request', async () => {
    const res = await krill(['cleanup', '127.0.0.1:9/apps/web', '--max-delete', 'half']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/invalid --max-delete "half"/);
  });
});

describe('a listing that looks wrong stops the plan for that repository', () => {
  it('a registry listing that dropped entries deletes nothing there; krill’s own deletions never count', async () => {
    // LABELLED HAND-WRITTEN FAKE (test/harness/fake-registry.ts): no real server drops listing entries on demand.
    const fake = await startFakeRegistry();
    try {
      const env = isolatedEnv(); // one state directory across the runs
      const images = Array.from({ length: 12 }, (_, i) =>
        buildImage({ created: `2024-01-${String(i + 1).padStart(2, '0')}T00:00:00Z`, layers: [`drop ${i}`] }),
      );
      images.forEach((image, i) => fake.add('apps/web', image, `v${i + 1}`));
      const ref = `${fake.host}/apps/web`;
      const first = await krill(['cleanup', ref, '--keep', '10', '--dry-run'], { env });
      expect(first.code, first.stderr).toBe(0);
      // The listing now drops half of the tags (they still exist).
      fake.rawTagLists.set('apps/web', ['v1', 'v2', 'v3', 'v4', 'v5', 'v6']);
      const second = await krill(['cleanup', ref, '--keep', '1', '--yes', '--json'], { env });
      // A skipped repository is an outcome a scheduled job must notice: exit 3, with the way out.
      expect(second.code, second.stderr).toBe(3);
      expect(second.stderr).toMatch(
        /1 repository was skipped because the tag listing looks wrong \(apps\/web\); nothing was deleted there: .*--accept-listing/,
      );
      expect(JSON.parse(second.stdout).repositories[0].listingSuspect).toMatch(/listing looks wrong/);
      expect(second.stderr).toMatch(
        /apps\/web: listing looks wrong: 6 of 12 tags listed last time are gone, not deleted by krill/,
      );
      expect(fake.log.filter((r) => r.method === 'DELETE' && !r.path.endsWith('0'.repeat(64)))).toEqual([]);
      const diff = await krill(['cleanup', ref, '--keep', '1', '--dry-run', '--diff'], { env });
      expect(diff.code).toBe(3);
      expect(diff.stdout).toMatch(
        /apps\/web: since .*: 0 new tags, 6 gone without krill \(v10, v11, v12, v7, v8 and 1 more\)/,
      );
      const accepted = await krill(['cleanup', ref, '--keep', '1', '--accept-listing', '--dry-run', '--json'], { env });
      expect(accepted.code, accepted.stderr).toBe(0);
      const plan = JSON.parse(accepted.stdout) as { repositories: Array<{ delete: Array<{ tag: string }> }> };
      expect(plan.repositories[0]!.delete.map((t) => t.tag)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);

      // What krill deletes itself is not "lost": after a cleanup of 11 of 12 tags the next run plans normally.
      fake.rawTagLists.delete('apps/web');
      const big = await krill(['cleanup', ref, '--keep', '1', '--max-delete', '100%', '--yes'], { env });
      expect(big.code, big.stderr).toBe(0);
      expect([...fake.tags.get('apps/web')!.keys()]).toEqual(['v12']);
      const next = await krill(['cleanup', ref, '--keep', '1', '--yes'], { env });
      expect(next.code, next.stderr).toBe(0);
      expect(next.stderr).not.toMatch(/listing looks wrong/);
    } finally {
      await fake.close();
    }
  });
});
