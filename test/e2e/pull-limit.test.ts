import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';

// Docker Hub's pull limit, which no server here has: a LABELLED FAKE in front of the real
// registry adds Hub's `ratelimit-limit`/`ratelimit-remaining` headers (docs.docker.com/docker-hub/
// usage/pulls), counts a GET of a manifest as a pull (not a HEAD, not a blob), refills the
// allowance over its window like Hub's sliding window, and answers 429 once it is spent.
const LIMIT = 20;
const WINDOW_S = 2;

let registry: TestRegistry;
let fake: Server;
let host: string;
let tokens = LIMIT;
let refilledAt = Date.now();
let pulls = 0;
let refused = 0;

beforeAll(async () => {
  registry = await startRegistry();
  const pusher = new Pusher(registry);
  for (let i = 0; i < 30; i++) await pusher.push('hub/app', buildImage({ layers: [`hub ${i}`] }), `t${i}`);
  fake = createServer((req, res) => {
    void (async () => {
      const now = Date.now();
      tokens = Math.min(LIMIT, tokens + ((now - refilledAt) / 1000) * (LIMIT / WINDOW_S));
      refilledAt = now;
      const manifest = (req.url ?? '').includes('/manifests/');
      const headers: Record<string, string> = manifest
        ? { 'ratelimit-limit': `${LIMIT};w=${WINDOW_S}`, 'ratelimit-remaining': `${Math.floor(tokens)};w=${WINDOW_S}` }
        : {};
      if (manifest && req.method === 'GET') {
        if (tokens < 1) {
          refused++;
          res.writeHead(429, { ...headers, 'retry-after': '1' }).end('{"errors":[{"code":"TOOMANYREQUESTS"}]}');
          return;
        }
        tokens -= 1;
        pulls++;
        headers['ratelimit-remaining'] = `${Math.floor(tokens)};w=${WINDOW_S}`;
      }
      const upstream = await request(`${registry.url}${req.url}`, {
        method: req.method as 'GET',
        headers: { accept: String(req.headers.accept ?? '*/*') },
      });
      const body = Buffer.from(await upstream.body.arrayBuffer());
      const copied: Record<string, string> = {};
      for (const [k, v] of Object.entries(upstream.headers)) if (typeof v === 'string') copied[k] = v;
      res.writeHead(upstream.statusCode, { ...copied, ...headers }).end(req.method === 'HEAD' ? undefined : body);
    })();
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(fake.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await new Promise((r) => fake.close(r));
  await registry?.stop();
});

describe("Docker Hub's pull limit (labelled fake headers on the real registry)", () => {
  it('paces manifest GETs before the limit instead of running into 429s, and says how many pulls are left', async () => {
    pulls = 0;
    refused = 0;
    const res = await runKrill(['tags', `${host}/hub/app`, '--json'], { env: isolatedEnv() });
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as unknown[]).length).toBe(30);
    expect(pulls).toBe(30);
    expect(refused).toBe(0);
    expect(res.stderr).toMatch(/pulls left in its 2s window: pulling one manifest every 0\.1 s/);
    expect(res.stderr).toMatch(new RegExp(`krill: ${host}: \\d+ of ${LIMIT} pulls left in the 2s window\\n$`));
  });

  it('without a reserve it runs into the limit (what the pacing prevents)', async () => {
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000)); // a full allowance again
    refused = 0;
    const res = await runKrill(['tags', `${host}/hub/app`, '--json'], {
      env: isolatedEnv({ KRILL_PULL_RESERVE: '0' }),
    });
    expect(res.code, res.stderr).toBe(0); // the 429s are retried after Retry-After
    expect(refused).toBeGreaterThan(0);
  });

  it('a warm cache reads digests with HEADs, which Hub does not count', async () => {
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const env = isolatedEnv();
    expect((await runKrill(['tags', `${host}/hub/app`], { env })).code).toBe(0);
    pulls = 0;
    const warm = await runKrill(['tags', `${host}/hub/app`], { env });
    expect(warm.code, warm.stderr).toBe(0);
    expect(pulls).toBe(0);
  });
});
