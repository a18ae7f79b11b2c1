import { Readable } from 'node:stream';
import type { Credentials } from '../auth/credentials.js';
import { AuthSession } from '../auth/session.js';
import {
  AbortedError,
  InvalidResponseError,
  NetworkError,
  RegistryError,
  UnsupportedError,
  isNotFound,
  parseRegistryErrors,
  TEMPORARY_STATUS,
} from '../errors.js';
import { callSignal } from '../http/call-scope.js';
import { nextLink } from '../http/link.js';
import type { HttpRequest, HttpResponse, StreamResponse, Transport } from '../http/transport.js';
import { discard, isNoTlsError, redactUrl } from '../http/transport.js';
import type { Descriptor, Manifest } from '../manifest/manifest.js';
import { parseManifest } from '../manifest/manifest.js';
import { DOCKER_SCHEMA1_SIGNED, MANIFEST_ACCEPT, OCI_INDEX } from '../manifest/media-types.js';
import type { RegistryAddress } from '../ref/reference.js';
import { apiHost, isValidRepository, isValidTag } from '../ref/reference.js';
import { computeDigest, digestLike, isDigest, matchesDigest } from '../manifest/digest.js';
import { escapeControl } from '../text.js';
import type { ContentCache } from './content-cache.js';

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
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** A registry that keeps sending `Link` pages is stopped here (10^8 tags at 1000 a page). */
const MAX_PAGES = 100_000;
/** Referrers of one digest: a handful in practice; a registry paging beyond this is stopped. */
const MAX_REFERRER_PAGES = 100;

/**
 * `/v2/<repo>/manifests/<ref>` from validated parts only. Names reach here from users (validated
 * by the reference parser) and from registries (tag lists, index children, headers); a name with
 * path characters (`../`, `%2e%2e`, `\`) must never become a different URL on the registry.
 */
function manifestPath(repository: string, reference: string): string {
  if (!isValidRepository(repository) || !(isValidTag(reference) || isDigest(reference))) {
    throw new InvalidResponseError(
      `refusing to send a request for the invalid name ${escapeControl(JSON.stringify(`${repository}:${reference}`).slice(0, 200))}`,
    );
  }
  return `/v2/${repository}/manifests/${reference}`;
}

function blobPath(repository: string, digest: string): string {
  if (!isValidRepository(repository) || !isDigest(digest)) {
    throw new InvalidResponseError(
      `refusing to send a request for the invalid blob ${escapeControl(JSON.stringify(`${repository}@${digest}`).slice(0, 200))}`,
    );
  }
  return `/v2/${repository}/blobs/${digest}`;
}

function repositoryPath(repository: string, rest: string): string {
  if (!isValidRepository(repository))
    throw new InvalidResponseError(
      `refusing to send a request for the invalid repository ${escapeControl(JSON.stringify(repository).slice(0, 200))}`,
    );
  return `/v2/${repository}/${rest}`;
}

export type Action = 'pull' | 'push' | 'delete';

export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Per-call request flags (see HttpRequest.uninterruptible). */
export interface RequestFlags {
  uninterruptible?: boolean;
}

interface RequestOptions extends RequestFlags {
  method: HttpRequest['method'];
  /** Path under the base URL, or an absolute URL (pagination). */
  path: string | URL;
  scope: string;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
  maxBodyBytes?: number;
  /** Statuses the caller handles itself instead of getting a RegistryError. */
  accept?: number[];
  /** See HttpRequest.idempotent. */
  idempotent?: boolean;
}

export class RegistryClient {
  readonly address: RegistryAddress;
  readonly #transport: Transport;
  readonly #auth: AuthSession;
  readonly #cache: ContentCache | undefined;
  readonly #pageSize: number;
  readonly #listLimits: ListLimits;
  #base: Promise<URL> | undefined;

