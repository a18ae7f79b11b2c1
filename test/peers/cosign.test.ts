import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import { peerHome, peerOut, runPeer } from '../harness/peers.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// cosign (v3, built from the Go module proxy) signs with a generated key pair, offline: no
// transparency log, no Fulcio. krill must keep every kept image verifiable, and carry signatures
// along on copy. distribution 3 has no referrers API, so cosign writes what it writes there.

let home: string;
let source: TestRegistry;
let destination: TestRegistry;

const cosign = (args: string[]) => peerOut('cosign', args, home);

/** Keyed and offline; `legacy` writes cosign v2's `sha256-<hex>.sig` tag instead of a bundle referrer. */
async function sign(reference: string, legacy = false): Promise<void> {
  await cosign([
    'sign',
    '--key',
    `${home}/cosign.key`,
    '--use-signing-config=false',
    '--tlog-upload=false',
    '--allow-http-registry',
    '--yes',
    ...(legacy ? ['--new-bundle-format=false'] : []),
    reference,
  ]);
}

async function verify(reference: string) {
  return runPeer(
    'cosign',
    ['verify', '--key', `${home}/cosign.pub`, '--insecure-ignore-tlog=true', '--allow-http-registry', reference],
    home,
  );
}

beforeAll(async () => {
  home = peerHome();
  [source, destination] = await Promise.all([
    startRegistry({ implementation: 'distribution-3' }),
    startRegistry({ implementation: 'distribution-3' }),
  ]);
  await peerOut('cosign', ['generate-key-pair', '--output-key-prefix', `${home}/cosign`], home);
});
afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop()]);
});

describe('cosign signatures (distribution 3)', () => {
  it('after cleanup --keep 1 the kept image still verifies; after copy it verifies at the destination', async () => {
    const pusher = new Pusher(source);
    const old = buildImage({ created: '2024-01-01T00:00:00Z', layers: ['cosign old'] });
    const fresh = buildImage({ created: '2024-06-01T00:00:00Z', layers: ['cosign new'] });
    await pusher.push('apps/signed', old, 'old');
    await pusher.push('apps/signed', fresh, 'new');
    await sign(`${source.host}/apps/signed@${old.digest}`);
    await sign(`${source.host}/apps/signed@${fresh.digest}`);
    expect((await verify(`${source.host}/apps/signed:new`)).code).toBe(0);
    const inspected = await krill(['inspect', `${source.host}/apps/signed:new`, '--json', '--plain-http']);
    const found = (JSON.parse(inspected.stdout) as { referrers: Array<{ via: string; artifactType: string }> })
      .referrers;
    // cosign v3 stores a Sigstore bundle as an OCI 1.1 referrer: under the fallback tag here.
    expect(found.map((r) => [r.artifactType, r.via])).toEqual([
      ['application/vnd.dev.sigstore.bundle.v0.3+json', 'fallback-tag'],
    ]);

    const res = await krill(['cleanup', `${source.host}/apps/signed`, '--keep', '1', '--yes', '--plain-http']);
    expect(res.code, res.stderr).toBe(0);
    const after = await verify(`${source.host}/apps/signed:new`);
    expect(after.code, after.stderr).toBe(0);
    expect((await verify(`${source.host}/apps/signed@${old.digest}`)).code).not.toBe(0);

    const copy = await krill([
      'copy',
      `${source.host}/apps/signed:new`,
      `${destination.host}/apps/signed:new`,
      '--plain-http',
    ]);
    expect(copy.code, copy.stderr).toBe(0);
    const there = await verify(`${destination.host}/apps/signed:new`);
    expect(there.code, there.stderr).toBe(0);
  });

  it('legacy .sig signatures (cosign v2 layout): the kept image verifies, the deleted one lost its signature tag', async () => {
    const pusher = new Pusher(source);
    const old = buildImage({ created: '2024-01-01T00:00:00Z', layers: ['legacy old'] });
    const fresh = buildImage({ created: '2024-06-01T00:00:00Z', layers: ['legacy new'] });
    await pusher.push('apps/legacy', old, 'old');
    await pusher.push('apps/legacy', fresh, 'new');
    await sign(`${source.host}/apps/legacy@${old.digest}`, true);
    await sign(`${source.host}/apps/legacy@${fresh.digest}`, true);
    const before = await pusher.tags('apps/legacy');
    expect(before).toContain(`sha256-${fresh.digest.slice(7)}.sig`);
    const res = await krill(['cleanup', `${source.host}/apps/legacy`, '--keep', '1', '--yes', '--plain-http']);
    expect(res.code, res.stderr).toBe(0);
    expect(await pusher.tags('apps/legacy')).toEqual(['new', `sha256-${fresh.digest.slice(7)}.sig`]);
    const after = await verify(`${source.host}/apps/legacy:new`);
    expect(after.code, after.stderr).toBe(0);
  });
});
