import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import type { TestRegistry } from './registry.js';

/**
 * Builds deterministic images (chosen layers, `created` dates, platforms; Docker schema2 or OCI)
 * and pushes them over the registry API, the way `docker push` does. Test code, independent of
 * krill's own client, so tests check krill against the server rather than against itself.
 */

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const ACCEPT_ALL = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(', ');

export interface Blob {
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

export interface BuiltManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  blobs: Blob[];
  children: BuiltManifest[];
  platform?: { os: string; architecture: string; variant?: string };
}

export interface ImageSpec {
  /** ISO date, or null for a config without `created`. */
  created?: string | null;
  /** Layer contents; each distinct content is one blob (shared across images when equal). */
  layers?: Array<string | Buffer>;
  os?: string;
  architecture?: string;
  variant?: string;
  format?: 'docker' | 'oci';
  labels?: Record<string, string>;
  author?: string;
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blob(bytes: Buffer, mediaType: string): Blob {
  return { digest: sha256(bytes), bytes, mediaType };
}

export function buildImage(spec: ImageSpec = {}): BuiltManifest {
  const format = spec.format ?? 'docker';
  const layerType =
    format === 'oci'
      ? 'application/vnd.oci.image.layer.v1.tar+gzip'
      : 'application/vnd.docker.image.rootfs.diff.tar.gzip';
  const layers = (spec.layers ?? ['base layer']).map((content) =>
    blob(Buffer.isBuffer(content) ? content : Buffer.from(content), layerType),
  );
  const config: Record<string, unknown> = {
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
    ...(spec.created === null ? {} : { created: spec.created ?? '2024-01-01T00:00:00Z' }),
    ...(spec.author ? { author: spec.author } : {}),
    docker_version: '24.0.7',
    config: { Labels: spec.labels ?? null },
    // diff_ids name the uncompressed layers; engines check them when a layer is a real tar.gz.
    rootfs: {
      type: 'layers',
      diff_ids: layers.map((l) =>
        l.bytes[0] === 0x1f && l.bytes[1] === 0x8b ? sha256(gunzipSync(l.bytes)) : l.digest,
      ),
    },
    history: layers.map((_, i) => ({ created_by: `step ${i}` })),
  };
  const configBlob = blob(
    Buffer.from(JSON.stringify(config)),
    format === 'oci' ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
  );
  const mediaType = format === 'oci' ? OCI_MANIFEST : DOCKER_MANIFEST;
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: configBlob.mediaType, digest: configBlob.digest, size: configBlob.bytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  return {
    digest: sha256(bytes),
    mediaType,
    bytes,
    blobs: [configBlob, ...layers],
    children: [],
    platform: {
      os: spec.os ?? 'linux',
      architecture: spec.architecture ?? 'amd64',
      ...(spec.variant ? { variant: spec.variant } : {}),
    },
  };
}

/** A multi-arch index; `attestation` adds a BuildKit-style unknown/unknown entry. */
export function buildIndex(
  children: BuiltManifest[],
  options: { format?: 'docker' | 'oci'; attestation?: BuiltManifest } = {},
): BuiltManifest {
  const mediaType = options.format === 'docker' ? DOCKER_LIST : OCI_INDEX;
  const entries: Array<Record<string, unknown>> = children.map((c) => ({
    mediaType: c.mediaType,
    digest: c.digest,
    size: c.bytes.length,
    platform: c.platform,
  }));
  const all = [...children];
  if (options.attestation) {
    entries.push({
      mediaType: options.attestation.mediaType,
      digest: options.attestation.digest,
      size: options.attestation.bytes.length,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': children[0]?.digest ?? '',
      },
    });
    all.push(options.attestation);
  }
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: entries }, null, 2));
  return { digest: sha256(bytes), mediaType, bytes, blobs: [], children: all };
}

export class Pusher {
  /**
   * Uploads of one digest run one after another: distribution 2.8 can briefly report a blob as
   * unknown while two uploads of the same content commit at once (seen when seeding concurrently).
   */
  readonly #blobQueue = new Map<string, Promise<void>>();

  constructor(private readonly registry: Pick<TestRegistry, 'url' | 'adminAuth' | 'dispatcher'>) {}