  constructor(options: RegistryClientOptions) {
    this.address = options.address;
    this.#transport = options.transport;
    this.#cache = options.cache;
    this.#pageSize = options.pageSize ?? PAGE_SIZE;
    this.#listLimits = options.listLimits ?? LIST_LIMITS;
    this.#auth = new AuthSession(
      options.transport,
      options.address.host,
      options.credentials,
      options.address.scheme === 'http',
    );
  }

  get host(): string {
    return this.address.host;
  }

  /** `GET /v2/`: finds the scheme (once) and learns the auth challenge before real requests. */
  async ping(): Promise<URL> {
    for (let attempt = 1; ; attempt++) {
      // An interrupted ping is forgotten, so the next call pings again.
      const base = (this.#base ??= this.#resolveBase().catch((error: unknown) => {
        if (error instanceof AbortedError) this.#base = undefined;
        throw error;
      }));
      try {
        return await base;
      } catch (error) {
        // Another call's signal stopped the ping this one was waiting for: ping again (once).
        if (error instanceof AbortedError && attempt === 1 && !callSignal()?.aborted) continue;
        throw error;
      }
    }
  }

  async #resolveBase(): Promise<URL> {
    const host = apiHost(this.address);
    const tryScheme = async (scheme: 'https' | 'http'): Promise<URL> => {
      const base = new URL(`${scheme}://${host}/`);
      const res = await this.#transport.send({ method: 'GET', url: new URL('/v2/', base), headers: {} });
      if (res.status === 401) this.#auth.setChallenge(res.headers['www-authenticate']);
      else if (res.status !== 200) {
        throw new RegistryError(
          `${this.host} does not look like a registry: GET ${base.origin}/v2/ answered HTTP ${res.status}`,
          { status: res.status, errors: parseRegistryErrors(res.body.toString('utf8')), code: 'REGISTRY' },
        );
      }
      return base;
    };
    if (this.address.scheme === 'https') {
      try {
        return await tryScheme('https');
      } catch (error) {
        // docker's "server gave HTTP response to HTTPS client", said with the way out.
        if (error instanceof NetworkError && isNoTlsError(error.cause)) {
          throw new NetworkError(
            `${this.host} answered plain HTTP on its HTTPS port: pass --plain-http or use http://${this.host}`,
            { cause: error },
          );
        }
        throw error;
      }
    }
    if (this.address.scheme !== 'auto') return tryScheme(this.address.scheme);
    try {
      return await tryScheme('https');
    } catch (error) {
      // Loopback only: a server that does not speak TLS at all gets plain HTTP. A certificate
      // error is a TLS server we do not trust, never a reason to drop encryption.
      if (error instanceof NetworkError && isNoTlsError(error.cause)) {
        this.#transport.logger.debug(`${host} does not speak TLS; using plain HTTP (loopback)`);
        return tryScheme('http');
      }
      throw error;
    }
  }

  async #request(options: RequestOptions): Promise<HttpResponse> {
    return this.#authorized(options, (req) => this.#transport.send(req));
  }

  /** Like #request, but the answer body is a stream (blobs); error answers are read and mapped. */
  async #requestStream(options: RequestOptions): Promise<StreamResponse> {
    // An error answer comes back buffered (for #errorFor); #authorized throws before returning it.
    const res = await this.#authorized<StreamResponse | HttpResponse>(options, async (req) => {
      const res = await this.#transport.stream(req);
      if (res.status < 400 || res.status === 401 || options.accept?.includes(res.status)) return res;
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) if (chunks.push(chunk as Buffer) > 64) break;
      discard(res.body);
      return { ...res, body: Buffer.concat(chunks).subarray(0, 64 * 1024) };
    });
    return res as StreamResponse;
  }

  async #authorized<R extends { status: number; url: URL; headers: Record<string, string | undefined>; body: unknown }>(
    options: RequestOptions,
    send: (req: HttpRequest) => Promise<R>,
  ): Promise<R> {
    const base = await this.ping();
    const url = options.path instanceof URL ? options.path : new URL(options.path, base);
    let authorization = await this.#auth.authorization(options.scope);
    const replayable = !(options.body instanceof Readable);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...options.headers };
      if (authorization) headers.authorization = authorization;
      const res = await send({
        method: options.method,
        url,
        headers,
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(options.idempotent ? { idempotent: true } : {}),
        ...(options.uninterruptible ? { uninterruptible: true } : {}),
        maxBodyBytes: options.maxBodyBytes ?? MAX_MANIFEST_BYTES,
      });
      if (res.status === 401) {
        if (res.body instanceof Readable) discard(res.body);
        if (attempt > 0 || !replayable) throw this.#auth.refused(options.scope);
        authorization = await this.#auth.retryAuthorization(
          res.headers['www-authenticate'],
          options.scope,
          authorization,
        );
        continue;
      }
      if (res.status >= 400 && !options.accept?.includes(res.status)) {
        throw this.#errorFor(options, url, res as unknown as HttpResponse);
      }
      return res;
    }
  }

  #errorFor(options: RequestOptions, url: URL, res: HttpResponse): RegistryError {
    const errors = parseRegistryErrors(res.body.toString('utf8'));
    const first = errors[0];
    const what = first ? ` ${first.code}${first.message ? ` (${first.message})` : ''}` : '';
    let message = `${this.host}: ${options.method} ${url.pathname} answered HTTP ${res.status}${what}`;
    // The two "not found"s people meet first, in words (the request stays available with --verbose).
    const target = /^\/v2\/(.+)\/(manifests|tags)\/([^/]+)$/.exec(url.pathname);
    if (res.status === 404 && target && errors.some((e) => e.code === 'NAME_UNKNOWN')) {
      message = `repository ${target[1]} does not exist on ${this.host}`;
    } else if (res.status === 404 && target?.[2] === 'manifests' && errors.some((e) => e.code === 'MANIFEST_UNKNOWN')) {
      message = target[3]!.includes(':')
        ? `${target[1]} has no manifest ${target[3]}`
        : `${target[1]} has no tag ${target[3]}`;
    }
    if (res.status === 403)
      message += ` (check that the account has permission for ${options.scope.split(':').slice(1).join(' ')})`;
    if (res.status === 429) message += ' (rate limited: wait and try again, or log in for a higher limit)';
    if (TEMPORARY_STATUS.has(res.status)) message += '; gave up after retrying';
    return new RegistryError(message, { status: res.status, errors, method: options.method, url: redactUrl(url) });
  }

  /**
   * Which product serves this registry, where it matters to users (how garbage is collected): GitLab
   * hands out tokens at `/jwt/auth`, Harbor at `/service/token`. Known only after a request was
   * challenged; undefined for plain distribution and anonymous registries.
   */
  flavor(): 'gitlab' | 'harbor' | undefined {
    const realm = this.#auth.realm;
    if (realm === undefined) return undefined;
    const path = (() => {
      try {
        return new URL(realm).pathname;
      } catch {
        return '';
      }
    })();
    if (path.endsWith('/jwt/auth')) return 'gitlab';
    if (path.endsWith('/service/token')) return 'harbor';
    return undefined;
  }

  /**
   * What `docker login` checks: `GET /v2/` with the credentials (a token without any scope on token
   * registries). Throws an AuthError when the registry refuses them.
   */
  async checkCredentials(): Promise<void> {
    await this.#request({ method: 'GET', path: '/v2/', scope: '' });
  }

  /** Every repository in the catalog, following `Link` pages. */
  async listRepositories(): Promise<string[]> {
    return this.#paginate(`/v2/_catalog?n=${this.#pageSize}`, 'registry:catalog:*', 'repositories', isValidRepository);
  }

  /** Every tag of a repository, following `Link` pages; `"tags": null` (all tags deleted) is empty. */
  async listTags(repository: string): Promise<string[]> {
    return this.#paginate(
      repositoryPath(repository, `tags/list?n=${this.#pageSize}`),
      repositoryScope(repository, ['pull']),
      'tags',
      isValidTag,
    );
  }

  /**
   * Follows `Link` pages. Every item is data from the network: names that the reference grammar
   * rejects are skipped with a warning (nothing is ever sent for them). A page that brings nothing
   * new, a link back to a page already read, or more than MAX_PAGES pages end with an error.
   */
  async #paginate(
    first: string,
    scope: string,
    field: 'repositories' | 'tags',
    valid: (name: string) => boolean,
  ): Promise<string[]> {
    const items: string[] = [];
    const names = new Set<string>();
    let next: string | URL | undefined = first;
    const seen = new Set<string>();
    const limits = this.#listLimits;
    let bytes = 0;
    const stop = (what: string) =>
      new InvalidResponseError(
        `${this.host}: the ${field === 'tags' ? 'tag list' : 'catalog'} passed ${what} and still links to more pages; stopping (raise KRILL_MAX_LIST_ITEMS / KRILL_MAX_LIST_BYTES if it is real)`,
      );
    for (let pages = 0; next !== undefined; pages++) {
      if (pages >= MAX_PAGES)
        throw new InvalidResponseError(`${this.host}: more than ${MAX_PAGES} pages of ${field}; stopping`);
      const res = await this.#request({ method: 'GET', path: next, scope, maxBodyBytes: 64 * 1024 * 1024 });
      bytes += res.body.length;
      if (bytes >= limits.bytes && nextLink(res.headers.link, res.url)) throw stop(`${limits.bytes} bytes`);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
      } catch (cause) {
        throw new InvalidResponseError(`${this.host}: GET ${res.url.pathname} answered something that is not JSON`, {
          cause,
        });
      }
      const page = body[field];
      if (page !== null && page !== undefined && !Array.isArray(page)) {
        throw new InvalidResponseError(`${this.host}: GET ${res.url.pathname} answered "${field}" that is not a list`);
      }
      let fresh = 0;
      for (const item of page ?? []) {
        if (typeof item !== 'string' || names.has(item)) continue;
        if (names.size >= limits.items) throw stop(`${limits.items} names`);
        names.add(item);
        fresh++;
        if (valid(item)) items.push(item);
        else
          this.#transport.logger.warn(
            `${this.host}: skipping ${field === 'tags' ? 'tag' : 'repository'} ${escapeControl(JSON.stringify(item.slice(0, 200)))}: not a valid name`,
          );
      }
      const link = nextLink(res.headers.link, res.url);
      if (link && fresh === 0)
        throw new InvalidResponseError(
          `${this.host}: a page of ${field} brought nothing new but links to another; stopping`,
        );
      if (link && seen.has(link.href))
        throw new InvalidResponseError(`${this.host}: pagination loops back to ${link.pathname}${link.search}`);
      if (link) seen.add(link.href);
      next = link;
    }
    return items;
  }

  /** undefined until the first referrers request says whether this registry has the API. */
  #referrersApi: boolean | undefined;

  /**
   * The referrers of a digest through the OCI 1.1 referrers API (`GET /v2/<repo>/referrers/<digest>`,
   * distribution-spec 1.1 "Listing Referrers"), following `Link` pages; undefined when the registry
   * has no such API (distribution 2.8 and 3.x, Docker Hub answer 404: clients then read the fallback
   * tag). `artifactType` filters; a registry that did not apply it (no `OCI-Filters-Applied`) is
   * filtered here. The answer per registry is remembered, so a registry without the API costs one
   * request per run.
   */
  async listReferrers(repository: string, digest: string, artifactType?: string): Promise<Descriptor[] | undefined> {
    if (this.#referrersApi === false) return undefined;
    if (!isDigest(digest)) throw new InvalidResponseError(`refusing to list referrers of ${JSON.stringify(digest)}`);
    const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
    let next: string | URL | undefined = repositoryPath(repository, `referrers/${digest}${query}`);
    const out: Descriptor[] = [];
    const seen = new Set<string>();
    for (let pages = 0; next !== undefined; pages++) {
      if (pages >= MAX_REFERRER_PAGES)
        throw new InvalidResponseError(`${this.host}: more than ${MAX_REFERRER_PAGES} pages of referrers; stopping`);
      const res = await this.#request({
        method: 'GET',
        path: next,
        scope: repositoryScope(repository, ['pull']),
        headers: { accept: OCI_INDEX },
        accept: [400, 404, 405, 501],
      });
      if (res.status !== 200) {
        // 404 is "no API" (a registry with it answers 200 and an empty list for an unknown subject).
        if (pages > 0) throw new InvalidResponseError(`${this.host}: a referrers page answered HTTP ${res.status}`);
        this.#referrersApi = false;
        return undefined;
      }
      this.#referrersApi = true;
      const index = parseManifest(res.body, OCI_INDEX, `${this.host}/${repository} referrers of ${digest}`);
      if (index.kind !== 'index')
        throw new InvalidResponseError(`${this.host}: the referrers of ${digest} are not an image index`);
      const filtered = (res.headers['oci-filters-applied'] ?? '').split(',').some((f) => f.trim() === 'artifactType');
      for (const d of index.manifests) {
        if (artifactType !== undefined && !filtered && d.artifactType !== artifactType) continue;
        if (!seen.has(d.digest)) out.push(d);
        seen.add(d.digest);
      }
      const link = nextLink(res.headers.link, res.url);
      if (link && seen.has(`page ${link.href}`))
        throw new InvalidResponseError(`${this.host}: referrers pagination loops back to ${link.pathname}`);
      if (link) seen.add(`page ${link.href}`);
      next = link;
    }
    return out;
  }

  /**
   * Digest and media type of a manifest without its body. Registries that refuse HEAD (Nexus) or
   * omit Docker-Content-Digest get a GET instead, and the digest is computed from the bytes.
   */
  async headManifest(repository: string, reference: string, flags: RequestFlags = {}): Promise<ManifestHead> {
    const res = await this.#request({
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
    const res = await this.#request({
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
    const res = await this.#request({
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
      const res = await this.#request({
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
    const res = await this.#request({
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
    const res = await this.#request({
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
    const res = await this.#request({
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
    const res = await this.#request({
      method: 'HEAD',
      path: blobPath(repository, digest),
      scope: repositoryScope(repository, ['pull']),
      accept: [404],
    });
    return res.status === 404 ? undefined : Number(res.headers['content-length'] ?? 0);
  }

  /** A blob as a stream. The caller consumes or destroys it, and verifies its digest. */
  async openBlob(repository: string, digest: string): Promise<{ body: Readable; size: number | undefined }> {
    const res = await this.#requestStream({
      method: 'GET',
      path: blobPath(repository, digest),
      scope: repositoryScope(repository, ['pull']),
    });
    const length = res.headers['content-length'];
    return { body: res.body, size: length === undefined ? undefined : Number(length) };
  }

  /**
   * Cross-repository mount on this registry (`POST …/blobs/uploads/?mount=DIGEST&from=REPO`): 201
   * means done without moving a byte; 202 means the registry declined and opened an upload instead.
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<'mounted' | URL> {
    const res = await this.#request({
      method: 'POST',
      path: `${repositoryPath(repository, 'blobs/uploads/')}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      scope: `${repositoryScope(repository, ['pull', 'push'])} ${repositoryScope(from, ['pull'])}`,
      headers: { 'content-length': '0' },
      idempotent: true, // a second mount of the same blob is a no-op
    });
    if (res.status === 201) return 'mounted';
    return this.#uploadLocation(res);
  }

  async startUpload(repository: string): Promise<URL> {
    // A retried POST may leave a spare upload session behind; the registry expires it.
    const res = await this.#request({
      method: 'POST',
      path: repositoryPath(repository, 'blobs/uploads/'),
      scope: repositoryScope(repository, ['pull', 'push']),
      headers: { 'content-length': '0' },
      idempotent: true,
    });
    return this.#uploadLocation(res);
  }

  #uploadLocation(res: HttpResponse): URL {
    const location = res.headers.location;
    if (res.status !== 202 || !location)
      throw new InvalidResponseError(`${this.host}: blob upload answered HTTP ${res.status} without a Location`);
    const url = new URL(location, res.url);
    // The upload URL receives our credentials: it must stay on the registry.
    if (url.origin !== res.url.origin)
      throw new InvalidResponseError(
        `${this.host}: upload location points to ${url.origin}, off the registry; refusing to send credentials there`,
      );
    return url;
  }

  /** Monolithic upload of a streamed blob; the registry verifies the digest (400 DIGEST_INVALID otherwise). */
  async finishUpload(repository: string, location: URL, digest: string, body: Readable, size: number): Promise<void> {
    const url = new URL(location.href);
    url.searchParams.set('digest', digest);
    await this.#request({
      method: 'PUT',
      path: url,
      scope: repositoryScope(repository, ['pull', 'push']),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
    });
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
