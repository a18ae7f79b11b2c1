import type { Readable } from 'node:stream';
import { InvalidResponseError } from '../errors.js';
import type { HttpResponse } from '../http/transport.js';
import type { RegistryEndpoint } from './endpoint.js';
import { repositoryPath, repositoryScope } from './endpoint.js';

/** Pushing blobs (distribution-spec "Pushing blobs"): mount, open an upload, upload in one PUT. */

/**
 * Cross-repository mount on this registry (`POST …/blobs/uploads/?mount=DIGEST&from=REPO`): 201
 * means done without moving a byte; 202 means the registry declined and opened an upload instead.
 */
export async function mountBlob(
  http: RegistryEndpoint,
  repository: string,
  digest: string,
  from: string,
): Promise<'mounted' | URL> {
  const res = await http.request({
    method: 'POST',
    path: `${repositoryPath(repository, 'blobs/uploads/')}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
    scope: `${repositoryScope(repository, ['pull', 'push'])} ${repositoryScope(from, ['pull'])}`,
    headers: { 'content-length': '0' },
    idempotent: true, // a second mount of the same blob is a no-op
  });
  if (res.status === 201) return 'mounted';
  return uploadLocation(http.host, res);
}

export async function startUpload(http: RegistryEndpoint, repository: string): Promise<URL> {
  // A retried POST may leave a spare upload session behind; the registry expires it.
  const res = await http.request({
    method: 'POST',
    path: repositoryPath(repository, 'blobs/uploads/'),
    scope: repositoryScope(repository, ['pull', 'push']),
    headers: { 'content-length': '0' },
    idempotent: true,
  });
  return uploadLocation(http.host, res);
}

function uploadLocation(host: string, res: HttpResponse): URL {
  const location = res.headers.location;
  if (res.status !== 202 || !location)
    throw new InvalidResponseError(`${host}: blob upload answered HTTP ${res.status} without a Location`);
  const url = new URL(location, res.url);
  // The upload URL receives our credentials: it must stay on the registry.
  if (url.origin !== res.url.origin)
    throw new InvalidResponseError(
      `${host}: upload location points to ${url.origin}, off the registry; refusing to send credentials there`,
    );
  return url;
}

/** Monolithic upload of a streamed blob; the registry verifies the digest (400 DIGEST_INVALID otherwise). */
export async function finishUpload(
  http: RegistryEndpoint,
  repository: string,
  location: URL,
  digest: string,
  body: Readable,
  size: number,
): Promise<void> {
  const url = new URL(location.href);
  url.searchParams.set('digest', digest);
  await http.request({
    method: 'PUT',
    path: url,
    scope: repositoryScope(repository, ['pull', 'push']),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
  });
}
