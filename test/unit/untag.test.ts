import { describe, expect, it } from 'vitest';
import { InvalidResponseError, UnsupportedError } from '../../src/errors.js';
import { computeDigest } from '../../src/manifest/digest.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import type { RegistryApi } from '../../src/registry/api.js';
import type { FetchedManifest } from '../../src/registry/client.js';
import { THROWAWAY_ANNOTATION, Untagger, buildThrowaway, isThrowaway } from '../../src/registry/untag.js';

// The Untagger against an in-memory tag table: the narrow RegistryApi it uses, scripted per case
// (a test double of that interface, not of a registry: the e2e suites run it on distribution).

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const configDigest = `sha256:${'c'.repeat(64)}`;

function fetched(json: object, mediaType = OCI_MANIFEST): FetchedManifest {
  const bytes = Buffer.from(JSON.stringify(json));
  return {
    digest: computeDigest(bytes),
    mediaType,
    size: bytes.length,
    bytes,
    manifest: parseManifest(bytes, mediaType, 'test'),
  };
}

const image = fetched({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 2 },
  layers: [],
});

interface Script {
  /** Where the tag points before anything happens. */
  before?: string | undefined;
  /** The OCI tag delete's answer. */
  tagDelete?: 'deleted' | 'unsupported' | 'not-found';
  /** What the registry answers for a PUT (default: the digest of the bytes). */
  stores?: (bytes: Buffer) => string;
  /** Where the tag points after the PUT (default: what was stored). */
  after?: (stored: string, bytes: Buffer) => string | undefined;
}

function registry(script: Script) {
  const calls: string[] = [];
  /** The flags of every request: an untag must not be cut by Ctrl-C between its steps. */
  const flags: Array<{ uninterruptible?: boolean } | undefined> = [];
  let tag: string | undefined = 'before' in script ? script.before : image.digest;
  const api = {
    host: 'r.example',
    digestOf: async (_repository: string, reference: string, f?: { uninterruptible?: boolean }) => {
      calls.push(`HEAD ${reference}`);
      flags.push(f);
      return tag;
    },
    deleteTag: async (_repository: string, reference: string, f?: { uninterruptible?: boolean }) => {
      calls.push(`DELETE tag ${reference}`);
      flags.push(f);
      const answer = script.tagDelete ?? 'unsupported';
      if (answer === 'deleted') tag = undefined;
      return answer;
    },
    putManifest: async (
      _repository: string,
      reference: string,
      bytes: Buffer,
      _mediaType: string,
      f?: { uninterruptible?: boolean },
    ) => {
      calls.push(`PUT ${reference}`);
      flags.push(f);
      const stored = script.stores ? script.stores(bytes) : computeDigest(bytes);
      tag = script.after ? script.after(stored, bytes) : stored;
      return stored;
    },
    deleteManifest: async (_repository: string, digest: string, f?: { uninterruptible?: boolean }) => {
      calls.push(`DELETE ${digest}`);
      flags.push(f);
      if (tag === digest) tag = undefined;
      return 'deleted' as const;
    },
  } as unknown as RegistryApi;
  return { api, calls, flags, tag: () => tag, repush: () => void (tag = image.digest) };
}

