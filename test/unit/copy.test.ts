import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { computeDigest } from '../../src/manifest/digest.js';
import type { RegistryApi } from '../../src/registry/api.js';
import { fetchedManifest } from '../harness/fixtures.js';
import { copyImage } from '../../src/sync/copy.js';

// copyImage's blob decisions against in-memory RegistryApi objects (no HTTP): skip what the
// destination has, never fetch foreign (non-distributable) layers, stream the rest, then the manifest.
const blob = (text: string) => ({ bytes: Buffer.from(text), digest: computeDigest(Buffer.from(text)) });
const config = blob('{"architecture":"amd64","os":"windows"}');
const base = blob('windows base layer (foreign)');
const app = blob('app layer');
const present = blob('already at the destination');
const doc = {
  schemaVersion: 2,
  mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
  config: {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    digest: config.digest,
    size: config.bytes.length,
  },
  layers: [
    {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: base.digest,
      size: 1,
      urls: ['https://mcr.microsoft.com/base'],
    },
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: app.digest, size: app.bytes.length },
    {
      mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      digest: present.digest,
      size: present.bytes.length,
    },
  ],
};
const bytes = Buffer.from(JSON.stringify(doc));
const digest = computeDigest(bytes);

function fakes() {
  const calls: string[] = [];
  const blobs = new Map([config, app, present].map((b) => [b.digest, b.bytes]));
  const source = {
    host: 'src.example',
    getManifest: async () => fetchedManifest(bytes, doc.mediaType, digest),
    openBlob: async (_repo: string, d: string) => {
      calls.push(`open ${d}`);
      return { body: Readable.from([blobs.get(d)!]), size: blobs.get(d)!.length };
    },
  } as unknown as RegistryApi;
  const stored = new Map<string, Buffer>([[present.digest, present.bytes]]);
  const destination = {
    host: 'dst.example',
    blobSize: async (_repo: string, d: string) => {
      calls.push(`head ${d}`);
      return stored.get(d)?.length;
    },
    startUpload: async () => new URL('https://dst.example/upload'),
    finishUpload: async (_repo: string, _loc: URL, d: string, body: Readable) => {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      stored.set(d, Buffer.concat(chunks));
      calls.push(`upload ${d}`);
    },
    putManifest: async (_repo: string, ref: string, b: Buffer) => {
      calls.push(`put ${ref}`);
      return computeDigest(b);
    },
  } as unknown as RegistryApi;
  return { source, destination, calls, stored };
}

describe('copyImage', () => {
  it('skips present and foreign blobs, streams the others with their digest checked, then puts the manifest', async () => {
    const { source, destination, calls, stored } = fakes();
    const result = await copyImage(
      { client: source, repository: 'win' },
      'ltsc',
      { client: destination, repository: 'mirror/win' },
      ['ltsc'],
    );
    expect(result).toMatchObject({ digest, blobsCopied: 2, blobsSkipped: 1, blobsMounted: 0 });
    expect(calls.some((c) => c.includes(base.digest))).toBe(false);
    expect(stored.get(app.digest)).toEqual(app.bytes);
    expect(calls.at(-1)).toBe('put ltsc');
  });

  it('two copies sharing blobs upload each once and HEAD each once per copy; a later copy looks again', async () => {
    const { source, destination, calls, stored } = fakes();
    const copy = (tag: string) =>
      copyImage({ client: source, repository: 'win' }, 'ltsc', { client: destination, repository: 'mirror/win' }, [
        tag,
      ]);
    const [a, b] = await Promise.all([copy('a'), copy('b')]);
    expect(a.blobsCopied + b.blobsCopied).toBe(2);
    for (const d of [config.digest, app.digest]) {
      expect(calls.filter((c) => c === `upload ${d}`)).toHaveLength(1);
      expect(calls.filter((c) => c === `head ${d}`)).toHaveLength(2);
    }
    // Deleted at the destination since (a daemon's next round): the next copy uploads it again.
    stored.delete(app.digest);
    calls.length = 0;
    const again = await copy('c');
    expect(again.blobsCopied).toBe(1);
    expect(calls).toContain(`upload ${app.digest}`);
  });
});
