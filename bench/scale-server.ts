import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

/**
 * A LABELLED FAKE registry for the scale rows of `npm run bench`: it serves real, generated
 * manifests, indexes and configs (digests match their bytes; krill verifies them) for repositories
 * of 1,000 to 100,000 tags, or a catalog of 10,000 repositories, from memory. Why not distribution:
 * 100,000 tags are 400,000 files to write before the first run, and distribution 2.8 spends ~2.5 ms
 * of its own per manifest on this machine, so the rows would measure the registry's filesystem,
 * not krill. Against this server the protocol floor (bench/floor.ts) is measured in the same run.
 *
 *   node scale-server.js PORT big       repositories big/r1k, big/r10k, big/r100k
 *   node scale-server.js PORT catalog   10,000 repositories cat/repo-NNNNN of 2 tags each
 *
 * Tag i points at image floor(i/2): half the tags share a digest. Every tenth image is a
 * two-platform index. Created dates rise with the image number. DELETE by digest removes the
 * manifest and the tags on it (distribution's behaviour).
 */

const [portText, mode] = process.argv.slice(2);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

const repositories = new Map<string, number>(
  mode === 'catalog'
    ? Array.from({ length: 10_000 }, (_, i) => [`cat/repo-${String(i).padStart(5, '0')}`, 2] as const)
    : [
        ['big/r1k', 1_000],
        ['big/r10k', 10_000],
        ['big/r100k', 100_000],
      ],
);
const names = [...repositories.keys()].sort();

interface Stored {
  bytes: Buffer;
  mediaType: string;
}
/** Every object generated so far, per repository, by digest. */
const objects = new Map<string, Map<string, Stored>>();
const deleted = new Map<string, Set<string>>();
const tagDigest = new Map<string, Map<number, string>>();

const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const tagName = (i: number) => `t-${String(i).padStart(6, '0')}`;

function put(repository: string, value: unknown, mediaType: string): { digest: string; size: number } {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = sha(bytes);
  let store = objects.get(repository);
  if (!store) objects.set(repository, (store = new Map()));
  store.set(digest, { bytes, mediaType });
  return { digest, size: bytes.length };
}

function image(repository: string, k: number, architecture: string): { digest: string; size: number } {
  const created = new Date(Date.UTC(2024, 0, 1) + k * 60_000).toISOString();
  const config = put(
    repository,
    {
      created,
      architecture,
      os: 'linux',
      config: { Labels: { repo: repository, n: String(k) } },
      rootfs: { type: 'layers', diff_ids: [] },
    },
    OCI_CONFIG,
  );
  const layer = `sha256:${createHash('sha256').update(`${repository} layer ${k} ${architecture}`).digest('hex')}`;
  return put(
    repository,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 1000 + k }],
    },
    OCI_MANIFEST,
  );
}

/** The digest tag i points at, generating its image on first use. */
function resolveTag(repository: string, i: number): string {
  let tags = tagDigest.get(repository);
  if (!tags) tagDigest.set(repository, (tags = new Map()));
  const known = tags.get(i);
  if (known) return known;
  const k = Math.floor(i / 2);
  let digest: string;
  if (k % 10 === 0) {
    const children = ['amd64', 'arm64'].map((architecture) => ({
      ...image(repository, k, architecture),
      architecture,
    }));
    digest = put(
      repository,
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: children.map((c) => ({
          mediaType: OCI_MANIFEST,
          digest: c.digest,
          size: c.size,
          platform: { os: 'linux', architecture: c.architecture },
        })),
      },
      OCI_INDEX,
    ).digest;
  } else digest = image(repository, k, 'amd64').digest;
  tags.set(i, digest);
  if (i % 2 === 0 && i + 1 < repositories.get(repository)!) tags.set(i + 1, digest);
  return digest;
}

function liveTags(repository: string): string[] {
  const total = repositories.get(repository)!;
  const gone = deleted.get(repository);
  const out: string[] = [];
  for (let i = 0; i < total; i++) if (!gone?.size || !gone.has(resolveTag(repository, i))) out.push(tagName(i));
  return out;
}

function page(list: string[], url: URL, field: string, path: string) {
  const n = Math.min(Number(url.searchParams.get('n') ?? 100) || 100, 10_000);
  const last = url.searchParams.get('last');
  let start = 0;
  if (last) {
    // Sorted names: binary search for the first name after `last`.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]! <= last) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const slice = list.slice(start, start + n);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (start + n < list.length) headers.link = `<${path}?n=${n}&last=${encodeURIComponent(slice.at(-1)!)}>; rel="next"`;
  return {
    headers,
    body: JSON.stringify(
      field === 'tags'
        ? { name: url.pathname.split('/').slice(2, -2).join('/'), tags: slice }
        : { repositories: slice },
    ),
  };
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const send = (status: number, headers: Record<string, string>, body?: Buffer | string) => {
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (path === '/v2/' || path === '/v2') return send(200, { 'content-type': 'application/json' }, '{}');
  if (path === '/v2/_catalog') {
    const { headers, body } = page(names, url, 'repositories', '/v2/_catalog');
    return send(200, headers, body);
  }
  const match = /^\/v2\/(.+)\/(tags\/list|manifests|blobs)(?:\/(.+))?$/.exec(path);
  const repository = match?.[1];
  if (!match || !repository || !repositories.has(repository))
    return send(404, { 'content-type': 'application/json' }, '{"errors":[{"code":"NAME_UNKNOWN"}]}');
  if (match[2] === 'tags/list') {
    const { headers, body } = page(liveTags(repository), url, 'tags', `/v2/${repository}/tags/list`);
    return send(200, headers, body);
  }
  const reference = match[3] ?? '';
  const gone = deleted.get(repository);
  if (req.method === 'DELETE') {
    if (!objects.get(repository)?.has(reference) || gone?.has(reference)) return send(404, {}, '');
    if (!deleted.has(repository)) deleted.set(repository, new Set());
    deleted.get(repository)!.add(reference);
    return send(202, {});
  }
  let digest = reference;
  if (!reference.startsWith('sha256:')) {
    const i = /^t-(\d{6})$/.exec(reference) ? Number(reference.slice(2)) : -1;
    if (i < 0 || i >= repositories.get(repository)!) return send(404, {}, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    digest = resolveTag(repository, i);
  }
  const stored = gone?.has(digest) ? undefined : objects.get(repository)?.get(digest);
  if (!stored) return send(404, {}, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
  return send(
    200,
    {
      'content-type': match[2] === 'blobs' ? 'application/octet-stream' : stored.mediaType,
      'content-length': String(stored.bytes.length),
      'docker-content-digest': digest,
    },
    stored.bytes,
  );
});
server.keepAliveTimeout = 30_000;
server.listen(Number(portText), '127.0.0.1', () => process.stdout.write('ready\n'));
