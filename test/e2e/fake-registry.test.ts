import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import { buildImage, sha256 } from '../harness/images.js';
import type { BuiltManifest } from '../harness/images.js';

/**
 * A HAND-WRITTEN FAKE registry, used only for behaviour the real distribution 2.8 server does not
 * show: a registry that refuses HEAD (like Nexus) and omits Docker-Content-Digest. Tag-list pages and
 * the OCI 1.1 tag delete are also shown by the real distribution 3 (test/peers, the peers suite).
 */

interface Fake {
  host: string;
  log: string[];
  tags: Map<string, string>;
  server: Server;
}

async function startFake(images: Array<[string, BuiltManifest]>): Promise<Fake> {
  const manifests = new Map<string, BuiltManifest>();
  const blobs = new Map<string, Buffer>();
  const tags = new Map<string, string>();
  for (const [tag, m] of images) {
    manifests.set(m.digest, m);
    for (const b of m.blobs) blobs.set(b.digest, b.bytes);
    tags.set(tag, m.digest);
  }
  const log: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    log.push(`${req.method} ${url.pathname}${url.search}`);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    if (url.pathname === '/v2/') return json(200, {});
    const m = /^\/v2\/(.+)\/(tags\/list|manifests\/([^/]+)|blobs\/([^/]+))$/.exec(url.pathname);
    if (!m) return json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'unknown' }] });
    if (m[2] === 'tags/list') {
      // Pages of two, sorted, with an RFC 8288 Link to the next page (as distribution 3 and Harbor do).
      const all = [...tags.keys()].sort();
      const last = url.searchParams.get('last');
      const start = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(start, start + 2);
      const headers: Record<string, string> = {};
      if (start + 2 < all.length) headers.link = `</v2/${m[1]}/tags/list?n=2&last=${page.at(-1)}>; rel="next"`;
      return json(200, { name: m[1], tags: page }, headers);
    }
    if (m[4]) {
      const b = blobs.get(m[4]);
      return b ? res.writeHead(200).end(b) : json(404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
    }
    const ref = m[3]!;
    const digest = ref.startsWith('sha256:') ? ref : tags.get(ref);
    const manifest = digest ? manifests.get(digest) : undefined;
    if (req.method === 'HEAD') return res.writeHead(405).end(); // refuses HEAD, like Nexus
    if (req.method === 'GET') {
      // No Docker-Content-Digest: the client must hash the bytes.
      return manifest
        ? res.writeHead(200, { 'content-type': manifest.mediaType }).end(manifest.bytes)
        : json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    }
    if (req.method === 'DELETE') {
      if (!ref.startsWith('sha256:')) {
        // OCI distribution 1.1: DELETE by tag removes just that tag.
        if (!tags.delete(ref))
          return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
        return res.writeHead(202).end();
      }
      if (!manifests.delete(ref))
        return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      for (const [t, d] of tags) if (d === ref) tags.delete(t);
      return res.writeHead(202).end();
    }
    if (req.method === 'PUT') {
      // krill's tag-delete probe pushes a throwaway of its own under a probe tag.
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const stored = sha256(bytes);
        const mediaType = String(req.headers['content-type']);
        manifests.set(stored, { digest: stored, mediaType, bytes, blobs: [], children: [] });
        if (!ref.startsWith('sha256:')) tags.set(ref, stored);
        res.writeHead(201, { 'docker-content-digest': stored }).end();
      });
      return;
    }
    return json(405, { errors: [{ code: 'UNSUPPORTED', message: 'unsupported' }] });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, log, tags, server };
}

let fake: Fake;
const one = buildImage({ created: '2024-01-01T00:00:00Z', layers: ['one'] });
const two = buildImage({ created: '2024-02-01T00:00:00Z', layers: ['two'] });

beforeAll(async () => {
  fake = await startFake([
    ['a', one],
    ['b', one],
    ['c', two],
    ['d', two],
    ['e', two],
  ]);
});
afterAll(() => new Promise<void>((resolve) => fake.server.close(() => resolve())));

