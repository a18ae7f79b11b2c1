import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePattern } from '../../src/policy/rules.js';
import { ContentCache } from '../../src/registry/content-cache.js';
import { computeDigest, matchesDigest } from '../../src/manifest/digest.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import { parseRegistryAddress } from '../../src/ref/reference.js';
import { redactUrl } from '../../src/http/redact.js';
import { escapeControl } from '../../src/text.js';
import { parsePlanFile } from '../../src/plan/plan-file.js';
import { formatTable } from '../../src/cli/render.js';

// Everything from outside is hostile until validated: manifests, digests, URLs, names on a terminal.
const layer = (digest: unknown, size: unknown) => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest,
  size,
});
const manifest = (layers: unknown[]) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: layer(computeDigest(Buffer.from('{}')), 2),
      layers,
    }),
  );

describe('manifest descriptors from the network', () => {
  it.each([
    [
      'a digest with path characters',
      layer('sha256:../../../victim/app/manifests/latest', 1),
      /is not a sha256 or sha512 digest/,
    ],
    ['an unknown algorithm', layer(`md5:${'a'.repeat(32)}`, 1), /is not a sha256 or sha512 digest/],
    ['a negative size', layer(computeDigest(Buffer.from('x')), -1), /invalid size -1/],
    ['a fractional size', layer(computeDigest(Buffer.from('x')), 1.5), /invalid size 1\.5/],
    ['a size beyond MAX_SAFE_INTEGER', layer(computeDigest(Buffer.from('x')), 2 ** 60), /invalid size/],
  ])('%s makes the manifest invalid', (_name, bad, message) => {
    expect(() => parseManifest(manifest([bad]), undefined, 'reg/repo:tag')).toThrow(message);
  });

  it('keeps foreign-layer urls (so copy skips them) and annotations', () => {
    const foreign = { ...layer(computeDigest(Buffer.from('w')), 1), urls: ['https://mcr.microsoft.com/x'] };
    const parsed = parseManifest(manifest([foreign]), undefined, 'w');
    expect(parsed.kind === 'image' && parsed.layers[0]!.urls).toEqual(['https://mcr.microsoft.com/x']);
  });
});

describe('digests', () => {
  it('verifies sha512 as well as sha256, and refuses anything else', () => {
    const bytes = Buffer.from('hello');
    expect(matchesDigest(bytes, computeDigest(bytes, 'sha512'))).toBe(true);
    expect(matchesDigest(bytes, `sha512:${'0'.repeat(128)}`)).toBe(false);
    expect(matchesDigest(bytes, 'md5:5d41402abc4b2a76b9719d911017c592')).toBe(false);
  });
});

