import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

/**
 * The protocol floor: exactly the HTTP requests a command needs and nothing else, over one
 * keep-alive pool with the same concurrency as krill (8). No auth, no cache, no parsing beyond
 * what finds the next request. Usage:
 *   node floor.js list    BASE REPO          tag list only
 *   node floor.js head    BASE REPO          tag list, one HEAD per tag (what a warm cache still needs)
 *   node floor.js tags    BASE REPO          tag list, one manifest per tag, each distinct platform manifest and config once
 *   node floor.js catalog BASE               catalog, then `tags` for every repository
 *   node floor.js delete  BASE REPO FILE     `tags`, then DELETE each digest listed in FILE (one per line)
 *   node floor.js checked BASE REPO FILE     `tags`, then HEAD every tag again (the re-check the safety
 *                                            rules require right before deleting), then the same DELETEs
 */

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const CONCURRENCY = 8;
const agent = new Agent({ connections: CONCURRENCY });

let active = 0;
const waiting: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (active >= CONCURRENCY) await new Promise<void>((r) => waiting.push(r));
  else active++;
  try {
    return await fn();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else active--;
  }
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'DELETE' | 'HEAD' = 'GET') {
  return limited(async () => {
    // Connections kept after HEADs too (undici closes them by default): the floor is the least cost.
    const res = await request(url, {
      method,
      headers,
      dispatcher: agent,
      ...(method === 'HEAD' ? { reset: false } : {}),
    });
    const body = await res.body.text();
    if (res.statusCode >= 400) throw new Error(`${method} ${url}: ${res.statusCode}`);
    return { body, link: res.headers.link as string | undefined };
  });
}

async function list(base: string, path: string, field: string): Promise<string[]> {
  const out: string[] = [];
  let next: string | undefined = `${base}${path}`;
  while (next) {
    const { body, link } = await get(next);
    out.push(...((JSON.parse(body) as Record<string, string[] | null>)[field] ?? []));
    const m = link ? /<([^>]+)>/.exec(link) : null;
    next = m ? new URL(m[1]!, base).href : undefined;
  }
  return out;
}

async function tags(base: string, repo: string): Promise<void> {
  const names = await list(base, `/v2/${repo}/tags/list?n=1000`, 'tags');
  const children = new Set<string>();
  const configs = new Set<string>();
  const note = (doc: { manifests?: Array<{ digest: string }>; config?: { digest: string } }) => {
    for (const m of doc.manifests ?? []) children.add(m.digest);
    if (doc.config) configs.add(doc.config.digest);
  };
  await Promise.all(
    names.map(async (t) => note(JSON.parse((await get(`${base}/v2/${repo}/manifests/${t}`, { accept: ACCEPT })).body))),
  );
  await Promise.all(
    [...children].map(async (d) =>
      note(JSON.parse((await get(`${base}/v2/${repo}/manifests/${d}`, { accept: ACCEPT })).body)),
    ),
  );
  await Promise.all([...configs].map((d) => get(`${base}/v2/${repo}/blobs/${d}`)));
}

const [mode, base, repo, file] = process.argv.slice(2);
if (!mode || !base) throw new Error('usage: floor.js MODE BASE [REPO] [FILE]');
if (mode === 'list') await list(base, `/v2/${repo}/tags/list?n=1000`, 'tags');
else if (mode === 'tags') await tags(base, repo!);
else if (mode === 'head') {
  const names = await list(base, `/v2/${repo}/tags/list?n=1000`, 'tags');
  await Promise.all(names.map((t) => get(`${base}/v2/${repo}/manifests/${t}`, { accept: ACCEPT }, 'HEAD')));
} else if (mode === 'catalog') {
  const repos = await list(base, '/v2/_catalog?n=1000', 'repositories');
  // Many repositories in flight; the limiter keeps requests at CONCURRENCY.
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < repos.length) await tags(base, repos[next++]!);
    }),
  );
} else if (mode === 'delete' || mode === 'checked') {
  await tags(base, repo!);
  if (mode === 'checked') {
    const names = await list(base, `/v2/${repo}/tags/list?n=1000`, 'tags');
    await Promise.all(names.map((t) => get(`${base}/v2/${repo}/manifests/${t}`, { accept: ACCEPT }, 'HEAD')));
  }
  const digests = readFileSync(file!, 'utf8').split('\n').filter(Boolean);
  await Promise.all(digests.map((d) => get(`${base}/v2/${repo}/manifests/${d}`, {}, 'DELETE')));
} else throw new Error(`unknown mode ${mode}`);
await agent.close();
