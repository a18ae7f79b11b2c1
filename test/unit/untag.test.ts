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
  /** Where the user's tags point before anything happens. */
  before?: string | undefined;
  /**
   * DELETE of a tag: removes exactly that tag (OCI 1.1, distribution 3), removes the manifest and
   * every tag on it (what the probe must catch), is refused (distribution 2.8), or finds nothing.
   */
  tagDelete?: 'exact' | 'manifest' | 'unsupported' | 'not-found';
  /** The tag delete of the user's tag finds it gone (it was removed in between). */
  userTagGone?: boolean;
  /** The tag delete works on the probe but is refused on the user's tag. */
  userTagRefused?: boolean;
  /** What the registry answers for a PUT of a user tag (default: the digest of the bytes). */
  stores?: (bytes: Buffer) => string;
  /** Where a user tag points after the PUT (default: what was stored). */
  after?: (stored: string, bytes: Buffer) => string | undefined;
}

const isProbe = (reference: string) => reference.startsWith('krill-probe-');

function registry(script: Script) {
  const calls: string[] = [];
  /** The flags of every request: an untag must not be cut by Ctrl-C between its steps. */
  const flags: Array<{ uninterruptible?: boolean } | undefined> = [];
  let tag: string | undefined = 'before' in script ? script.before : image.digest;
  const probes = new Map<string, string>();
  const probeManifests = new Set<string>();
  const manifests = new Set<string>([image.digest]);
  const putBytes: number[] = [];
  // Probe names and digests are random: the log names them "probe" and "probe-manifest".
  const named = (reference: string) =>
    isProbe(reference) ? 'probe' : probeManifests.has(reference) ? 'probe-manifest' : reference;
  const log = (call: string, reference: string, f?: { uninterruptible?: boolean }) => {
    calls.push(`${call} ${named(reference)}`);
    flags.push(f);
  };
  const api = {
    host: 'r.example',
    digestOf: async (_repository: string, reference: string, f?: { uninterruptible?: boolean }) => {
      log('HEAD', reference, f);
      if (reference.startsWith('sha256:')) return manifests.has(reference) ? reference : undefined;
      return isProbe(reference) ? probes.get(reference) : tag;
    },
    deleteTag: async (_repository: string, reference: string, f?: { uninterruptible?: boolean }) => {
      log('DELETE tag', reference, f);
      const mode = script.tagDelete ?? 'unsupported';
      if (mode === 'unsupported' || mode === 'not-found') return mode;
      if (!isProbe(reference) && script.userTagGone) return 'not-found';
      if (!isProbe(reference) && script.userTagRefused) return 'unsupported';
      const digest = isProbe(reference) ? probes.get(reference) : tag;
      if (isProbe(reference)) probes.delete(reference);
      else tag = undefined;
      if (mode === 'manifest' && digest !== undefined) {
        manifests.delete(digest);
        for (const [name, at] of probes) if (at === digest) probes.delete(name);
        if (tag === digest) tag = undefined;
      }
      return 'deleted';
    },
    putManifest: async (
      _repository: string,
      reference: string,
      bytes: Buffer,
      _mediaType: string,
      f?: { uninterruptible?: boolean },
    ) => {
      if (isProbe(reference)) probeManifests.add(computeDigest(bytes));
      log('PUT', reference, f);
      putBytes.push(bytes.length);
      if (isProbe(reference)) {
        probes.set(reference, computeDigest(bytes));
        manifests.add(computeDigest(bytes));
        return computeDigest(bytes);
      }
      const stored = script.stores ? script.stores(bytes) : computeDigest(bytes);
      manifests.add(stored);
      tag = script.after ? script.after(stored, bytes) : stored;
      return stored;
    },
    deleteManifest: async (_repository: string, digest: string, f?: { uninterruptible?: boolean }) => {
      log('DELETE', digest, f);
      const had = manifests.delete(digest);
      if (tag === digest) tag = undefined;
      for (const [name, at] of probes) if (at === digest) probes.delete(name);
      return had ? ('deleted' as const) : ('not-found' as const);
    },
  } as unknown as RegistryApi;
  const scratch = () => putBytes.reduce((a, b) => a + b, 0);
  return { api, calls, flags, tag: () => tag, probes, scratch, repush: () => void (tag = image.digest) };
}

