import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/http/classify.js';
import { encodeRegistryAuth } from '../../src/engine/engine.js';
import { autoPrefix } from '../../src/sync/spec.js';
import { findPlatform, normalizePlatform, validatePlatform } from '../../src/manifest/manifest.js';
import type { IndexManifest } from '../../src/manifest/manifest.js';

// Issue 12's "wrong results", as unit rows (conventions of lstags, docker, containerd, RFC 9110).
describe('Retry-After', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
  it.each(['-1', '+1', '1.5', 'soon', 'Wed, 21 Oct 2015 07:28:10'])('%s falls back to backoff', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
  it('takes seconds and the three HTTP-date forms, all GMT', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:28:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed Oct 21 07:28:10 2015', now)).toBe(10_000);
  });
});

describe('X-Registry-Auth', () => {
  it('is base64url with padding, whatever the JSON length (docker and podman decode it so)', () => {
    for (const password of ['p', 'pw', 'pwd', 'pass']) {
      const encoded = encodeRegistryAuth({ username: 'u', password, serveraddress: 'r.example.com' });
      expect(encoded.length % 4).toBe(0);
      expect(encoded).not.toMatch(/[+/]/);
      expect(JSON.parse(Buffer.from(encoded, 'base64url').toString())).toMatchObject({ password });
    }
  });
});

describe('--prefix auto', () => {
  it("is lstags' push prefix: dots become slashes, the port goes", () => {
    expect(autoPrefix({ host: 'registry.example.com:5000', scheme: 'https' })).toBe('registry/example/com');
    expect(autoPrefix({ host: 'docker.io', scheme: 'https' })).toBe('registry/hub/docker/com');
    expect(autoPrefix({ host: '127.0.0.1:5000', scheme: 'auto' })).toBe('127/0/0/1');
  });
});

describe('--platform matches like docker and containerd', () => {
  const child = (os: string, architecture: string, variant?: string) => ({
    mediaType: 'x',
    digest: `sha256:${(architecture + (variant ?? '')).padEnd(64, '0')}`,
    size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
  });
  const index: IndexManifest = {
    kind: 'index',
    mediaType: 'x',
    manifests: [child('linux', 'amd64'), child('linux', 'arm64', 'v8'), child('linux', 'arm', 'v7')],
  };
  it.each([
    ['linux/arm64', 'arm64'],
    ['linux/arm64/v8', 'arm64'],
    ['linux/arm', 'arm'],
    ['amd64', 'amd64'],
  ])('%s', (wanted, arch) => {
    expect(findPlatform(index, validatePlatform(wanted), 'img').platform!.architecture).toBe(arch);
  });
  it('normalises default variants', () => {
    expect(normalizePlatform('linux/arm64')).toBe(normalizePlatform('linux/arm64/v8'));
    expect(normalizePlatform('AMD64')).toBe('linux/amd64');
    expect(() => validatePlatform('linux')).toThrow(/invalid --platform/);
  });
});
