import { InvalidResponseError } from '../errors.js';
import { nextLink } from '../http/link.js';
import type { HttpResponse } from '../http/transport.js';
import { isDigest } from '../manifest/digest.js';
import type { Descriptor } from '../manifest/manifest.js';
import { parseManifest } from '../manifest/manifest.js';
import { OCI_INDEX } from '../manifest/media-types.js';
import { EMPTY_CONFIG } from '../manifest/referrers.js';
import { escapeControl } from '../text.js';
import type { ListLimits } from './client.js';
import type { RegistryEndpoint } from './endpoint.js';
import { repositoryPath, repositoryScope } from './endpoint.js';
import { followPages } from './pages.js';

/** Catalogs, tag lists and referrers: the paged listings, every name checked before use. */

/** A registry that keeps sending `Link` pages is stopped here (10^8 tags at 1000 a page). */
const MAX_PAGES = 100_000;
/** Referrers of one digest: a handful in practice; a registry paging beyond this is stopped. */
const MAX_REFERRER_PAGES = 100;

/**
 * Follows `Link` pages. Every item is data from the network: names that the reference grammar
 * rejects are skipped with a warning (nothing is ever sent for them). A page that brings nothing
 * new, a link back to a page already read, or more than MAX_PAGES pages end with an error.
 */
export async function readNames(
  http: RegistryEndpoint,
  limits: ListLimits,
  first: string,
  scope: string,
  field: 'repositories' | 'tags',
  valid: (name: string) => boolean,
): Promise<string[]> {
  const items: string[] = [];
  const names = new Set<string>();
  let bytes = 0;
  const stop = (what: string) =>
    new InvalidResponseError(
      `${http.host}: the ${field === 'tags' ? 'tag list' : 'catalog'} passed ${what} and still links to more pages; stopping (raise KRILL_MAX_LIST_ITEMS / KRILL_MAX_LIST_BYTES if it is real)`,
    );
  await followPages(first, { host: http.host, items: field, maxPages: MAX_PAGES }, async (path) => {
    const res = await http.request({ method: 'GET', path, scope, maxBodyBytes: 64 * 1024 * 1024 });
    bytes += res.body.length;
    if (bytes >= limits.bytes && nextLink(res.headers.link, res.url)) throw stop(`${limits.bytes} bytes`);
    const page = jsonField(res, field, http.host);
    let fresh = 0;
    for (const item of page ?? []) {
      if (typeof item !== 'string' || names.has(item)) continue;
      if (names.size >= limits.items) throw stop(`${limits.items} names`);
      names.add(item);
      fresh++;
      if (valid(item)) items.push(item);
      else
        http.logger.warn(
          `${http.host}: skipping ${field === 'tags' ? 'tag' : 'repository'} ${escapeControl(JSON.stringify(item.slice(0, 200)))}: not a valid name`,
        );
    }
    return { url: res.url, link: res.headers.link, fresh };
  });
  return items;
}

/**
 * The referrers of a digest through the OCI 1.1 referrers API (`GET /v2/<repo>/referrers/<digest>`,
 * distribution-spec 1.1 "Listing Referrers"), following `Link` pages; undefined when the registry
 * has no such API (distribution 2.8 and 3.x, Docker Hub answer 404: clients then read the fallback
 * tag). `artifactType` filters; a registry that did not apply it (no `OCI-Filters-Applied`) is
 * filtered here.
 */
export async function listReferrerPages(
  http: RegistryEndpoint,
  repository: string,
  digest: string,
  artifactType: string | undefined,
): Promise<Descriptor[] | undefined> {
  if (!isDigest(digest)) throw new InvalidResponseError(`refusing to list referrers of ${JSON.stringify(digest)}`);
  const query = artifactType === undefined ? '' : `?artifactType=${encodeURIComponent(artifactType)}`;
  const out: Descriptor[] = [];
  const listed = new Set<string>();
  const what = { host: http.host, items: 'referrers', maxPages: MAX_REFERRER_PAGES };
  let api = true;
  await followPages(repositoryPath(repository, `referrers/${digest}${query}`), what, async (path, index) => {
    const res = await http.request({
      method: 'GET',
      path,
      scope: repositoryScope(repository, ['pull']),
      headers: { accept: OCI_INDEX },
      accept: [400, 404, 405, 501],
    });
    if (res.status !== 200) {
      // 404 is "no API" (a registry with it answers 200 and an empty list for an unknown subject).
      if (index > 0) throw new InvalidResponseError(`${http.host}: a referrers page answered HTTP ${res.status}`);
      api = false;
      return 'stop';
    }
    const page = parseManifest(res.body, OCI_INDEX, `${http.host}/${repository} referrers of ${digest}`);
    if (page.kind !== 'index')
      throw new InvalidResponseError(`${http.host}: the referrers of ${digest} are not an image index`);
    const filtered = (res.headers['oci-filters-applied'] ?? '').split(',').some((f) => f.trim() === 'artifactType');
    for (const d of page.manifests) {
      // Kept when unsure: a descriptor without a type, or with the empty config's, may be any type
      // (go-containerregistry's registry reports the config type, not the manifest's artifactType).
      if (artifactType !== undefined && !filtered && !mayBe(d, artifactType)) continue;
      if (!listed.has(d.digest)) out.push(d);
      listed.add(d.digest);
    }
    return { url: res.url, link: res.headers.link };
  });
  return api ? out : undefined;
}

/** A listing page's field: a list of names, or null/absent (distribution's `"tags": null`). */
function jsonField(res: HttpResponse, field: string, host: string): unknown[] | null | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  } catch (cause) {
    throw new InvalidResponseError(`${host}: GET ${res.url.pathname} answered something that is not JSON`, { cause });
  }
  const page = body[field];
  if (page !== null && page !== undefined && !Array.isArray(page))
    throw new InvalidResponseError(`${host}: GET ${res.url.pathname} answered "${field}" that is not a list`);
  return page as unknown[] | null | undefined;
}

/** Whether a referrer descriptor may be of `artifactType` (registry/referrers.ts settles doubts). */
function mayBe(d: Descriptor, artifactType: string): boolean {
  return d.artifactType === artifactType || d.artifactType === undefined || d.artifactType === EMPTY_CONFIG;
}
