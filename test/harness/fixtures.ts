import { parseManifest } from '../../src/manifest/manifest.js';
import type { FetchedManifest } from '../../src/registry/client.js';
import type { BuiltManifest } from './images.js';
import { Pusher, buildImage, buildIndex } from './images.js';
import type { TestRegistry } from './registry.js';

/**
 * The read-side scenario: schema2 and OCI images, two tags on one digest, a multi-arch index with
 * an attestation entry, a missing and an epoch-zero `created`.
 */
export interface WebFixture {
  repository: string;
  images: Record<string, BuiltManifest>;
  /** tag → manifest pushed under it */
  tags: Record<string, BuiltManifest>;
}

export async function seedWebRepository(registry: TestRegistry, repository = 'apps/web'): Promise<WebFixture> {
  const pusher = new Pusher(registry);
  const v1 = buildImage({
    created: '2024-01-01T10:00:00Z',
    layers: ['base-os', 'app v1'],
    author: 'Test Author <t@example.com>',
    labels: { 'org.opencontainers.image.version': '1.0.0' },
  });
  const v11 = buildImage({ created: '2024-02-01T10:00:00Z', layers: ['base-os', 'app v1.1'] });
  const v2 = buildImage({ created: '2024-03-01T10:00:00Z', layers: ['base-os', 'app v2', 'extra'], format: 'oci' });
  const amd64 = buildImage({ created: '2024-04-01T10:00:00Z', layers: ['base-os', 'app v3 amd64'], format: 'oci' });
  const arm64 = buildImage({
    created: '2024-04-02T10:00:00Z',
    layers: ['base-os arm', 'app v3 arm64'],
    format: 'oci',
    architecture: 'arm64',
    variant: 'v8',
  });
  const attestation = buildImage({
    created: '2024-04-02T10:00:00Z',
    layers: ['sbom'],
    format: 'oci',
    os: 'unknown',
    architecture: 'unknown',
  });
  const multi = buildIndex([amd64, arm64], { format: 'oci', attestation });
  const noDate = buildImage({ created: null, layers: ['no date'] });
  const epoch = buildImage({ created: '1970-01-01T00:00:00Z', layers: ['epoch'] });

  await pusher.push(repository, v1, '1.0.0');
  await pusher.push(repository, v11, '1.1.0', 'stable');
  await pusher.push(repository, v2, '2.0.0');
  await pusher.push(repository, multi, '3.0.0');
  await pusher.push(repository, noDate, 'nodate');
  await pusher.push(repository, epoch, 'epoch');
  return {
    repository,
    images: { v1, v11, v2, amd64, arm64, attestation, multi, noDate, epoch },
    tags: { '1.0.0': v1, '1.1.0': v11, stable: v11, '2.0.0': v2, '3.0.0': multi, nodate: noDate, epoch },
  };
}

/** `count` small repositories sharing one layer, pushed 8 at a time. */
export async function seedManyRepositories(registry: TestRegistry, prefix: string, count: number): Promise<string[]> {
  const pusher = new Pusher(registry);
  const names = Array.from({ length: count }, (_, i) => `${prefix}/r${String(i).padStart(4, '0')}`);
  const image = buildImage({ layers: ['shared tiny layer'] });
  for (let i = 0; i < names.length; i += 8) {
    await Promise.all(names.slice(i, i + 8).map((name) => pusher.push(name, image, 'latest')));
  }
  return names;
}

/** Size as `tags` defines it: distinct config and layer blobs, over every platform of an index. */
export function expectedSize(m: BuiltManifest): number {
  const blobs = new Map<string, number>();
  const visit = (x: BuiltManifest) => {
    if (x.platform?.os === 'unknown') return;
    for (const b of x.blobs) blobs.set(b.digest, b.bytes.length);
    for (const c of x.children) visit(c);
  };
  visit(m);
  return [...blobs.values()].reduce((a, b) => a + b, 0);
}

/**
 * The cleanup scenario: shared digests, equal and missing `created`, a multi-arch index, `latest`,
 * and cosign-style signature tags following their subjects.
 */
export interface ApiFixture {
  repository: string;
  images: Record<'a1' | 'a2' | 'a3' | 'a4' | 'amd64' | 'arm64' | 'idx' | 'nodate' | 'sigA1' | 'sigIdx', BuiltManifest>;
  tags: Record<string, BuiltManifest>;
}