  #headers(repository: string, extra: Record<string, string> = {}): Record<string, string> {
    const auth = this.registry.adminAuth(repository);
    return { ...extra, ...(auth ? { authorization: auth } : {}) };
  }

  async #send(method: string, path: string, repository: string, headers: Record<string, string> = {}, body?: Buffer) {
    const url = path.startsWith('http') ? path : `${this.registry.url}${path}`;
    const res = await request(url, {
      method: method as 'GET',
      headers: this.#headers(repository, headers),
      body: body ?? null,
      dispatcher: this.registry.dispatcher,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  }

  async pushBlob(repository: string, b: Blob, options: { skipHead?: boolean } = {}): Promise<void> {
    const previous = this.#blobQueue.get(b.digest) ?? Promise.resolve();
    const mine = previous.catch(() => {}).then(() => this.#uploadBlob(repository, b, options));
    this.#blobQueue.set(b.digest, mine);
    return mine;
  }

  async #uploadBlob(repository: string, b: Blob, options: { skipHead?: boolean }): Promise<void> {
    if (!options.skipHead) {
      const head = await this.#send('HEAD', `/v2/${repository}/blobs/${b.digest}`, repository);
      if (head.status === 200) return;
    }
    const start = await this.#send('POST', `/v2/${repository}/blobs/uploads/`, repository);
    if (start.status !== 202) throw new Error(`blob upload start answered ${start.status}: ${start.text}`);
    const location = new URL(String(start.headers.location), this.registry.url);
    location.searchParams.set('digest', b.digest);
    const put = await this.#send(
      'PUT',
      location.href,
      repository,
      { 'content-type': 'application/octet-stream' },
      b.bytes,
    );
    if (put.status !== 201) throw new Error(`blob upload answered ${put.status}: ${put.text}`);
  }

  /** Cross-repository mount (registry-side copy); throws unless the registry mounted it. */
  async mountBlob(repository: string, digest: string, from: string): Promise<void> {
    const res = await this.#send('POST', `/v2/${repository}/blobs/uploads/?mount=${digest}&from=${from}`, repository);
    if (res.status !== 201) throw new Error(`mount answered ${res.status}: ${res.text}`);
  }

  async pushManifest(
    repository: string,
    m: BuiltManifest,
    reference: string = m.digest,
    options: { skipBlobs?: string[]; skipHead?: boolean } = {},
  ): Promise<void> {
    // Children and blobs in parallel (the seeding of most tests is request latency, one after another).
    await Promise.all(m.children.map((child) => this.pushManifest(repository, child, child.digest, options)));
    const blobs = m.blobs.filter((b) => !options.skipBlobs?.includes(b.digest));
    await Promise.all(blobs.map((b) => this.pushBlob(repository, b, options)));
    const res = await this.#send(
      'PUT',
      `/v2/${repository}/manifests/${reference}`,
      repository,
      { 'content-type': m.mediaType },
      m.bytes,
    );
    if (res.status !== 201)
      throw new Error(`manifest PUT ${repository}:${reference} answered ${res.status}: ${res.text}`);
  }

  /** Pushes the manifest (children and blobs first) under each tag. */
  async push(repository: string, m: BuiltManifest, ...tags: string[]): Promise<void> {
    await this.pushTagged(repository, m, tags);
  }

  async pushTagged(
    repository: string,
    m: BuiltManifest,
    tags: string[],
    options: { skipBlobs?: string[]; skipHead?: boolean } = {},
  ): Promise<void> {
    await this.pushManifest(repository, m, tags[0] ?? m.digest, options);
    for (const tag of tags.slice(1)) {
      const res = await this.#send(
        'PUT',
        `/v2/${repository}/manifests/${tag}`,
        repository,
        { 'content-type': m.mediaType },
        m.bytes,
      );
      if (res.status !== 201) throw new Error(`manifest PUT ${repository}:${tag} answered ${res.status}`);
    }
  }

  /** Tags as the registry lists them (checked through the API, not through krill). */
  async tags(repository: string): Promise<string[]> {
    const res = await this.#send('GET', `/v2/${repository}/tags/list`, repository);
    if (res.status !== 200) throw new Error(`tags/list answered ${res.status}`);
    return ((JSON.parse(res.text) as { tags: string[] | null }).tags ?? []).sort();
  }

  /** Digest a reference resolves to with the full Accept list, or undefined on 404. */
  async resolve(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.#send('HEAD', `/v2/${repository}/manifests/${reference}`, repository, {
      accept: ACCEPT_ALL,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`HEAD manifest answered ${res.status}`);
    return String(res.headers['docker-content-digest']);
  }
}

export interface ArtifactSpec {
  /** OCI 1.1 `artifactType` (omitted: the config media type types the artifact, like Helm). */
  artifactType?: string;
  /** The manifest this artifact refers to (a signature's image). */
  subject?: BuiltManifest;
  /** Config media type and bytes (default: the OCI empty config `{}`). */
  config?: { mediaType: string; bytes: Buffer };
  layers?: Array<{ mediaType: string; bytes: Buffer }>;
  annotations?: Record<string, string>;
}

/** An OCI 1.1 artifact manifest: cosign v3 bundles, SBOMs, Helm charts, WASM modules. */
export function buildArtifact(spec: ArtifactSpec): BuiltManifest {
  const config = spec.config
    ? blob(spec.config.bytes, spec.config.mediaType)
    : blob(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const layers = (spec.layers ?? []).map((l) => blob(l.bytes, l.mediaType));
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(spec.artifactType ? { artifactType: spec.artifactType } : {}),
    config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
    ...(spec.subject
      ? { subject: { mediaType: spec.subject.mediaType, digest: spec.subject.digest, size: spec.subject.bytes.length } }
      : {}),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { digest: sha256(bytes), mediaType: OCI_MANIFEST, bytes, blobs: [config, ...layers], children: [] };
}

/** The OCI 1.1 fallback referrers index of a subject: push it under `fallbackTagOf(subject)`. */
export function buildReferrersIndex(referrers: BuiltManifest[]): BuiltManifest {
  const entries = referrers.map((r) => {
    const doc = JSON.parse(r.bytes.toString('utf8')) as { artifactType?: string; config: { mediaType: string } };
    return {
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.bytes.length,
      artifactType: doc.artifactType ?? doc.config.mediaType,
    };
  });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries }));
  return { digest: sha256(bytes), mediaType: OCI_INDEX, bytes, blobs: [], children: referrers };
}

export const fallbackTagOf = (m: BuiltManifest) => m.digest.replace(':', '-');
