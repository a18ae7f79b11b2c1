import { Readable } from 'node:stream';
import type { Credentials } from '../auth/credentials.js';
import { InvalidResponseError, UnsupportedError, isNotFound, parseRegistryErrors } from '../errors.js';
import type { HttpResponse, Transport } from '../http/transport.js';
import type { Descriptor, Manifest } from '../manifest/manifest.js';
import { parseManifest } from '../manifest/manifest.js';
import { DOCKER_SCHEMA1_SIGNED, MANIFEST_ACCEPT } from '../manifest/media-types.js';
import type { RegistryAddress } from '../ref/reference.js';
import { isValidRepository, isValidTag } from '../ref/reference.js';
import { computeDigest, digestLike, isDigest, matchesDigest } from '../manifest/digest.js';
import { escapeControl } from '../text.js';
import type { ContentCache } from './content-cache.js';
import type { RequestFlags } from './endpoint.js';
import { listReferrerPages, readNames } from './listing.js';
import { finishUpload, mountBlob, startUpload } from './upload.js';
import { RegistryEndpoint, blobPath, manifestPath, repositoryPath, repositoryScope } from './endpoint.js';

export type { RequestFlags } from './endpoint.js';

/**
 * The narrow registry API every command is built on (OCI distribution spec, "pull", "push",
 * "content discovery", "content management"). It owns scheme detection, authorization and error
 * mapping; it knows nothing about policies or rendering.
 */

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface FetchedManifest extends ManifestHead {
  bytes: Buffer;
  manifest: Manifest;
}

export interface RegistryClientOptions {
  address: RegistryAddress;
  transport: Transport;
  credentials?: Credentials | undefined;
  cache?: ContentCache | undefined;
  /** `n` for catalog and tag list pages (default 1000, the most distribution accepts). */
  pageSize?: number;
  /** Bounds on one tag list or catalog, however it is paged (default LIST_LIMITS). */
  listLimits?: ListLimits;
}

/** Bounds on one listing: distinct names, and bytes of all its pages together. */
export interface ListLimits {
  items: number;
  bytes: number;
}

/**
 * A registry whose `Link` pages never end (5,000 new names a page, forever) is stopped by these,
 * not only by MAX_PAGES: memory grows with names, not pages. Far above any real registry (the
 * largest repositories seen hold a few hundred thousand tags; a catalog of 10^6 repositories is
 * 260 MB of names at most). KRILL_MAX_LIST_ITEMS / KRILL_MAX_LIST_BYTES or `listLimits` raise them.
 */
export const LIST_LIMITS: ListLimits = { items: 2_000_000, bytes: 512 * 1024 * 1024 };

