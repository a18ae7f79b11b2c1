import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { computeDigest } from '../../src/manifest/digest.js';
import type { RegistryApi } from '../../src/registry/api.js';
import { fetchedManifest } from '../harness/fixtures.js';
import { parseRegistryAddress } from '../../src/ref/reference.js';
import { parseSyncSpec } from '../../src/sync/spec.js';
import { syncJob } from '../../src/sync/sync.js';

// syncJob over in-memory RegistryApi objects (no HTTP): tags are checked eight at a time while
// images are copied two (here one) at a time, so a daemon's stop must also hold the images that
// already passed their check and wait for a copy slot.
const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
const doc = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: computeDigest(config), size: config.length },
  layers: [],
};
const bytes = Buffer.from(JSON.stringify(doc));
const digest = computeDigest(bytes);
const TAGS = ['a', 'b', 'c', 'd', 'e'];

function endpoints(onPut: () => void = () => {}) {
  const copied: string[] = [];
  const source = {
    host: 'src.example',
    listTags: async () => TAGS,
    digestOf: async () => digest,
    getManifest: async () => fetchedManifest(bytes, doc.mediaType, digest),
    openBlob: async () => ({ body: Readable.from([config]), size: config.length }),
  } as unknown as RegistryApi;
  const destination = {
    host: 'dst.example',
    address: parseRegistryAddress('dst.example'),
    digestOf: async () => undefined,
    blobSize: async () => config.length,
    putManifest: async (_repo: string, ref: string) => {
      copied.push(ref);
      onPut();
      return digest;
    },
  } as unknown as RegistryApi;
  return { source, destination, copied };
}

describe('syncJob', () => {
  it('a stop asked for during a copy starts no image that was waiting for a copy slot', async () => {
    let stop = false;
    // The daemon's SIGTERM, while the first image is being copied.
    const { source, destination, copied } = endpoints(() => (stop = true));
    const spec = parseSyncSpec('src.example/apps/web', {});
    const outcomes = await syncJob(
      { spec, source, destination, destinationRepository: 'apps/web' },
      {
        concurrency: 1,
        referrers: false,
        shouldStop: () => stop,
      },
    );
    expect(copied).toHaveLength(1);
    expect(outcomes.map((o) => o.status)).toEqual(['copied']);
  });

  it('without a stop every tag is checked and copied', async () => {
    const { source, destination, copied } = endpoints();
    const spec = parseSyncSpec('src.example/apps/web', {});
    const outcomes = await syncJob(
      { spec, source, destination, destinationRepository: 'apps/web' },
      { referrers: false },
    );
    expect(copied.sort()).toEqual(TAGS);
    expect(outcomes).toHaveLength(TAGS.length);
  });
});
