import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import type { BuiltManifest } from '../harness/images.js';
import {
  Pusher,
  buildArtifact,
  buildImage,
  buildIndex,
  buildReferrersIndex,
  fallbackTagOf,
  sha256,
} from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { blobBytes, startRegistry } from '../harness/registry.js';

// Signatures, SBOMs and other artifacts on the real distribution 2.8 server, which has no
// referrers API: clients keep the OCI 1.1 fallback index under `sha256-<hex>` (cosign v3, oras,
// notation) or cosign's legacy `.sig` tags. Every check goes through the registry API.
let registry: TestRegistry;
let pusher: Pusher;
let counter = 0;
const repo = (name: string) => `${name}-${++counter}`;

beforeAll(async () => {
  registry = await startRegistry();
  pusher = new Pusher(registry);
});
afterAll(async () => {
  await registry?.stop();
});

const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SPDX = 'application/spdx+json';
const PROVENANCE = 'application/vnd.in-toto+json';

function signature(subject: BuiltManifest, salt: string): BuiltManifest {
  return buildArtifact({
    artifactType: BUNDLE,
    subject,
    layers: [{ mediaType: BUNDLE, bytes: Buffer.from(`bundle ${salt} ${subject.digest}`) }],
    annotations: { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z' },
  });
}
function sbom(subject: BuiltManifest, salt: string, type = SPDX): BuiltManifest {
  return buildArtifact({
    artifactType: type,
    subject,
    layers: [{ mediaType: type, bytes: Buffer.from(`{"sbom": "${salt} ${subject.digest}"}`) }],
  });
}

interface Signed {
  repository: string;
  img1: BuiltManifest;
  img2: BuiltManifest;
  img3: BuiltManifest;
  amd64: BuiltManifest;
  sig1: BuiltManifest;
  sbom1: BuiltManifest;
  sigOfSbom1: BuiltManifest;
  legacy2: BuiltManifest;
  sig3: BuiltManifest;
  prov3: BuiltManifest;
  sigAmd64: BuiltManifest;
}

/**
 * Three images: img1 signed (cosign v3 bundle) with an SBOM that is itself signed; img2 with a
 * legacy cosign `.sig` tag; img3 a multi-arch index with a signature and BuildKit-style provenance,
 * and its amd64 child signed on its own (`cosign sign --recursive`).
 */
async function seedSigned(salt: string): Promise<Signed> {
  const repository = repo('signed/app');
  const img1 = buildImage({ created: '2024-01-01T00:00:00Z', layers: [`img1 ${salt}`], format: 'oci' });
  const img2 = buildImage({ created: '2024-02-01T00:00:00Z', layers: [`img2 ${salt}`], format: 'oci' });
  const amd64 = buildImage({ created: '2024-03-01T00:00:00Z', layers: [`img3 amd64 ${salt}`], format: 'oci' });
  const arm64 = buildImage({
    created: '2024-03-01T00:00:00Z',
    layers: [`img3 arm64 ${salt}`],
    format: 'oci',
    architecture: 'arm64',
  });
  const img3 = buildIndex([amd64, arm64], { format: 'oci' });
  const sig1 = signature(img1, salt);
  const sbom1 = sbom(img1, salt);
  const sigOfSbom1 = signature(sbom1, salt);
  const legacy2 = buildImage({ created: null, layers: [`legacy signature ${salt}`], format: 'oci' });
  const sig3 = signature(img3, salt);
  const prov3 = sbom(img3, salt, PROVENANCE);
  const sigAmd64 = signature(amd64, salt);
  await pusher.push(repository, img1, '1.0');
  await pusher.push(repository, img2, '2.0');
  await pusher.push(repository, img3, '3.0');
  await pusher.push(repository, buildReferrersIndex([sig1, sbom1]), fallbackTagOf(img1));
  await pusher.push(repository, buildReferrersIndex([sigOfSbom1]), fallbackTagOf(sbom1));
  await pusher.push(repository, legacy2, `${fallbackTagOf(img2)}.sig`);
  await pusher.push(repository, buildReferrersIndex([sig3, prov3]), fallbackTagOf(img3));
  await pusher.push(repository, buildReferrersIndex([sigAmd64]), fallbackTagOf(amd64));
  return { repository, img1, img2, img3, amd64, sig1, sbom1, sigOfSbom1, legacy2, sig3, prov3, sigAmd64 };
}

describe('referrers on a registry without the referrers API (distribution 2.8)', () => {
  it('tags: attachment tags are summarised on their image; --all lists them; --json carries them', async () => {
    const s = await seedSigned('tags');
    const ref = `${registry.host}/${s.repository}`;
    const table = await krill(['tags', ref]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/REFERRERS/);
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['TAG', '3.0', '2.0', '1.0']);
    expect(lines.find((l) => l.startsWith('1.0'))).toMatch(/2 \(sbom, sig\)/);
    expect(
      lines.find((l) => l.startsWith('2.0')),
      table.stdout,
    ).toMatch(/1 \(sig\)/);
    expect(lines.find((l) => l.startsWith('3.0'))).toMatch(/2 \(att, sig\)/);
    expect(table.stderr).toMatch(/5 attachment tags \(signatures, SBOMs\) not shown: --all lists them/);

    const all = await krill(['tags', ref, '--all']);
    expect(all.stdout.trim().split('\n')).toHaveLength(1 + 8);
    expect(all.stdout).toMatch(/sha256-[0-9a-f]{12}….sig/);

    const json = JSON.parse((await krill(['tags', ref, '--json'])).stdout) as Array<Record<string, unknown>>;
    const fallback = json.find((r) => r.tag === fallbackTagOf(s.img1))!;
    expect(fallback).toMatchObject({ attachment: 'fallback', subject: s.img1.digest, artifactTypes: [BUNDLE, SPDX] });
    expect(json.find((r) => r.tag === `${fallbackTagOf(s.img2)}.sig`)).toMatchObject({
      attachment: 'legacy',
      subject: s.img2.digest,
    });
    expect(json.find((r) => r.tag === '1.0')).toMatchObject({ referrers: { count: 2, types: ['sbom', 'sig'] } });
  });

  it('inspect: a Referrers section, --json with the graph, and --tree', async () => {
    const s = await seedSigned('inspect');
    const ref = `${registry.host}/${s.repository}:1.0`;
    const json = JSON.parse((await krill(['inspect', ref, '--json'])).stdout) as {
      referrers: Array<{ digest: string; artifactType: string; via: string; referrers: Array<{ digest: string }> }>;
    };
    expect(json.referrers.map((r) => [r.digest, r.artifactType, r.via])).toEqual([
      [s.sig1.digest, BUNDLE, 'fallback-tag'],
      [s.sbom1.digest, SPDX, 'fallback-tag'],
    ]);
    expect(json.referrers[1]!.referrers.map((r) => r.digest)).toEqual([s.sigOfSbom1.digest]);
    const text = await krill(['inspect', ref]);
    expect(text.stdout).toMatch(/Referrers \(3\):/);
    expect(text.stdout).toMatch(/sig\s+sha256:\w+\s+2024-05-01/);
    const tree = await krill(['inspect', ref, '--tree']);
    // Short digests in the tree (80 columns); --json has the full ones.
    expect(tree.stdout).toContain(`├── sig  ${s.sig1.digest.slice(0, 19)}\n`);
    expect(tree.stdout).toContain(`└── sbom  ${s.sbom1.digest.slice(0, 19)}\n`);
    expect(tree.stdout).toContain(`    └── sig  ${s.sigOfSbom1.digest.slice(0, 19)}\n`);
    const legacy = JSON.parse((await krill(['inspect', `${registry.host}/${s.repository}:2.0`, '--json'])).stdout);
    expect(legacy.referrers).toMatchObject([{ digest: s.legacy2.digest, via: 'legacy-tag' }]);
  });

  it('cleanup keeps the signatures of kept images, deletes those of deleted images, GC frees the plan', async () => {
    const own = await startRegistry();
    try {
      const ownPusher = new Pusher(own);
      pusher = ownPusher;
      const s = await seedSigned('cleanup');
      const res = await krill(['cleanup', `${own.host}/${s.repository}`, '--keep', '1', '--yes', '--json']);
      expect(res.code, res.stderr).toBe(0);
      const plan = JSON.parse(res.stdout) as {
        reclaimableBytes: number;
        result: { scratchBytes: number };
        repositories: Array<{ keep: Array<{ tag: string; reason: string }>; delete: Array<{ tag: string }> }>;
      };
      // keep 1 counts images only: the fallback indexes (no date) are not the "oldest images".
      expect(plan.repositories[0]!.keep.map((t) => t.tag).sort()).toEqual(
        ['3.0', fallbackTagOf(s.img3), fallbackTagOf(s.amd64)].sort(),
      );
      expect(await ownPusher.tags(s.repository)).toEqual(['3.0', fallbackTagOf(s.img3), fallbackTagOf(s.amd64)].sort());
      for (const gone of [s.img1, s.img2, s.sig1, s.sbom1, s.sigOfSbom1, s.legacy2])
        expect(await ownPusher.resolve(s.repository, gone.digest)).toBeUndefined();
      for (const kept of [s.img3, s.amd64, s.sig3, s.prov3, s.sigAmd64])
        expect(await ownPusher.resolve(s.repository, kept.digest)).toBe(kept.digest);
      const before = blobBytes(own.storageDir);
      await own.garbageCollect();
      expect(before - blobBytes(own.storageDir)).toBe(plan.reclaimableBytes + plan.result.scratchBytes);
    } finally {
      pusher = new Pusher(registry);
      await own.stop();
    }
  });

  it('rm of an image takes its referrers; rm of one signature rewrites the fallback index', async () => {
    const s = await seedSigned('rm');
    const rmImage = await krill(['rm', `${registry.host}/${s.repository}:1.0`, '--yes', '--verbose']);
    expect(rmImage.code, rmImage.stderr).toBe(0);
    for (const gone of [s.img1, s.sig1, s.sbom1, s.sigOfSbom1])
      expect(await pusher.resolve(s.repository, gone.digest)).toBeUndefined();
    expect(await pusher.tags(s.repository)).not.toContain(fallbackTagOf(s.img1));

    const rmSig = await krill(['rm', `${registry.host}/${s.repository}@${s.sig3.digest}`, '--yes', '--json']);
    expect(rmSig.code, rmSig.stderr).toBe(0);
    expect(await pusher.resolve(s.repository, s.sig3.digest)).toBeUndefined();
    expect(await pusher.resolve(s.repository, s.img3.digest)).toBe(s.img3.digest);
    // The index now lists the provenance only, byte-for-byte the rest of what it was.
    const index = await krill(['inspect', `${registry.host}/${s.repository}:${fallbackTagOf(s.img3)}`, '--raw']);
    const doc = JSON.parse(index.stdout) as { manifests: Array<{ digest: string; artifactType: string }> };
    expect(doc.manifests).toEqual([expect.objectContaining({ digest: s.prov3.digest, artifactType: PROVENANCE })]);
    // And undo puts the old index back.
    const journal = JSON.parse(rmSig.stdout).result.journal as string;
    const undo = await krill(['undo', journal, '--yes', '--force']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(await pusher.resolve(s.repository, s.sig3.digest)).toBe(s.sig3.digest);
    expect(await pusher.resolve(s.repository, fallbackTagOf(s.img3))).toBe(
      buildReferrersIndex([s.sig3, s.prov3]).digest,
    );
  });

  it('rm of one signature keeps a referrer another writer attached between plan and apply', async () => {
    const s = await seedSigned('concurrent');
    const planFile = join(mkdtempSync(join(tmpdir(), 'krill-plan-')), 'plan.json');
    const planned = await krill(['rm', `${registry.host}/${s.repository}@${s.sig3.digest}`, '--plan-out', planFile]);
    expect(planned.code, planned.stderr).toBe(0);
    // cosign attaches a new signature to img3 meanwhile: the index now lists three referrers.
    const late = signature(s.img3, 'late');
    await pusher.push(s.repository, buildReferrersIndex([s.sig3, s.prov3, late]), fallbackTagOf(s.img3));
    const applied = await krill(['apply', planFile, '--yes']);
    expect(applied.code, applied.stderr).toBe(0);
    const index = await krill(['inspect', `${registry.host}/${s.repository}:${fallbackTagOf(s.img3)}`, '--raw']);
    const doc = JSON.parse(index.stdout) as { manifests: Array<{ digest: string }> };
    expect(doc.manifests.map((m) => m.digest)).toEqual([s.prov3.digest, late.digest]);
    expect(await pusher.resolve(s.repository, late.digest)).toBe(late.digest);
    expect(await pusher.resolve(s.repository, s.sig3.digest)).toBeUndefined();
  });

  it('--keep-referrers leaves them; --delete-orphans removes the signatures of an image already gone', async () => {
    const s = await seedSigned('orphans');
    const res = await krill(['rm', `${registry.host}/${s.repository}:1.0`, '--yes', '--keep-referrers']);
    expect(res.code, res.stderr).toBe(0);
    expect(await pusher.resolve(s.repository, s.sig1.digest)).toBe(s.sig1.digest);
    const keep = await krill(['cleanup', `${registry.host}/${s.repository}`, '--keep', '5', '--dry-run', '--json']);
    const plan = JSON.parse(keep.stdout) as { repositories: Array<{ keep: Array<{ tag: string; reason: string }> }> };
    expect(plan.repositories[0]!.keep.find((t) => t.tag === fallbackTagOf(s.img1))!.reason).toBe(
      'orphan: subject gone (--delete-orphans deletes it)',
    );
    const del = await krill([
      'cleanup',
      `${registry.host}/${s.repository}`,
      '--keep',
      '5',
      '--delete-orphans',
      '--yes',
    ]);
    expect(del.code, del.stderr).toBe(0);
    for (const gone of [s.sig1, s.sbom1, s.sigOfSbom1])
      expect(await pusher.resolve(s.repository, gone.digest)).toBeUndefined();
    expect(await pusher.tags(s.repository)).not.toContain(fallbackTagOf(s.sbom1));
    expect(await pusher.resolve(s.repository, s.sig3.digest)).toBe(s.sig3.digest);
  });
});

describe('artifacts that are not images', () => {
  it('Helm charts: dated by their annotation, --keep 1 keeps 0.10.0; a non-JSON config never fails a listing', async () => {
    const repository = repo('charts/app');
    const chart = (version: string, created: string) =>
      buildArtifact({
        config: {
          mediaType: 'application/vnd.cncf.helm.config.v1+json',
          bytes: Buffer.from(JSON.stringify({ apiVersion: 'v2', name: 'app', version })),
        },
        layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', bytes: Buffer.from(version) }],
        annotations: { 'org.opencontainers.image.created': created },
      });
    await pusher.push(repository, chart('0.1.0', '2024-01-01T00:00:00Z'), '0.1.0');
    await pusher.push(repository, chart('0.9.0', '2024-02-01T00:00:00Z'), '0.9.0');
    await pusher.push(repository, chart('0.10.0', '2024-03-01T00:00:00Z'), '0.10.0');
    const wasm = buildArtifact({
      config: { mediaType: 'application/vnd.wasm.config.v0+json', bytes: Buffer.from([0, 159, 146, 150, 255]) },
      layers: [{ mediaType: 'application/vnd.wasm.content.layer.v1+wasm', bytes: Buffer.from('\0asm') }],
    });
    await pusher.push(repository, wasm, 'module');
    const tags = await krill(['tags', `${registry.host}/${repository}`, '--json']);
    expect(tags.code, tags.stderr).toBe(0);
    const rows = JSON.parse(tags.stdout) as Array<{ tag: string; artifactType?: string; created: string | null }>;
    expect(rows.map((r) => [r.tag, r.artifactType, r.created])).toEqual([
      ['0.10.0', 'application/vnd.cncf.helm.config.v1+json', '2024-03-01T00:00:00.000Z'],
      ['0.9.0', 'application/vnd.cncf.helm.config.v1+json', '2024-02-01T00:00:00.000Z'],
      ['0.1.0', 'application/vnd.cncf.helm.config.v1+json', '2024-01-01T00:00:00.000Z'],
      ['module', 'application/vnd.wasm.config.v0+json', null],
    ]);
    const table = await krill(['tags', `${registry.host}/${repository}`]);
    expect(table.stdout).toMatch(/0\.10\.0\s+sha256:\w+\s+2024-03-01.*helm/);
    const plan = await krill(['cleanup', `${registry.host}/${repository}`, '--keep', '1', '--dry-run', '--json']);
    const out = JSON.parse(plan.stdout) as { repositories: Array<{ delete: Array<{ tag: string }> }> };
    expect(out.repositories[0]!.delete.map((t) => t.tag).sort()).toEqual(['0.1.0', '0.9.0']);
    expect(sha256(wasm.bytes)).toBe(wasm.digest);
  });
});

describe('copy and sync carry referrers', () => {
  let other: TestRegistry;
  let otherPusher: Pusher;
  beforeAll(async () => {
    other = await startRegistry();
    otherPusher = new Pusher(other);
  });
  afterAll(async () => {
    await other?.stop();
  });

  it('copy: same digests, the fallback index byte-for-byte, merged with another writer, nothing on a rerun', async () => {
    const s = await seedSigned('copy');
    const dest = repo('mirror/app');
    // Another writer already attached something to img1 at the destination.
    const theirs = sbom(s.img1, 'theirs', 'application/vnd.cyclonedx+json');
    await otherPusher.push(dest, s.img1, 'pre');
    await otherPusher.push(dest, buildReferrersIndex([theirs]), fallbackTagOf(s.img1));

    const first = await krill(['copy', `${registry.host}/${s.repository}:1.0`, `${other.host}/${dest}:1.0`, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)[0].referrers).toEqual({ copied: 3, present: 0 });
    for (const m of [s.img1, s.sig1, s.sbom1, s.sigOfSbom1, theirs])
      expect(await otherPusher.resolve(dest, m.digest)).toBe(m.digest);
    const merged = await krill(['inspect', `${other.host}/${dest}:1.0`, '--json']);
    expect(
      JSON.parse(merged.stdout)
        .referrers.map((r: { digest: string }) => r.digest)
        .sort(),
    ).toEqual([theirs.digest, s.sig1.digest, s.sbom1.digest].sort());
    // The SBOM's own index did not exist there: it is the source's, byte for byte.
    expect(await otherPusher.resolve(dest, fallbackTagOf(s.sbom1))).toBe(buildReferrersIndex([s.sigOfSbom1]).digest);
    const indexBefore = await otherPusher.resolve(dest, fallbackTagOf(s.img1));
    const again = await krill(['copy', `${registry.host}/${s.repository}:1.0`, `${other.host}/${dest}:1.0`, '--json']);
    expect(JSON.parse(again.stdout)[0].referrers).toEqual({ copied: 0, present: 3 });
    expect(await otherPusher.resolve(dest, fallbackTagOf(s.img1))).toBe(indexBefore);

    // Platform signatures travel with an index; a legacy .sig is copied as its tag.
    const idx = await krill(['copy', `${registry.host}/${s.repository}:3.0`, `${other.host}/${dest}:3.0`]);
    expect(idx.stdout).toMatch(/referrers: 3 copied/);
    expect(await otherPusher.resolve(dest, s.sigAmd64.digest)).toBe(s.sigAmd64.digest);
    await krill(['copy', `${registry.host}/${s.repository}:2.0`, `${other.host}/${dest}:2.0`]);
    expect(await otherPusher.resolve(dest, `${fallbackTagOf(s.img2)}.sig`)).toBe(s.legacy2.digest);
  });

  it('copy --no-referrers and --referrers-filter', async () => {
    const s = await seedSigned('filter');
    const none = repo('mirror/none');
    await krill(['copy', `${registry.host}/${s.repository}:1.0`, `${other.host}/${none}:1.0`, '--no-referrers']);
    expect(await otherPusher.tags(none)).toEqual(['1.0']);
    const sboms = repo('mirror/sbom');
    const res = await krill([
      'copy',
      `${registry.host}/${s.repository}:1.0`,
      `${other.host}/${sboms}:1.0`,
      '--referrers-filter',
      SPDX,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(await otherPusher.resolve(sboms, s.sbom1.digest)).toBe(s.sbom1.digest);
    expect(await otherPusher.resolve(sboms, s.sig1.digest)).toBeUndefined();
  });

  it('sync: referrers travel, a second sync copies nothing, a signature added later still arrives', async () => {
    const s = await seedSigned('sync');
    const spec = `${registry.host}/${s.repository}=1.0,3.0`;
    const first = await krill(['sync', spec, '--to', `${other.host}/sync`, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const dest = `sync/${s.repository}`;
    for (const m of [s.sig1, s.sbom1, s.sigOfSbom1, s.sig3, s.prov3, s.sigAmd64])
      expect(await otherPusher.resolve(dest, m.digest)).toBe(m.digest);
    const second = JSON.parse((await krill(['sync', spec, '--to', `${other.host}/sync`, '--json'])).stdout) as Array<
      Record<string, unknown>
    >;
    expect(second.map((o) => [o.status, o.referrersCopied])).toEqual([
      ['up-to-date', undefined],
      ['up-to-date', undefined],
    ]);
    // cosign signs after the image was mirrored: the next sync brings the signature.
    const late = signature(s.img1, 'late');
    await pusher.push(s.repository, buildReferrersIndex([s.sig1, s.sbom1, late]), fallbackTagOf(s.img1));
    const third = await krill(['sync', spec, '--to', `${other.host}/sync`]);
    expect(third.stdout.replace(/\n {2}/g, ' ')).toMatch(/up-to-date .*:1\.0 .*sha256:\w{12}, \+1 referrers/);
    expect(await otherPusher.resolve(dest, late.digest)).toBe(late.digest);
  });
});