export const sigTag = (m: BuiltManifest) => `${m.digest.replace(':', '-')}.sig`;

export async function seedApiRepository(
  registry: TestRegistry,
  repository = 'apps/api',
  salt = '',
): Promise<ApiFixture> {
  const pusher = new Pusher(registry);
  const base = `shared base ${salt}`;
  const a1 = buildImage({ created: '2024-01-01T00:00:00Z', layers: [base, `a1 ${salt}`] });
  const a2 = buildImage({ created: '2024-02-01T00:00:00Z', layers: [base, `a2 ${salt}`] });
  const a3 = buildImage({ created: '2024-03-01T00:00:00Z', layers: [base, `a3 ${salt}`] });
  const a4 = buildImage({ created: '2024-03-01T00:00:00Z', layers: [base, `a4 ${salt}`], format: 'oci' });
  const amd64 = buildImage({ created: '2024-04-01T00:00:00Z', layers: [base, `idx amd64 ${salt}`], format: 'oci' });
  const arm64 = buildImage({
    created: '2024-04-01T00:00:00Z',
    layers: [`arm base ${salt}`, `idx arm64 ${salt}`],
    format: 'oci',
    architecture: 'arm64',
    variant: 'v8',
  });
  const idx = buildIndex([amd64, arm64], { format: 'oci' });
  const nodate = buildImage({ created: null, layers: [base, `nodate ${salt}`] });
  const sigA1 = buildImage({ created: '2024-01-02T00:00:00Z', layers: [`signature of a1 ${salt}`], format: 'oci' });
  const sigIdx = buildImage({ created: '2024-04-02T00:00:00Z', layers: [`signature of idx ${salt}`], format: 'oci' });
  await Promise.all([
    pusher.push(repository, a1, '1.0.0'),
    pusher.push(repository, a2, '1.1.0', 'stable'),
    pusher.push(repository, a3, '1.2.0', 'latest'),
    pusher.push(repository, a4, '1.2.1'),
    pusher.push(repository, idx, '2.0.0'),
    pusher.push(repository, nodate, 'nodate'),
    pusher.push(repository, sigA1, sigTag(a1)),
    pusher.push(repository, sigIdx, sigTag(idx)),
  ]);
  return {
    repository,
    images: { a1, a2, a3, a4, amd64, arm64, idx, nodate, sigA1, sigIdx },
    tags: {
      '1.0.0': a1,
      '1.1.0': a2,
      stable: a2,
      '1.2.0': a3,
      latest: a3,
      '1.2.1': a4,
      '2.0.0': idx,
      nodate,
      [sigTag(a1)]: sigA1,
      [sigTag(idx)]: sigIdx,
    },
  };
}

/**
 * `images` images an hour apart (every tenth a two-platform index), each under `vN` and `build-N`:
 * the bulk scenario of the fault and interruption suites.
 */
export async function seedNumberedImages(registry: TestRegistry, repository: string, images: number): Promise<void> {
  const pusher = new Pusher(registry);
  const work = Array.from({ length: images }, (_, i) => i);
  for (let i = 0; i < work.length; i += 8) {
    await Promise.all(
      work.slice(i, i + 8).map(async (n) => {
        const created = new Date(Date.UTC(2024, 0, 1) + n * 3_600_000).toISOString();
        const m =
          n % 10 === 0
            ? buildIndex([
                buildImage({ created, layers: ['base', `${repository} ${n} amd`], format: 'oci' }),
                buildImage({
                  created,
                  layers: ['arm base', `${repository} ${n} arm`],
                  format: 'oci',
                  architecture: 'arm64',
                }),
              ])
            : buildImage({ created, layers: ['base', `${repository} ${n}`] });
        await pusher.push(repository, m, `v${n}`, `build-${n}`);
      }),
    );
  }
}

/** What `RegistryClient.getManifest` returns, for in-memory `RegistryApi` fakes in unit tests. */
export function fetchedManifest(bytes: Buffer, mediaType: string, digest: string): FetchedManifest {
  return { digest, bytes, mediaType, size: bytes.length, manifest: parseManifest(bytes, mediaType, 'test') };
}
