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

export async function startFakeRegistry(options: { tls?: { key: string; cert: string } } = {}): Promise<FakeRegistry> {
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

/** A manifest document of any shape (hostile ones included), ready to serve. */
export function rawManifest(doc: unknown, mediaType = 'application/vnd.oci.image.manifest.v1+json'): BuiltManifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { digest: sha256(bytes), mediaType, bytes, blobs: [], children: [] };
}
