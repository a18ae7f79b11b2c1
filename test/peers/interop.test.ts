import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import { Pusher, buildImage, buildIndex } from '../harness/images.js';
import type { PeerRegistry } from '../harness/peers.js';
import { peerHome, peerOut, startReferrersRegistry } from '../harness/peers.js';
import type { Implementation, TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// krill against real servers and real clients, no fake anywhere: distribution 2.8 (Debian) and 3.1
// (Go module proxy), go-containerregistry's registry with the referrers API, and crane, regctl and
// oras as oracles and producers (scripts/build-peers.sh pins their versions).

const ARTIFACT = 'application/vnd.krill.test.sbom+json';

type Tags = Record<string, string>;

/** tag → digest as krill lists it. */
async function krillTags(host: string, repository: string): Promise<Tags> {
  const res = await krill(['tags', `${host}/${repository}`, '--json', '--plain-http']);
  expect(res.code, res.stderr).toBe(0);
  const rows = JSON.parse(res.stdout) as Array<{ tag: string; digest: string }>;
  return Object.fromEntries(rows.map((r) => [r.tag, r.digest]));
}

/** tag → digest as crane lists and resolves it. */
async function craneTags(host: string, repository: string): Promise<Tags> {
  const names = (await peerOut('crane', ['ls', '--insecure', `${host}/${repository}`])).split('\n').filter(Boolean);
  const out: Tags = {};
  for (const tag of names)
    out[tag] = (await peerOut('crane', ['digest', '--insecure', `${host}/${repository}:${tag}`])).trim();
  return out;
}

/** Tag names as regctl lists them (its own HOME, with TLS off for this host). */
async function regctlTags(host: string, repository: string): Promise<string[]> {
  const home = peerHome();
  await peerOut('regctl', ['registry', 'set', host, '--tls', 'disabled'], home);
  return (await peerOut('regctl', ['tag', 'ls', `${host}/${repository}`], home)).split('\n').filter(Boolean).sort();
}

/** The digests of the referrers oras finds for a reference. */
async function orasReferrers(host: string, reference: string): Promise<string[]> {
  const out = await peerOut('oras', ['discover', '--plain-http', '--format', 'json', `${host}/${reference}`]);
  const doc = JSON.parse(out) as { referrers?: Array<{ digest: string }>; manifests?: Array<{ digest: string }> };
  return (doc.referrers ?? doc.manifests ?? []).map((r) => r.digest).sort();
}

/** `oras attach` of a small SBOM-like artifact; returns nothing, the oracle reads it back. */
async function orasAttach(host: string, reference: string, salt: string, artifactType = ARTIFACT): Promise<void> {
  const dir = peerHome();
  const file = join(dir, 'sbom.json');
  writeFileSync(file, JSON.stringify({ salt }));
  await peerOut('oras', [
    'attach',
    '--plain-http',
    '--disable-path-validation',
    '--artifact-type',
    artifactType,
    `${host}/${reference}`,
    `${file}:application/json`,
  ]);
}

async function krillReferrers(host: string, reference: string): Promise<Array<{ digest: string; via: string }>> {
  const res = await krill(['inspect', `${host}/${reference}`, '--json', '--plain-http']);
  expect(res.code, res.stderr).toBe(0);
  return (JSON.parse(res.stdout) as { referrers: Array<{ digest: string; via: string }> }).referrers;
}

describe.each<Implementation>(['distribution-2.8', 'distribution-3'])('on %s', (implementation) => {
  let registry: TestRegistry;
  let pusher: Pusher;
  beforeAll(async () => {
    registry = await startRegistry({ implementation });
    pusher = new Pusher(registry);
    const old = buildImage({ created: '2024-01-01T00:00:00Z', layers: [`old ${implementation}`] });
    const shared = buildImage({ created: '2024-02-01T00:00:00Z', layers: [`shared ${implementation}`] });
    const multi = buildIndex([
      buildImage({ created: '2024-03-01T00:00:00Z', layers: [`amd ${implementation}`], architecture: 'amd64' }),
      buildImage({ created: '2024-03-01T00:00:00Z', layers: [`arm ${implementation}`], architecture: 'arm64' }),
    ]);
    await pusher.push('apps/web', old, 'v1');
    await pusher.push('apps/web', shared, 'a', 'b');
    await pusher.push('apps/web', multi, 'multi');
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('lists the same tags and digests as crane and regctl', async () => {
    const listed = await krillTags(registry.host, 'apps/web');
    expect(Object.keys(listed).sort()).toEqual(['a', 'b', 'multi', 'v1']);
    expect(listed).toEqual(await craneTags(registry.host, 'apps/web'));
    expect(await regctlTags(registry.host, 'apps/web')).toEqual(Object.keys(listed).sort());
  });

  it('an untag removes that tag and never its sibling on the same digest (crane reads it back)', async () => {
    const before = await craneTags(registry.host, 'apps/web');
    const res = await krill(['rm', `${registry.host}/apps/web:a`, '--yes', '--plain-http']);
    expect(res.code, res.stderr).toBe(0);
    const after = await craneTags(registry.host, 'apps/web');
    expect(after.a).toBeUndefined();
    expect(after.b).toBe(before.b);
    expect(after.multi).toBe(before.multi);
    expect(Object.keys(after).sort()).toEqual(['b', 'multi', 'v1']);
  });

  it('referrers oras attaches (fallback tag) are the ones krill inspect shows', async () => {
    await orasAttach(registry.host, 'apps/web:v1', `v1 ${implementation}`);
    const found = await krillReferrers(registry.host, 'apps/web:v1');
    expect(found.length).toBe(1);
    expect(found.map((r) => r.via)).toEqual(['fallback-tag']);
    expect(found.map((r) => r.digest)).toEqual(await orasReferrers(registry.host, 'apps/web:v1'));
  });
});

describe('a registry with the referrers API (go-containerregistry pkg/registry)', () => {
  let api: PeerRegistry;
  let source: TestRegistry;
  beforeAll(async () => {
    [api, source] = await Promise.all([startReferrersRegistry(), startRegistry({ implementation: 'distribution-3' })]);
    const pusher = new Pusher(source);
    await pusher.push('apps/api', buildImage({ created: '2024-05-01T00:00:00Z', layers: ['api image'] }), 'v1');
    await orasAttach(source.host, 'apps/api:v1', 'copied sbom');
  });
  afterAll(async () => {
    await Promise.all([api?.stop(), source?.stop()]);
  });

  it('krill finds what oras attached through the API, not a tag', async () => {
    const pusher = new Pusher(api);
    await pusher.push('apps/web', buildImage({ created: '2024-04-01T00:00:00Z', layers: ['api v1'] }), 'v1');
    await orasAttach(api.host, 'apps/web:v1', 'api sbom');
    const found = await krillReferrers(api.host, 'apps/web:v1');
    expect(found.map((r) => r.via)).toEqual(['api']);
    expect(found.map((r) => r.digest)).toEqual(await orasReferrers(api.host, 'apps/web:v1'));
    // oras also writes the fallback tag here (this registry sends no OCI-Subject header); krill asks
    // the API and does not count the referrer twice.
    expect(found).toHaveLength(1);
  });

  it('copy into it carries the referrer and writes no fallback index (oras discover at the destination)', async () => {
    const res = await krill(['copy', `${source.host}/apps/api:v1`, `${api.host}/apps/api:v1`, '--plain-http']);
    expect(res.code, res.stderr).toBe(0);
    const there = await orasReferrers(api.host, 'apps/api:v1');
    expect(there).toEqual(await orasReferrers(source.host, 'apps/api:v1'));
    expect(there.length).toBe(1);
    expect(Object.keys(await craneTags(api.host, 'apps/api'))).toEqual(['v1']);
  });

  it('cleanup deletes an untagged referrer with its subject, and keeps the newest image and its referrer', async () => {
    const pusher = new Pusher(api);
    await pusher.push('apps/gc', buildImage({ created: '2024-01-01T00:00:00Z', layers: ['gc old'] }), 'old');
    await pusher.push('apps/gc', buildImage({ created: '2024-06-01T00:00:00Z', layers: ['gc new'] }), 'new');
    await orasAttach(api.host, 'apps/gc:old', 'old sbom');
    await orasAttach(api.host, 'apps/gc:new', 'new sbom');
    const oldReferrers = await orasReferrers(api.host, 'apps/gc:old');
    const oldDigest = (await peerOut('crane', ['digest', '--insecure', `${api.host}/apps/gc:old`])).trim();
    const res = await krill(['cleanup', `${api.host}/apps/gc`, '--keep', '1', '--yes', '--plain-http', '--json']);
    expect(res.code, res.stderr).toBe(0);
    // What stays: the kept image and the fallback index oras wrote for it; the old one's is gone.
    const left = await craneTags(api.host, 'apps/gc');
    expect(Object.keys(left).sort()).toEqual(['new', `sha256-${left.new!.slice(7)}`]);
    expect(await orasReferrers(api.host, 'apps/gc:new')).toHaveLength(1);
    // The old subject and its referrer are gone from the registry (crane fetches by digest).
    for (const digest of [oldDigest, ...oldReferrers]) {
      const res2 = await krill(['digest', `${api.host}/apps/gc@${digest}`, '--plain-http']);
      expect(res2.code, `${digest} should be gone`).toBe(1);
    }
  });

  it('--referrers-filter copies only that artifact type, though this registry ignores the filter (no OCI-Filters-Applied)', async () => {
    const pusher = new Pusher(api);
    await pusher.push('apps/typed', buildImage({ created: '2024-07-01T00:00:00Z', layers: ['typed'] }), 'v1');
    const SIGNATURE = 'application/vnd.krill.test.signature+json';
    await orasAttach(api.host, 'apps/typed:v1', 'typed sbom');
    await orasAttach(api.host, 'apps/typed:v1', 'typed signature', SIGNATURE);
    expect(await orasReferrers(api.host, 'apps/typed:v1')).toHaveLength(2);
    const args = ['copy', `${api.host}/apps/typed:v1`, `${source.host}/apps/typed:v1`, '--plain-http'];
    const res = await krill([...args, '--referrers-filter', SIGNATURE]);
    expect(res.code, res.stderr).toBe(0);
    const out = await peerOut('oras', ['discover', '--plain-http', '--format', 'json', `${source.host}/apps/typed:v1`]);
    const doc = JSON.parse(out) as {
      referrers?: Array<{ artifactType: string }>;
      manifests?: Array<{ artifactType: string }>;
    };
    expect((doc.referrers ?? doc.manifests ?? []).map((r) => r.artifactType)).toEqual([SIGNATURE]);
  });
});