describe('registry addresses', () => {
  it.each([
    ['registry.example.com:99999', /port 99999 is outside 1-65535/],
    ['[1::2::3]:5000', /is not an IPv6 address/],
    ['http://user:s3cret@registry.example.com', /credentials in the URL are not accepted; pass --username/],
  ])('%s is a usage error', (input, message) => {
    expect(() => parseRegistryAddress(input)).toThrow(message);
    try {
      parseRegistryAddress(input);
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
  });
});

describe('redaction and escaping', () => {
  it('redacts signed URL parameters and user info', () => {
    const url = new URL(
      'https://u:p@bucket.s3.amazonaws.com/blob?X-Amz-Signature=abc&X-Amz-Credential=key&sig=azure&se=2026&X-Goog-Signature=g&plain=1',
    );
    const out = redactUrl(url);
    for (const secret of ['abc', '=key', 'azure', '=2026', '=g&', 'u:p@']) expect(out).not.toContain(secret);
    expect(out).toContain('plain=1');
  });

  it('escapes C0 and C1 control characters in terminal text', () => {
    expect(escapeControl('evil\x1b[2Jtag\x9b1m\x07')).toBe('evil\\x1b[2Jtag\\x9b1m\\x07');
    expect(formatTable(['TAG'], [['a\x1b]0;pwned\x07']])).toContain('a\\x1b]0;pwned\\x07');
  });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a plan file is any JSON: the tests break it on purpose
type Plan = any;

describe('saved plans are validated completely before any request', () => {
  const good = () => ({
    kind: 'krill-plan',
    version: 1,
    registry: { host: 'registry.example.com', scheme: 'https' },
    createdAt: '2026-11-23T00:00:00.000Z',
    reclaimableBytes: 10,
    assumption: null,
    repositories: [
      {
        repository: 'apps/web',
        keep: [{ tag: 'stable', digest: `sha256:${'a'.repeat(64)}`, reason: 'newest 1' }],
        delete: [{ tag: 'old', digest: `sha256:${'b'.repeat(64)}`, reason: 'old' }],
        actions: [{ kind: 'delete-manifest', digest: `sha256:${'b'.repeat(64)}`, tags: ['old'] }],
      },
    ],
  });

  it('accepts what --plan-out writes', () => {
    expect(parsePlanFile(JSON.stringify(good()), 'plan.json').repositories[0]!.actions).toHaveLength(1);
  });

  it.each([
    [
      'a digest with path characters',
      (p: Plan) => (p.repositories[0].actions[0].digest = 'sha256:../../x'),
      /\$\.repositories\[0\]\.actions\[0\]\.digest: .* is not a sha256 or sha512 digest/,
    ],
    [
      'a repository with ..',
      (p: Plan) => (p.repositories[0].repository = '../victim'),
      /\$\.repositories\[0\]\.repository: .* is not a valid repository/,
    ],
    [
      'a tag with a slash',
      (p: Plan) => (p.repositories[0].delete[0].tag = 'a/../b'),
      /\$\.repositories\[0\]\.delete\[0\]\.tag/,
    ],
    [
      'an unknown action',
      (p: Plan) => (p.repositories[0].actions[0].kind = 'wipe'),
      /actions\[0\]\.kind: expected "untag", "delete-manifest", "remove-dangling" or "unlist-referrer"/,
    ],
    ['a port out of range', (p: Plan) => (p.registry.host = 'registry.example.com:99999'), /\$\.registry\.host/],
    ['a missing keep list', (p: Plan) => delete p.repositories[0].keep, /\$\.repositories\[0\]\.keep: expected a list/],
    ['another version', (p: Plan) => (p.version = 2), /\$\.version: unsupported version 2/],
  ])('%s is a usage error naming the JSON path', (_name, mutate, message) => {
    const plan = good();
    mutate(plan);
    expect(() => parsePlanFile(JSON.stringify(plan), 'plan.json')).toThrow(message);
    try {
      parsePlanFile(JSON.stringify(plan), 'plan.json');
    } catch (error) {
      expect((error as { code: string }).code).toBe('USAGE');
    }
  });
});

describe('user regexes and local files', () => {
  it('a catastrophic regex runs in linear time (RE2), so it cannot freeze krill', () => {
    const pattern = compilePattern('(a+)+$', '--filter');
    // With V8's backtracking engine this single test takes longer than the age of the universe.
    expect(pattern.test(`${'a'.repeat(5000)}!`)).toBe(false);
    expect(() => compilePattern('(a)\\1', '--filter')).toThrow(/RE2 syntax \(no backreferences or lookaround\)/);
  });

  it('the cache directory is 0700 and its files 0600 (it holds configs of private images)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'krill-cache-')), 'krill');
    const cache = new ContentCache(dir);
    const bytes = Buffer.from('{"private":"config"}');
    cache.put(computeDigest(bytes), bytes);
    cache.flush();
    cache.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'packs')).mode & 0o777).toBe(0o700);
    for (const name of readdirSync(join(dir, 'packs')))
      expect(statSync(join(dir, 'packs', name)).mode & 0o777, name).toBe(0o600);
  });
});