describe('fake registry: behaviour distribution 2.8 does not show', () => {
  it('follows tag-list Link pages and works without HEAD or Docker-Content-Digest', async () => {
    const res = await krill(['tags', `${fake.host}/repo`, '--json', '--no-cache']);
    expect(res.code, res.stderr).toBe(0);
    const rows = JSON.parse(res.stdout) as Array<{ tag: string; digest: string }>;
    expect(rows.map((r) => r.tag).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(rows.find((r) => r.tag === 'a')!.digest).toBe(sha256(one.bytes));
    expect(fake.log.filter((l) => l.includes('/tags/list'))).toHaveLength(3);
  });

  it('uses the OCI 1.1 tag delete to untag, without a throwaway manifest', async () => {
    fake.log.length = 0;
    const res = await krill(['rm', `${fake.host}/repo:a`, '--yes']);
    expect(res.code, res.stderr).toBe(0);
    expect(fake.tags.has('a')).toBe(false);
    expect(fake.tags.get('b')).toBe(one.digest);
    expect(fake.log).toContain('DELETE /v2/repo/manifests/a');
    // The only PUT is the probe's throwaway, under a tag of krill's own, deleted again.
    const puts = fake.log.filter((l) => l.startsWith('PUT'));
    expect(puts).toEqual([expect.stringMatching(/^PUT \/v2\/repo\/manifests\/krill-probe-[0-9a-f]{16}$/)]);
    expect([...fake.tags.keys()].filter((t) => t.startsWith('krill-probe-'))).toEqual([]);
  });
});

/**
 * HAND-WRITTEN FAKES for hostile or broken answers no real registry gives on purpose: HTML instead
 * of JSON, invalid manifests, oversized bodies, pagination off the registry, and a blob redirect to
 * another host (which must not receive our Authorization header).
 */
describe('fake registry: hostile and broken answers', () => {
  let server: Server;
  let storage: Server;
  let host: string;
  const seenByStorage: Array<string | undefined> = [];
  const img = buildImage({ created: '2024-01-01T00:00:00Z', layers: ['hostile'] });

  beforeAll(async () => {
    storage = createServer((req, res) => {
      seenByStorage.push(req.headers.authorization);
      res.writeHead(200).end(img.blobs[0]!.bytes);
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    const storageHost = `127.0.0.1:${(storage.address() as AddressInfo).port}`;
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
        res
          .writeHead(401, { 'www-authenticate': 'Basic realm="fake"', 'content-type': 'application/json' })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}');
        return;
      }
      const p = url.pathname;
      if (p === '/v2/') return res.writeHead(200).end('{}');
      if (p === '/v2/html/tags/list')
        return res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx</body></html>');
      if (p === '/v2/proxy/tags/list')
        return res.writeHead(502, { 'content-type': 'text/html' }).end('<html>502 Bad Gateway</html>');
      if (p === '/v2/evil/tags/list')
        return res
          .writeHead(200, {
            'content-type': 'application/json',
            link: '<https://evil.example.com/v2/evil/tags/list?last=a>; rel="next"',
          })
          .end('{"name":"evil","tags":["a"]}');
      if (p === '/v2/badjson/manifests/x')
        return res
          .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
          .end('{"schemaVersion": 2, "config": ');
      if (p === '/v2/huge/manifests/x')
        return res
          .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' })
          .end(Buffer.alloc(5 * 1024 * 1024, 32));
      if (p === '/v2/redir/manifests/x') return res.writeHead(200, { 'content-type': img.mediaType }).end(img.bytes);
      if (p.startsWith('/v2/redir/blobs/'))
        return res.writeHead(307, { location: `http://${storageHost}/bucket/blob?sig=abc` }).end();
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => storage.close(() => resolve()));
  });

  const login = ['-u', 'u', '--password-stdin', '--no-cache'];
  const cases: Array<[string, string[], RegExp]> = [
    [
      'an HTML page instead of JSON',
      ['tags', 'html', '--no-details'],
      /GET \/v2\/html\/tags\/list answered something that is not JSON/,
    ],
    [
      'an HTML error page from a proxy',
      ['tags', 'proxy', '--no-details', '--timeout', '5s'],
      /GET \/v2\/proxy\/tags\/list answered HTTP 502; gave up after retrying/,
    ],
    ['pagination off the registry', ['tags', 'evil', '--no-details'], /refusing to follow a link off the registry/],
    ['a manifest that is not JSON', ['inspect', 'badjson:x'], /badjson:x: manifest is not valid JSON/],
    ['an oversized manifest', ['inspect', 'huge:x'], /answer larger than 4194304 bytes/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: exit 1, one line naming the registry and request`, async () => {
      const res = await krill(['-r', host, ...args, ...login], { stdin: 'p' });
      expect(res.code).toBe(1);
      const lines = res.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(lines[0]).toContain(host.split(':')[0]!);
    });
  }

  it('follows a blob redirect to another host without sending Authorization there', async () => {
    const res = await krill(['-r', host, 'inspect', 'redir:x', '--json', ...login], { stdin: 'p' });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).digest).toBe(img.digest);
    expect(seenByStorage.length).toBeGreaterThan(0);
    expect(seenByStorage.every((h) => h === undefined)).toBe(true);
  });
});

describe('fake registry over TLS: a redirect from https to http', () => {
  it('is refused with one line, and nothing is fetched over plain HTTP', async () => {
    const { createServer: createHttpsServer } = await import('node:https');
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { makePki } = await import('../harness/pki.js');
    const pki = makePki(mkdtempSync(join(tmpdir(), 'krill-pki-')));
    const img = buildImage({ layers: ['downgrade'] });
    let plainHits = 0;
    const plain = createServer((_req, res) => {
      plainHits++;
      res.writeHead(200).end(img.blobs[0]!.bytes);
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const plainPort = (plain.address() as AddressInfo).port;
    const secure = createHttpsServer(
      { key: readFileSync(pki.serverKey), cert: readFileSync(pki.serverCert) },
      (req, res) => {
        const p = req.url ?? '';
        if (p === '/v2/') return res.writeHead(200).end('{}');
        if (p.startsWith('/v2/web/manifests/'))
          return res.writeHead(200, { 'content-type': img.mediaType }).end(img.bytes);
        if (p.startsWith('/v2/web/blobs/'))
          return res.writeHead(302, { location: `http://127.0.0.1:${plainPort}/blob` }).end();
        res.writeHead(404).end();
      },
    );
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(secure.address() as AddressInfo).port}`;
    try {
      const res = await krill(['inspect', `${host}/web:1`, '--ca-cert', pki.caCert, '--no-cache']);
      expect(res.code).toBe(1);
      expect(res.stderr.trim().split('\n')).toHaveLength(1);
      expect(res.stderr).toMatch(/refusing redirect from https to http:\/\/127\.0\.0\.1:\d+/);
      expect(plainHits).toBe(0);
    } finally {
      await new Promise<void>((resolve) => secure.close(() => resolve()));
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });
});
