import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import type { BuiltManifest } from './images.js';
import { sha256 } from './images.js';

/**
 * A HAND-WRITTEN, IN-MEMORY FAKE registry (test code), used only for behaviour the real
 * distribution 2.8 server never shows: hostile answers (tag names with path characters, bogus
 * digests, dripping bodies, looping pages, redirected DELETEs, escape sequences in errors), realms
 * on plain HTTP. `intercept` lets a test answer any request itself; everything else is a plain
 * registry with tags, manifests and blobs, and the log records each request with its headers.
 *
 * With `referrers`, it also answers the OCI 1.1 referrers API (`GET /v2/<repo>/referrers/<digest>`,
 * which distribution 2.8 does not have): the manifests whose `subject` is the digest, `pageSize` per
 * page with `Link` headers, and the `artifactType` filter applied (with `OCI-Filters-Applied`) or,
 * like some registries, ignored.
 */

export interface FakeRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface FakeRegistry {
  host: string;
  log: FakeRequest[];
  /** repository → tag → digest */
  tags: Map<string, Map<string, string>>;
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  blobs: Map<string, Buffer>;
  /** Raw tag lists to serve instead of the keys of `tags` (hostile names). */
  rawTagLists: Map<string, unknown[]>;
  intercept?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
  add(repository: string, m: BuiltManifest, ...tags: string[]): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const unknown = (res: ServerResponse, code: string) =>
  json(res, 404, { errors: [{ code, message: code.toLowerCase() }] });

export interface FakeOptions {
  tls?: { key: string; cert: string };
  referrers?: { pageSize?: number; applyFilter?: boolean };
}

export async function startFakeRegistry(options: FakeOptions = {}): Promise<FakeRegistry> {
  const fake: FakeRegistry = {
    host: '',
    log: [],
    tags: new Map(),
    manifests: new Map(),
    blobs: new Map(),
    rawTagLists: new Map(),
    add(repository, m, ...tags) {
      for (const child of m.children) this.add(repository, child);
      this.manifests.set(m.digest, { bytes: m.bytes, mediaType: m.mediaType });
      for (const b of m.blobs) this.blobs.set(b.digest, b.bytes);
      const repoTags = this.tags.get(repository) ?? new Map<string, string>();
      for (const tag of tags) repoTags.set(tag, m.digest);
      this.tags.set(repository, repoTags);
    },
    close: async () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    fake.log.push({
      method: req.method ?? '',
      path: `${url.pathname}${url.search}`,
      authorization: req.headers.authorization,
    });
    if (fake.intercept && (await fake.intercept(req, res, url))) return;
    if (url.pathname === '/v2/') return json(res, 200, {});
    const referrers = /^\/v2\/(.+?)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (referrers && options.referrers) return serveReferrers(fake, res, url, referrers[2]!, options.referrers);
    const m = /^\/v2\/(.+?)\/(tags\/list|manifests\/([^/]+)|blobs\/uploads\/.*|blobs\/([^/]+))$/.exec(url.pathname);
    if (!m) return unknown(res, 'NAME_UNKNOWN');
    const repository = m[1]!;
    const repoTags = fake.tags.get(repository) ?? new Map<string, string>();
    if (m[2] === 'tags/list')
      return json(res, 200, { name: repository, tags: fake.rawTagLists.get(repository) ?? [...repoTags.keys()] });
    if (m[4]) {
      const b = fake.blobs.get(m[4]);
      if (!b) return unknown(res, 'BLOB_UNKNOWN');
      return res
        .writeHead(200, { 'content-length': String(b.length), 'docker-content-digest': m[4] })
        .end(req.method === 'HEAD' ? undefined : b);
    }
    if (m[3] === undefined)
      return json(res, 405, { errors: [{ code: 'UNSUPPORTED', message: 'uploads are not faked' }] });
    const ref = decodeURIComponent(m[3]);
    const digest = ref.includes(':') ? ref : repoTags.get(ref);
    const manifest = digest ? fake.manifests.get(digest) : undefined;
    if (req.method === 'DELETE') {
      if (!manifest || !digest) return unknown(res, 'MANIFEST_UNKNOWN');
      fake.manifests.delete(digest);
      for (const [t, d] of repoTags) if (d === digest) repoTags.delete(t);
      return res.writeHead(202).end();
    }
    if (!manifest || !digest) return unknown(res, 'MANIFEST_UNKNOWN');
    const headers = {
      'content-type': manifest.mediaType,
      'docker-content-digest': digest,
      'content-length': String(manifest.bytes.length),
    };
    return res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : manifest.bytes);
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res).catch((error: unknown) => res.writeHead(500).end(String(error)));
  };
  const server: Server = options.tls
    ? createHttpsServer({ key: readFileSync(options.tls.key), cert: readFileSync(options.tls.cert) }, listener)
    : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

function serveReferrers(
  fake: FakeRegistry,
  res: ServerResponse,
  url: URL,
  subject: string,
  options: { pageSize?: number; applyFilter?: boolean },
): void {
  const wanted = url.searchParams.get('artifactType');
  const all: Array<Record<string, unknown>> = [];
  for (const [digest, m] of fake.manifests) {
    const doc = JSON.parse(m.bytes.toString('utf8')) as {
      subject?: { digest: string };
      artifactType?: string;
      config?: { mediaType: string };
      annotations?: Record<string, string>;
    };
    if (doc.subject?.digest !== subject) continue;
    const artifactType = doc.artifactType ?? doc.config?.mediaType;
    if (options.applyFilter && wanted !== null && artifactType !== wanted) continue;
    all.push({ mediaType: m.mediaType, digest, size: m.bytes.length, artifactType, annotations: doc.annotations });
  }
  all.sort((a, b) => String(a.digest).localeCompare(String(b.digest)));
  const size = options.pageSize ?? 100;
  const page = Number(url.searchParams.get('page') ?? '0');
  const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
  if (options.applyFilter && wanted !== null) headers['oci-filters-applied'] = 'artifactType';
  if ((page + 1) * size < all.length) {
    const next = new URL(url.href);
    next.searchParams.set('page', String(page + 1));
    headers.link = `<${next.pathname}${next.search}>; rel="next"`;
  }
  const body = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: all.slice(page * size, (page + 1) * size),
  };
  res.writeHead(200, headers).end(JSON.stringify(body));
}

/** A manifest document of any shape (hostile ones included), ready to serve. */
export function rawManifest(doc: unknown, mediaType = 'application/vnd.oci.image.manifest.v1+json'): BuiltManifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { digest: sha256(bytes), mediaType, bytes, blobs: [], children: [] };
}