describe('Untagger', () => {
  it('a tag that moved since the plan is left alone: "moved", nothing sent but the HEAD', async () => {
    const r = registry({ before: `sha256:${'e'.repeat(64)}` });
    expect(await new Untagger(r.api).untag('apps/web', 'v1', image)).toBe('moved');
    expect(r.calls).toEqual(['HEAD v1']);
  });

  it('a tag already gone is "already-gone", nothing sent but the HEAD', async () => {
    const r = registry({ before: undefined });
    expect(await new Untagger(r.api).untag('apps/web', 'v1', image)).toBe('already-gone');
    expect(r.calls).toEqual(['HEAD v1']);
  });

  it('the OCI tag delete when the registry has it, remembered for the next tag', async () => {
    const r = registry({ tagDelete: 'deleted' });
    const untagger = new Untagger(r.api);
    expect(await untagger.untag('apps/web', 'v1', image)).toBe('untagged');
    expect(r.calls).toEqual(['HEAD v1', 'DELETE tag v1']);
    expect(untagger.scratchBytes).toBe(0);
    r.repush();
    expect(await untagger.untag('apps/web', 'v2', image)).toBe('untagged');
    expect(r.calls.slice(2)).toEqual(['HEAD v2', 'DELETE tag v2']); // still the tag delete
    expect(r.flags.map((f) => f?.uninterruptible)).toEqual([true, true, true, true]);
    const gone = registry({ tagDelete: 'not-found' });
    expect(await new Untagger(gone.api).untag('apps/web', 'v1', image)).toBe('already-gone');
  });

  it('without it: a throwaway on the tag, checked to be stored under the tag, then deleted by digest', async () => {
    const r = registry({ tagDelete: 'unsupported' });
    const untagger = new Untagger(r.api);
    expect(await untagger.untag('apps/web', 'v1', image)).toBe('untagged');
    const put = r.calls.indexOf('PUT v1');
    expect(r.calls.slice(0, put + 1)).toEqual(['HEAD v1', 'DELETE tag v1', 'PUT v1']);
    expect(r.calls[put + 1]).toBe('HEAD v1');
    expect(r.calls[put + 2]).toMatch(/^DELETE sha256:[0-9a-f]{64}$/);
    expect(r.calls[put + 2]).not.toBe(`DELETE ${image.digest}`); // never the original
    expect(r.tag()).toBeUndefined();
    expect(untagger.scratchBytes).toBeGreaterThan(0);
    // Every step ignores Ctrl-C: stopping between PUT and DELETE would leave the throwaway on the tag.
    expect(r.flags.length).toBe(r.calls.length);
    expect(r.flags.map((f) => f?.uninterruptible)).toEqual(r.calls.map(() => true));
    // Learnt: the next untag goes straight to the throwaway.
    r.repush();
    r.calls.length = 0;
    expect(await untagger.untag('apps/web', 'v2', image)).toBe('untagged');
    expect(r.calls.slice(0, 2)).toEqual(['HEAD v2', 'PUT v2']);
  });

  it('a registry that did not keep the throwaway under the tag: an error, and nothing deleted', async () => {
    const other = `sha256:${'f'.repeat(64)}`;
    for (const script of [
      { after: () => other }, // a push landed in between, or the registry rewrote the manifest
      { stores: () => other, after: () => other }, // the registry stored something else
      { stores: () => other }, // it answered another digest than the bytes sent
      { stores: () => other, after: (_, bytes) => computeDigest(bytes) }, // the answer alone is wrong
    ] satisfies Script[]) {
      const r = registry({ tagDelete: 'unsupported', ...script });
      const error = await new Untagger(r.api).untag('apps/web', 'v1', image).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidResponseError);
      expect((error as Error).message).toMatch(
        /^r\.example\/apps\/web:v1: the registry did not keep the throwaway manifest sha256:[0-9a-f]{64} under the tag \(now sha256:[0-9a-f]{64}\); the tag was left as it is$/,
      );
      expect(r.calls.filter((c) => c.startsWith('DELETE sha256:'))).toEqual([]);
    }
  });

  it('finish deletes a throwaway an interrupted run left; a dangling tag gets an empty index throwaway', async () => {
    const r = registry({});
    expect(await new Untagger(r.api).finish('apps/web', image.digest)).toBe('untagged');
    const notFound = { ...r.api, deleteManifest: async () => 'not-found' as const } as RegistryApi;
    expect(await new Untagger(notFound).finish('apps/web', image.digest)).toBe('already-gone');
    const dangling = registry({ before: undefined });
    expect(await new Untagger(dangling.api).untagDangling('apps/web', 'lost')).toBe('untagged');
    expect(dangling.calls[0]).toBe('PUT lost');
  });
});

describe('buildThrowaway', () => {
  it('an image: the original config, no layers, the annotation; an index: no children', () => {
    const scratch = JSON.parse(buildThrowaway(image.bytes, OCI_MANIFEST, 'v1').toString());
    expect(scratch.config.digest).toBe(configDigest);
    expect(scratch.layers).toEqual([]);
    expect(scratch.annotations[THROWAWAY_ANNOTATION]).toMatch(/^v1 [0-9a-f]{16}$/);
    const index = JSON.parse(buildThrowaway(Buffer.from('{"manifests":[{"digest":"x"}]}'), 'idx', 'v2').toString());
    expect(index.manifests).toEqual([]);
    expect(index.config).toBeUndefined();
    // Unique per operation: two untags never collide on one digest.
    expect(
      buildThrowaway(image.bytes, OCI_MANIFEST, 'v1').equals(buildThrowaway(image.bytes, OCI_MANIFEST, 'v1')),
    ).toBe(false);
    expect(() => buildThrowaway(Buffer.from('{"schemaVersion":1}'), 'old', 'v3')).toThrow(UnsupportedError);
    expect(() => buildThrowaway(Buffer.from('{"schemaVersion":1}'), '', 'v3')).toThrow(
      'cannot untag v3: its manifest type unknown has no untag method',
    );
    expect(scratch.schemaVersion).toBe(2);
    expect(scratch.mediaType).toBe(OCI_MANIFEST);
    expect(THROWAWAY_ANNOTATION).toBe('io.krill.untag'); // recognised across versions: never change it
  });

  it('isThrowaway recognises its own manifests only', () => {
    const scratch = buildThrowaway(image.bytes, OCI_MANIFEST, 'v1');
    expect(isThrowaway(fetched(JSON.parse(scratch.toString())))).toBe(true);
    expect(isThrowaway(image)).toBe(false);
  });
});
