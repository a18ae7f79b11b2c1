import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import type { FakeRegistry } from '../harness/fake-registry.js';
import { startFakeRegistry } from '../harness/fake-registry.js';
import type { BuiltManifest } from '../harness/images.js';
import { Pusher, buildArtifact, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// The OCI 1.1 referrers API. distribution 2.8 does not have it, so these run against the LABELLED
// HAND-WRITTEN FAKE (test/harness/fake-registry.ts), which serves it the way zot, Harbor and the
// cloud registries document it: referrers need no tag, pages come with Link headers, and the
// artifactType filter is applied (OCI-Filters-Applied) or ignored.
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SPDX = 'application/spdx+json';

const sig = (subject: BuiltManifest, salt: string) =>
  buildArtifact({ artifactType: BUNDLE, subject, layers: [{ mediaType: BUNDLE, bytes: Buffer.from(`sig ${salt}`) }] });
const sbom = (subject: BuiltManifest, salt: string) =>
  buildArtifact({ artifactType: SPDX, subject, layers: [{ mediaType: SPDX, bytes: Buffer.from(`sbom ${salt}`) }] });

let paged: FakeRegistry;
let ignoring: FakeRegistry;
let real: TestRegistry;
beforeAll(async () => {
  [paged, ignoring, real] = await Promise.all([
    startFakeRegistry({ referrers: { pageSize: 1, applyFilter: true } }),
    startFakeRegistry({ referrers: { applyFilter: false } }),
    startRegistry(),
  ]);
});
afterAll(async () => {
  await Promise.all([paged?.close(), ignoring?.close(), real?.stop()]);
});

function seed(fake: FakeRegistry, salt: string) {
  const old = buildImage({ created: '2024-01-01T00:00:00Z', layers: [`old ${salt}`], format: 'oci' });
  const fresh = buildImage({ created: '2024-02-01T00:00:00Z', layers: [`new ${salt}`], format: 'oci' });
  const oldSig = sig(old, `old ${salt}`);
  const oldSbom = sbom(old, `old ${salt}`);
  const oldSbomSig = sig(oldSbom, `old sbom ${salt}`);
  const freshSig = sig(fresh, `new ${salt}`);
  fake.add('apps/web', old, '1.0');
  fake.add('apps/web', fresh, '2.0');
  // Referrers pushed by digest only: on a registry with the API, no tag holds them.
  for (const r of [oldSig, oldSbom, oldSbomSig, freshSig]) fake.add('apps/web', r);
  return { old, fresh, oldSig, oldSbom, oldSbomSig, freshSig };
}

describe('the referrers API (labelled fake registry)', () => {
  it('inspect follows paginated referrers lists, nested, found via the API', async () => {
    const s = seed(paged, 'inspect');
    const res = await krill(['inspect', `${paged.host}/apps/web:1.0`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const referrers = JSON.parse(res.stdout).referrers as Array<{
      digest: string;
      via: string;
      artifactType: string;
      referrers: Array<{ digest: string }>;
    }>;
    expect(referrers.map((r) => [r.digest, r.via]).sort()).toEqual(
      [
        [s.oldSig.digest, 'api'],
        [s.oldSbom.digest, 'api'],
      ].sort(),
    );
    expect(referrers.find((r) => r.artifactType === SPDX)!.referrers.map((r) => r.digest)).toEqual([
      s.oldSbomSig.digest,
    ]);
    // Two referrers at one per page: the second page was requested through the Link header.
    expect(paged.log.some((r) => r.path.includes(`/referrers/${s.old.digest}?page=1`))).toBe(true);
  });

  it('cleanup deletes untagged API referrers with their subject, and only those', async () => {
    const s = seed(ignoring, 'cleanup');
    const res = await krill(['cleanup', `${ignoring.host}/apps/web`, '--keep', '1', '--yes', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const deletes = ignoring.log.filter((r) => r.method === 'DELETE').map((r) => r.path.split('/').at(-1));
    for (const gone of [s.old, s.oldSig, s.oldSbom, s.oldSbomSig]) expect(deletes).toContain(gone.digest);
    expect(deletes).not.toContain(s.freshSig.digest);
    expect(deletes).not.toContain(s.fresh.digest);
    expect(ignoring.manifests.has(s.freshSig.digest)).toBe(true);
    // Referrers went before their subject: an interruption never leaves an orphaned signature.
    expect(deletes.indexOf(s.oldSig.digest)).toBeLessThan(deletes.indexOf(s.old.digest));
  });

  it('--referrers-filter: sent to the registry, and applied by krill when the registry ignores it', async () => {
    for (const [fake, salt] of [
      [paged, 'filter applied'],
      [ignoring, 'filter ignored'],
    ] as const) {
      const s = seed(fake, salt);
      const dest = `copied/${salt.replace(' ', '-')}`;
      const res = await krill([
        'copy',
        `${fake.host}/apps/web:1.0`,
        `${real.host}/${dest}:1.0`,
        '--referrers-filter',
        SPDX,
        '--json',
      ]);
      expect(res.code, res.stderr).toBe(0);
      expect(fake.log.some((r) => r.path.includes(`artifactType=${encodeURIComponent(SPDX)}`))).toBe(true);
      const pusher = new Pusher(real);
      expect(await pusher.resolve(dest, s.oldSbom.digest)).toBe(s.oldSbom.digest);
      expect(await pusher.resolve(dest, s.oldSig.digest)).toBeUndefined();
      // The destination (distribution 2.8) has no API: krill wrote the fallback index for it.
      expect(await pusher.tags(dest)).toEqual(['1.0', s.old.digest.replace(':', '-')]);
    }
  });
});