/** distribution answers 400 for n > 1000 on the catalog; ECR rejects it on tags. */
const PAGE_SIZE = 1000;
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export class RegistryClient {
  readonly address: RegistryAddress;
  readonly #http: RegistryEndpoint;
  readonly #cache: ContentCache | undefined;
  readonly #pageSize: number;
  readonly #listLimits: ListLimits;

  constructor(options: RegistryClientOptions) {
    this.address = options.address;
    this.#http = new RegistryEndpoint(options.address, options.transport, options.credentials);
    this.#cache = options.cache;
    this.#pageSize = options.pageSize ?? PAGE_SIZE;
    this.#listLimits = options.listLimits ?? LIST_LIMITS;
  }

  get host(): string {
    return this.address.host;
  }

  /** `GET /v2/`: finds the scheme (once) and learns the auth challenge before real requests. */
  ping(): Promise<URL> {
    return this.#http.ping();
  }

  /** GitLab or Harbor, from the token realm (see RegistryEndpoint.flavor). */
  flavor(): 'gitlab' | 'harbor' | undefined {
    return this.#http.flavor();
  }

  /** What `docker login` checks: `GET /v2/` with the credentials; an AuthError when refused. */
  checkCredentials(): Promise<void> {
    return this.#http.checkCredentials();
  }

  /** Every repository in the catalog, following `Link` pages. */
  async listRepositories(): Promise<string[]> {
    return readNames(
      this.#http,
      this.#listLimits,
      `/v2/_catalog?n=${this.#pageSize}`,
      'registry:catalog:*',
      'repositories',
      isValidRepository,
    );
  }

  /** Every tag of a repository, following `Link` pages; `"tags": null` (all tags deleted) is empty. */
  async listTags(repository: string): Promise<string[]> {
    return readNames(
      this.#http,
      this.#listLimits,
      repositoryPath(repository, `tags/list?n=${this.#pageSize}`),
      repositoryScope(repository, ['pull']),
      'tags',
      isValidTag,
    );
  }

  /** undefined until the first referrers request says whether this registry has the API. */
  #referrersApi: boolean | undefined;

  /**
   * The referrers of a digest through the OCI 1.1 referrers API (registry/listing.ts); undefined
   * when the registry has none. The answer per registry is remembered: a registry without the API
   * costs one request per run.
   */
  async listReferrers(repository: string, digest: string, artifactType?: string): Promise<Descriptor[] | undefined> {
    if (this.#referrersApi === false) return undefined;
    const found = await listReferrerPages(this.#http, repository, digest, artifactType);
    this.#referrersApi = found !== undefined;
    return found;
  }

  /**
   * Digest and media type of a manifest without its body. Registries that refuse HEAD (Nexus) or
   * omit Docker-Content-Digest get a GET instead, and the digest is computed from the bytes.
   */
  async headManifest(repository: string, reference: string, flags: RequestFlags = {}): Promise<ManifestHead> {
    const res = await this.#http.request({
      method: 'HEAD',
      path: manifestPath(repository, reference),
      scope: repositoryScope(repository, ['pull']),
      headers: { accept: MANIFEST_ACCEPT },
      accept: [405, 501],
      ...flags,
    });
    const digest = res.headers['docker-content-digest'];
    if (res.status >= 400 || !digest) return this.getManifest(repository, reference, flags);
    if (!isDigest(digest))
      throw new InvalidResponseError(
        `${this.host}/${repository}:${reference}: Docker-Content-Digest ${escapeControl(JSON.stringify(digest.slice(0, 160)))} is not a valid digest`,
      );
    if (isDigest(reference) && digest !== reference)
      throw new InvalidResponseError(
        `${this.host}/${repository}@${reference}: HEAD answered another digest (${digest})`,
      );
    return {
      digest,
      mediaType: contentType(res.headers['content-type']),
      size: Number(res.headers['content-length'] ?? 0),
    };
  }

  /** The digest a tag (or digest) resolves to, or undefined when the repository or tag does not exist. */
  async digestOf(repository: string, reference: string, flags: RequestFlags = {}): Promise<string | undefined> {
    try {
      return (await this.headManifest(repository, reference, flags)).digest;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** A manifest by tag or digest. By digest it comes from the cache when possible and is always verified. */
  async getManifest(repository: string, reference: string, flags: RequestFlags = {}): Promise<FetchedManifest> {
    const byDigest = reference.includes(':');
    const where = `${this.host}/${repository}${byDigest ? '@' : ':'}${reference}`;
    const path = manifestPath(repository, reference);
    if (byDigest) {
      const cached = this.#cache?.get(reference);
      if (cached) return toFetched(cached, reference, undefined, where);
    }
    const res = await this.#http.request({
      ...flags,
      method: 'GET',
      path,
      scope: repositoryScope(repository, ['pull']),
      headers: { accept: MANIFEST_ACCEPT },
    });
    const mediaType = contentType(res.headers['content-type']);
    const header = res.headers['docker-content-digest'];
    let digest: string;
    if (byDigest) {
      // Verified whatever the algorithm (sha256 or sha512; the reference grammar allows no other).
      const computed = digestLike(res.body, reference);
      if (computed !== reference)
        throw new InvalidResponseError(`${where}: the manifest served does not match its digest (got ${computed})`);
      digest = reference;
    } else if (header) {
      if (!isDigest(header))
        throw new InvalidResponseError(
          `${where}: Docker-Content-Digest ${escapeControl(JSON.stringify(header.slice(0, 160)))} is not a valid digest`,
        );
      // schema1 signed manifests are served with the signature, which their digest excludes.
      if (!matchesDigest(res.body, header) && mediaType !== DOCKER_SCHEMA1_SIGNED) {
        throw new InvalidResponseError(
          `${where}: Docker-Content-Digest ${header} does not match the manifest bytes (${digestLike(res.body, header)})`,
        );
      }
      digest = header;
    } else {
      digest = computeDigest(res.body);
    }
    if (matchesDigest(res.body, digest)) this.#cache?.put(digest, res.body);
    return toFetched(res.body, digest, mediaType, where);
  }

  /** A small blob (an image config) by digest: cached, size-limited and verified. */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const cached = this.#cache?.get(digest);
    if (cached) return cached;
    const res = await this.#http.request({
      method: 'GET',
      path: blobPath(repository, digest),
      scope: repositoryScope(repository, ['pull']),
      maxBodyBytes: MAX_CONFIG_BYTES,
    });
    if (!matchesDigest(res.body, digest)) {
      throw new InvalidResponseError(`${this.host}/${repository}: blob ${digest} does not match its digest`);
    }
    this.#cache?.put(digest, res.body);
    return res.body;
  }

  /**
   * Stores a manifest under a tag or digest; returns its digest as the registry computed it. Only
   * 201 Created is success (distribution spec "Pushing Manifests"): a redirect or any other 2xx/3xx
   * is a failure, never "stored". PUTs to one repository are serialised: distribution 2.8 rewrites
   * tag links in place, and concurrent manifest writes to one repository now and then answer 400
   * DIGEST_INVALID or leave a half-written link for a concurrent DELETE to trip on.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
    flags: RequestFlags = {},
  ): Promise<string> {
    const path = manifestPath(repository, reference);
    return this.#serialized(repository, async () => {
      const res = await this.#http.request({
        ...flags,
        method: 'PUT',
        path,
        scope: repositoryScope(repository, ['pull', 'push']),
        headers: { 'content-type': mediaType },
        body: bytes,
        idempotent: true, // the same bytes under the same reference
      });
      if (res.status !== 201)
        throw new InvalidResponseError(
          `${this.host}: PUT ${path} answered HTTP ${res.status}, not 201 Created; the manifest may not be stored`,
        );
      const digest = res.headers['docker-content-digest'];
      if (digest !== undefined && !isDigest(digest))
        throw new InvalidResponseError(`${this.host}: PUT ${path} answered an invalid Docker-Content-Digest`);
      return digest ?? computeDigest(bytes);
    });
  }

  readonly #writes = new Map<string, Promise<unknown>>();

  /** Runs `task` after every earlier write to the same repository has settled. */
  #serialized<T>(repository: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#writes.get(repository) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.catch(() => undefined);
    this.#writes.set(repository, settled);
    void settled.then(() => {
      if (this.#writes.get(repository) === settled) this.#writes.delete(repository);
    });
    return run;
  }

  /**
   * `DELETE /v2/<repo>/manifests/<digest>`: removes the manifest and, on distribution, every tag of
   * this repository that points at it. 404 means already gone (a rerun after an interruption).
   */
  async deleteManifest(repository: string, digest: string, flags: RequestFlags = {}): Promise<'deleted' | 'not-found'> {
    if (!isDigest(digest))
      throw new InvalidResponseError(
        `refusing to delete ${escapeControl(JSON.stringify(digest.slice(0, 160)))}: not a digest`,
      );
    const path = manifestPath(repository, digest);
    const res = await this.#http.request({
      ...flags,
      method: 'DELETE',
      path,
      scope: repositoryScope(repository, ['delete']),
      accept: [404, 405],
    });
    if (res.status === 405) throw this.#deletesDisabled(res);
    if (res.status === 404) return 'not-found';
    // 202 Accepted is the spec's only success: anything else (a redirect, 200 from a proxy page) is not a delete.
    if (res.status !== 202)
      throw new InvalidResponseError(
        `${this.host}: DELETE ${path} answered HTTP ${res.status}, not 202 Accepted; not counted as deleted`,
      );
    return 'deleted';
  }

  /**
   * The OCI 1.1 tag delete (`DELETE /v2/<repo>/manifests/<tag>`, 202). distribution 2.8 answers
   * 400 DIGEST_INVALID, and 405 with deletes disabled: both mean "not supported here".
   */
  async deleteTag(
    repository: string,
    tag: string,
    flags: RequestFlags = {},
  ): Promise<'deleted' | 'unsupported' | 'not-found'> {
    const res = await this.#http.request({
      ...flags,
      method: 'DELETE',
      path: manifestPath(repository, tag),
      scope: repositoryScope(repository, ['delete']),
      accept: [400, 404, 405, 501],
    });
    if (res.status === 202) return 'deleted';
    const errors = parseRegistryErrors(res.body.toString('utf8'));
    if (res.status === 404 && errors.some((e) => e.code === 'MANIFEST_UNKNOWN' || e.code === 'NAME_UNKNOWN'))
      return 'not-found';
    return 'unsupported';
  }

  /**
   * Whether this registry accepts deletes, found out without changing anything: a DELETE of a
   * digest that cannot exist answers 404 when deletes are enabled and 405 when they are not.
   * Auth refusals surface as AuthError (e.g. a GitLab job token outside its project).
   */
  async checkDeletesEnabled(repository: string): Promise<void> {
    const impossible = `sha256:${'0'.repeat(64)}`;
    const res = await this.#http.request({
      method: 'DELETE',
      path: manifestPath(repository, impossible),
      scope: repositoryScope(repository, ['delete']),
      accept: [400, 404, 405],
    });
    if (res.status === 405) throw this.#deletesDisabled(res);
  }

  #deletesDisabled(res: HttpResponse): UnsupportedError {
    const code = parseRegistryErrors(res.body.toString('utf8'))[0]?.code;
    return new UnsupportedError(
      `${this.host} does not allow deletes (HTTP 405${code ? ` ${code}` : ''}): enable them with storage.delete.enabled: true in the registry config (or REGISTRY_STORAGE_DELETE_ENABLED=true) and restart it; nothing was changed`,
    );
  }

  /** Size of a blob when the repository has it, else undefined. */
  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const res = await this.#http.request({
      method: 'HEAD',
      path: blobPath(repository, digest),
      scope: repositoryScope(repository, ['pull']),
      accept: [404],
    });
    return res.status === 404 ? undefined : Number(res.headers['content-length'] ?? 0);
  }

  /** A blob as a stream. The caller consumes or destroys it, and verifies its digest. */
  async openBlob(repository: string, digest: string): Promise<{ body: Readable; size: number | undefined }> {
    const res = await this.#http.requestStream({
      method: 'GET',
      path: blobPath(repository, digest),
      scope: repositoryScope(repository, ['pull']),
    });
    const length = res.headers['content-length'];
    return { body: res.body, size: length === undefined ? undefined : Number(length) };
  }

  /** Cross-repository mount (registry/upload.ts): 'mounted', or the upload the registry opened instead. */
  mountBlob(repository: string, digest: string, from: string): Promise<'mounted' | URL> {
    return mountBlob(this.#http, repository, digest, from);
  }

  startUpload(repository: string): Promise<URL> {
    return startUpload(this.#http, repository);
  }

  /** Monolithic upload of a streamed blob; the registry verifies the digest. */
  finishUpload(repository: string, location: URL, digest: string, body: Readable, size: number): Promise<void> {
    return finishUpload(this.#http, repository, location, digest, body, size);
  }

  /** Cache marker: see ContentCache.hasSeen. */
  cacheIsWarm(repository: string): boolean {
    return this.#cache?.hasSeen(`${this.host}/${repository}`) ?? false;
  }

  /** Marks the repository as read (written with the cache's next flush). */
  markCacheWarm(repository: string): void {
    this.#cache?.markSeen(`${this.host}/${repository}`);
  }
}

function contentType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim();
}

function toFetched(bytes: Buffer, digest: string, mediaType: string | undefined, where: string): FetchedManifest {
  const manifest = parseManifest(bytes, mediaType || undefined, where);
  return { digest, bytes, manifest, mediaType: manifest.mediaType, size: bytes.length };
}
