import { describe, expect, it } from 'vitest';
import {
  normalizeCreated,
  parseManifest,
  sumDistinctBlobs,
  isAttestationEntry,
  formatPlatform,
} from '../../src/manifest/manifest.js';
import { compareTagSummaries } from '../../src/registry/tag-summaries.js';
import type { TagSummary } from '../../src/registry/image-reader.js';
import { formatBytes, formatDate } from '../../src/cli/render.js';

const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

describe('manifest parsing', () => {
  it('recognises an OCI manifest without mediaType by its shape', () => {
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, config: { digest: d(1), size: 10 }, layers: [{ digest: d(2), size: 5 }] }),
    );
    expect(parseManifest(bytes, undefined, 'x')).toMatchObject({
      kind: 'image',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    });
  });

  it('parses an index with platforms and flags attestations', () => {
    const bytes = Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { digest: d(1), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
          { digest: d(2), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
        ],
      }),
    );
    const m = parseManifest(bytes, undefined, 'x');
    expect(m.kind).toBe('index');
    if (m.kind !== 'index') return;
    expect(formatPlatform(m.manifests[0]!.platform!)).toBe('linux/arm64/v8');
    expect(m.manifests.map(isAttestationEntry)).toEqual([false, true]);
  });

  it('rejects invalid JSON with a message naming the source', () => {
    expect(() => parseManifest(Buffer.from('<html>'), undefined, 'reg/x:1')).toThrow(
      'reg/x:1: manifest is not valid JSON',
    );
  });

  it('counts each blob once', () => {
    expect(
      sumDistinctBlobs([
        { mediaType: '', digest: d(1), size: 10 },
        { mediaType: '', digest: d(1), size: 10 },
        { mediaType: '', digest: d(2), size: 5 },
      ]),
    ).toBe(15);
  });

  it('treats missing, invalid and epoch-zero created dates as unknown', () => {
    expect(normalizeCreated('2024-01-02T03:04:05.123456789Z')).toBe('2024-01-02T03:04:05.123Z');
    expect(normalizeCreated(undefined)).toBeNull();
    expect(normalizeCreated('1970-01-01T00:00:00Z')).toBeNull();
    expect(normalizeCreated('yesterday')).toBeNull();
    expect(normalizeCreated('1980-01-01T00:00:01Z')).toBeNull(); // Cloud Native Buildpacks
  });
});

describe('ordering and rendering', () => {
  const row = (tag: string, created: string | null): TagSummary => ({
    tag,
    created,
    digest: d(1),
    mediaType: '',
    size: 0,
    platforms: [],
  });
  it('sorts newest first, ties by tag, unknown dates last', () => {
    const rows = [
      row('b', '2024-01-01'),
      row('z', null),
      row('a', '2024-01-01'),
      row('c', '2025-01-01'),
      row('y', null),
    ];
    expect(rows.sort(compareTagSummaries).map((r) => r.tag)).toEqual(['c', 'a', 'b', 'y', 'z']);
  });

  it('formats sizes in binary units and dates in UTC', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(286_544_855)).toBe('273.27 MiB');
    expect(formatDate('2017-09-24T16:36:00.000Z')).toBe('2017-09-24T16:36:00Z');
    expect(formatDate(null)).toBe('-');
  });
});
