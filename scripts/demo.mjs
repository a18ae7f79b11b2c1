// `npm run demo`: a cleanup you can watch before pointing krill at a real registry. Starts a
// throwaway local registry (Debian's docker-registry, the distribution binary the tests use), seeds
// a CI-like repository, and runs tags → cleanup --dry-run → cleanup --yes → undo, printing each
// command first. Everything lives in a temporary directory that is removed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const KRILL = join(ROOT, 'bin/krill.js');

if (spawnSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' }).status !== 0) {
  console.error(
    'demo: needs the distribution registry binary: apt-get install docker-registry (Debian/Ubuntu), or put `registry` from distribution 2.8 on PATH as docker-registry',
  );
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'krill-demo-'));
const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});
const host = `127.0.0.1:${port}`;
const config = join(dir, 'config.yml');
writeFileSync(
  config,
  `version: 0.1\nstorage:\n  filesystem: {rootdirectory: ${join(dir, 'data')}}\n  delete: {enabled: true}\nhttp: {addr: ${host}}\nlog: {level: error}\n`,
);
const registry = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
const stop = () => {
  registry.kill();
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', stop);
process.on('uncaughtException', (error) => {
  console.error(`demo: ${error.message}`);
  process.exit(1);
});

const base = `http://${host}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${base}/v2/`)).ok) break;
  } catch {
    // not up yet
  }
  if (i > 100) throw new Error('the demo registry did not start');
  await new Promise((r) => setTimeout(r, 100));
}

// ── a tiny pusher: blobs, then manifests (what `docker push` does) ─────────────────────────────
const sha = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
async function pushBlob(repo, bytes) {
  const digest = sha(bytes);
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location'), base);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status}`);
  return { digest, size: bytes.length };
}
/** PUT under a tag, or by digest when `tag` is null (platform manifests, signatures). */
async function pushManifest(repo, tag, doc) {
  const bytes = Buffer.from(JSON.stringify(doc));
  const reference = tag ?? sha(bytes);
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: bytes,
    headers: { 'content-type': doc.mediaType },
  });
  if (res.status !== 201) throw new Error(`manifest PUT ${reference}: HTTP ${res.status}`);
  return { mediaType: doc.mediaType, digest: sha(bytes), size: bytes.length };
}
async function image(repo, created, content, architecture = 'amd64') {
  const layer = await pushBlob(repo, Buffer.from(`${content}\n`.repeat(2000)));
  const config = await pushBlob(
    repo,
    Buffer.from(
      JSON.stringify({ architecture, os: 'linux', created, rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    ),
  );
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  };
}

const repo = 'demo/app';
for (const [i, version] of ['1.0.0', '1.1.0', '1.2.0', '1.3.0'].entries())
  await pushManifest(repo, version, await image(repo, `2026-0${i + 1}-01T09:00:00Z`, `release ${version}`));
for (let i = 1; i <= 5; i++)
  await pushManifest(repo, `mr-${i}`, await image(repo, `2026-0${i}-15T12:00:00Z`, `merge request ${i}`));
for (const [i, sha7] of ['3f2a9c1', '9b7e0d4', 'c41d8e2', '77a0f3b'].entries())
  await pushManifest(repo, `main-${sha7}`, await image(repo, `2026-10-0${i + 1}T08:00:00Z`, `main ${sha7}`));
const amd64 = await pushManifest(repo, null, await image(repo, '2026-11-01T10:00:00Z', 'release 2.0.0'));
const arm64 = await pushManifest(repo, null, await image(repo, '2026-11-01T10:00:00Z', 'release 2.0.0 arm', 'arm64'));
const index = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { ...amd64, platform: { os: 'linux', architecture: 'amd64' } },
    { ...arm64, platform: { os: 'linux', architecture: 'arm64' } },
  ],
};
const release = await pushManifest(repo, '2.0.0', index);
await pushManifest(repo, 'latest', index);
// A cosign v3 signature of 2.0.0, in the OCI 1.1 fallback index sha256-<hex>.
const empty = await pushBlob(repo, Buffer.from('{}'));
const bundle = await pushBlob(repo, Buffer.from('{"demo":"sigstore bundle"}'));
const signature = await pushManifest(repo, null, {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
  layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', ...bundle }],
  subject: release,
});
await pushManifest(repo, release.digest.replace(':', '-'), {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [{ ...signature, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }],
});

// ── the walk-through ────────────────────────────────────────────────────────────────────────────
const env = {
  PATH: process.env.PATH,
  HOME: dir,
  XDG_CACHE_HOME: join(dir, 'cache'),
  XDG_STATE_HOME: join(dir, 'state'),
  DOCKER_CONFIG: join(dir, 'docker'),
  NO_COLOR: '1',
};
function krill(args, note) {
  console.log(`\n# ${note}\n$ krill ${args.map((a) => (/[\s|^$]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  const res = spawnSync(process.execPath, [KRILL, ...args], { env, encoding: 'utf8' });
  process.stdout.write(res.stdout);
  process.stdout.write(res.stderr);
  if (res.status !== 0) throw new Error(`krill ${args[0]} exited ${res.status}`);
  return res;
}

console.log(`A throwaway registry is running on ${host} with a CI-like repository ${repo}.`);
krill(['tags', `${host}/${repo}`], 'Every tag, newest first; the signature is summarised on its image');
const rules = ['--keep', '2', '--delete-regex', '^(mr-|main-)'];
krill(
  ['cleanup', `${host}/${repo}`, ...rules, '--dry-run'],
  'Plan a cleanup: keep the 2 newest mr-/main- images, never touch releases',
);
const applied = krill(
  ['cleanup', `${host}/${repo}`, ...rules, '--yes'],
  'Apply it (same plan, re-checked right before each change)',
);
const journal = /krill undo (\S+)/.exec(applied.stdout)[1];
krill(['tags', `${host}/${repo}`], 'What is left');
krill(['undo', journal, '--yes'], 'Changed your mind? Undo puts everything back (until the registry garbage-collects)');
krill(['tags', `${host}/${repo}`, '--no-details'], 'Back as it was');
console.log('\nDemo done: the registry and its data are removed. Point krill at your own registry next.');
// The registry child and fetch's keep-alive sockets would keep node running: exit once stdout is flushed.
process.stdout.write('', () => process.exit(0));