/** What the probe sends: its throwaway under a probe tag, the tag delete, the checks, the cleanup. */
const EXACT_PROBE = ['PUT probe', 'DELETE tag probe', 'HEAD probe', 'HEAD probe-manifest', 'DELETE probe-manifest'];
const REFUSED_PROBE = ['PUT probe', 'DELETE tag probe', 'DELETE probe-manifest'];

describe('Untagger', () => {
  it('a tag that moved since the plan is left alone: "moved", nothing sent for it but the HEAD', async () => {
    const r = registry({ before: `sha256:${'e'.repeat(64)}` });
    expect(await new Untagger(r.api).untag('apps/web', 'v1', image)).toBe('moved');
    expect(r.calls).toEqual([...REFUSED_PROBE, 'HEAD v1']);
  });

  it('a tag already gone is "already-gone", nothing sent for it but the HEAD', async () => {
    const r = registry({ before: undefined });
    expect(await new Untagger(r.api).untag('apps/web', 'v1', image)).toBe('already-gone');
    expect(r.calls).toEqual([...REFUSED_PROBE, 'HEAD v1']);
  });

  it('the OCI tag delete where the probe showed it removes exactly the tag, probed once per run', async () => {
    const r = registry({ tagDelete: 'exact' });
    const untagger = new Untagger(r.api);
    expect(await untagger.untag('apps/web', 'v1', image)).toBe('untagged');
    expect(r.calls).toEqual([...EXACT_PROBE, 'HEAD v1', 'DELETE tag v1']);
    expect(r.probes.size).toBe(0); // the probe cleaned up after itself
    expect(untagger.scratchBytes).toBeGreaterThan(0); // the probe's throwaway, for the GC figure
    r.repush();
    expect(await untagger.untag('apps/web', 'v2', image)).toBe('untagged');
    expect(r.calls.slice(EXACT_PROBE.length + 2)).toEqual(['HEAD v2', 'DELETE tag v2']); // no second probe
    expect(r.flags.map((f) => f?.uninterruptible)).toEqual(r.calls.map(() => true));
    const gone = registry({ tagDelete: 'exact', userTagGone: true });
    expect(await new Untagger(gone.api).untag('apps/web', 'v1', image)).toBe('already-gone');
  });

  it('a tag delete the probe passed but the real tag refuses falls back to the throwaway, from then on', async () => {
    const r = registry({ tagDelete: 'exact', userTagRefused: true });
    const untagger = new Untagger(r.api);
    expect(await untagger.untag('apps/web', 'v1', image)).toBe('untagged');
    expect(r.calls.slice(EXACT_PROBE.length, EXACT_PROBE.length + 3)).toEqual(['HEAD v1', 'DELETE tag v1', 'PUT v1']);
    r.repush();
    r.calls.length = 0;
    expect(await untagger.untag('apps/web', 'v2', image)).toBe('untagged');
    expect(r.calls.slice(0, 2)).toEqual(['HEAD v2', 'PUT v2']);
  });

  it('a registry whose tag delete removes the manifest (and every sibling tag) is caught by the probe', async () => {
    const r = registry({ tagDelete: 'manifest' });
    expect(await new Untagger(r.api).untag('apps/web', 'v1', image)).toBe('untagged');
    expect(r.calls.slice(0, 4)).toEqual(['PUT probe', 'DELETE tag probe', 'HEAD probe', 'HEAD probe-manifest']);
    expect(r.calls).not.toContain('DELETE tag v1');
    expect(r.calls).toContain('PUT v1'); // the throwaway fallback instead
    expect(r.calls).not.toContain(`DELETE ${image.digest}`);
  });

  it('without it: a throwaway on the tag, checked to be stored under the tag, then deleted by digest', async () => {
    const r = registry({ tagDelete: 'unsupported' });
    const untagger = new Untagger(r.api);
    expect(await untagger.untag('apps/web', 'v1', image)).toBe('untagged');
    const put = r.calls.indexOf('PUT v1');
    expect(r.calls.slice(0, put + 1)).toEqual([...REFUSED_PROBE, 'HEAD v1', 'PUT v1']);
    expect(r.calls[put + 1]).toBe('HEAD v1');
    expect(r.calls[put + 2]).toMatch(/^DELETE sha256:[0-9a-f]{64}$/);
    expect(r.calls[put + 2]).not.toBe(`DELETE ${image.digest}`); // never the original
    expect(r.tag()).toBeUndefined();
    expect(untagger.scratchBytes).toBe(r.scratch()); // the probe's throwaway and the tag's, for the GC figure
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
