import { describe, expect, it } from 'vitest';
import type { FetchedManifest, RegistryClient } from '../../src/registry/client.js';
import { ImageReader } from '../../src/registry/image-reader.js';
import { readRepositorySnapshot } from '../../src/registry/snapshot.js';
import { parseManifest } from '../../src/manifest/manifest.js';

// A manifest graph with a cycle cannot pass digest verification, so this in-memory client (a fake
// of the RegistryClient surface the readers use) serves one without verifying: the guard in the
// readers must still turn it into an error naming the digest, never a hang or a silent exit 0.
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
const index = (child: string) => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: child, size: 100 }],
});
const docs: Record<string, unknown> = { [A]: index(B), [B]: index(A), x: index(A) };

function fetched(reference: string): FetchedManifest {
  const bytes = Buffer.from(JSON.stringify(docs[reference]));
  const digest = reference === 'x' ? A : reference;
  return {
    digest,
    bytes,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    size: bytes.length,
    manifest: parseManifest(bytes, undefined, reference),
  };
}

const client = {
  host: 'fake',
  getManifest: async (_repository: string, reference: string) => fetched(reference),
  headManifest: async (_repository: string, reference: string) => fetched(reference),
  listTags: async () => ['x'],
  cacheIsWarm: () => false,
  markCacheWarm: () => {},
} as unknown as RegistryClient;

describe('manifest graphs with a cycle', () => {
  it('summarize fails naming the digest', async () => {
    await expect(new ImageReader(client, 'r').summarize(A)).rejects.toThrow(
      /the manifest graph has a cycle: sha256:a{64} references itself/,
    );
  });

  it('reading a repository snapshot settles: the cyclic tag is kept as invalid, with no manifest node to plan on', async () => {
    const snapshot = await readRepositorySnapshot(client, 'r');
    expect(snapshot.tags).toEqual([]);
    expect(snapshot.manifests).toEqual({});
    expect(snapshot.invalid).toEqual([{ tag: 'x', digest: A, reason: expect.stringMatching(/cycle/) }]);
  });
});
