import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { startServe } from '../harness/serve.js';

// krill serve's guards over HTTP (the pages themselves are driven in a real browser in
// test/browser): the Host check, the token, CSRF, read-only, bounds, headers, a registry that is down.
let registry: TestRegistry;
let serve: Awaited<ReturnType<typeof startServe>>;
let readOnly: Awaited<ReturnType<typeof startServe>>;
const env = isolatedEnv();

beforeAll(async () => {
  registry = await startRegistry();
  const pusher = new Pusher(registry);
  for (const [i, tag] of ['v1', 'v2', 'v3'].entries())
    await pusher.push('apps/web', buildImage({ created: `2024-0${i + 1}-01T00:00:00Z`, layers: [tag] }), tag);
  serve = await startServe([registry.host], env);
  readOnly = await startServe([registry.host, '--read-only'], env);
});
afterAll(async () => {
  expect(await serve?.stop()).toBe(0);
  await readOnly?.stop();
  await registry?.stop();
});

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}
async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await request(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('krill serve, over HTTP', () => {
  it('serves the catalog with a strict content security policy and no token in the page', async () => {
    const res = await get(`${serve.url}/`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('apps/web');
    expect(res.headers['content-security-policy']).toMatch(/default-src 'none'.*script-src 'self'/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.text).not.toContain(serve.token);
  });

  it('answers only to its own address (DNS rebinding)', async () => {
    const res = await get(`${serve.url}/`, { host: 'attacker.example:80' });
    expect(res.status).toBe(421);
  });

  it('signs in with the token once (a cookie) and refuses a wrong one', async () => {
    expect((await get(`${serve.url}/?token=${'0'.repeat(64)}`)).status).toBe(403);
    const ok = await get(`${serve.url}/?token=${serve.token}`);
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe('/');
    expect(String(ok.headers['set-cookie'])).toMatch(/^krill_token=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/$/);
  });

  it('refuses to apply without the token, with a wrong CSRF field, or cross-site; deletes nothing', async () => {
    const cookie = `krill_token=${serve.token}`;
    const page = await post(`${serve.url}/cleanup/plan`, 'repository=apps%2Fweb&keep=1', { cookie });
    const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(page.text)![1]!;
    expect(csrf).not.toBe(serve.token);
    const id = /name="plan" value="([0-9a-f]+)"/.exec(page.text)![1]!;
    const tries = [
      [`plan=${id}&confirm=yes&csrf=${csrf}`, {}], // no cookie
      [`plan=${id}&confirm=yes&csrf=${'1'.repeat(64)}`, { cookie }], // a forged CSRF field
      [`plan=${id}&confirm=yes&csrf=${csrf}`, { cookie, origin: 'https://attacker.example' }],
      [`plan=${id}&confirm=yes&csrf=${csrf}`, { cookie, origin: 'null' }], // an opaque origin (sandboxed frame)
    ] as const;
    for (const [body, headers] of tries)
      expect((await post(`${serve.url}/cleanup/apply`, body, headers)).status).toBe(403);
    expect((await post(`${serve.url}/cleanup/apply`, `plan=${id}&csrf=${csrf}`, { cookie })).status).toBe(400);
    expect(await new Pusher(registry).tags('apps/web')).toEqual(['v1', 'v2', 'v3']);
  });

  it('--read-only refuses every change, token or not', async () => {
    const cookie = `krill_token=${readOnly.token}`;
    const page = await post(`${readOnly.url}/cleanup/plan`, 'repository=apps%2Fweb&keep=1', { cookie });
    expect(page.text).toContain('Tags deleted');
    expect(page.text).toMatch(/· frees [\d.]+ (B|KiB) on its own/); // the space per repository
    expect(page.text).not.toContain('Apply the plan');
    const res = await post(`${readOnly.url}/cleanup/apply`, `plan=${'a'.repeat(32)}&confirm=yes&csrf=x`, { cookie });
    expect(res.status).toBe(403);
    expect(res.text).toContain('--read-only');
  });

  it('bounds request bodies and answers a bad rule with the form and its message', async () => {
    expect((await post(`${serve.url}/cleanup/plan`, `policy=${'x'.repeat(300_000)}`)).status).toBe(413);
    const bad = await post(`${serve.url}/cleanup/plan`, 'repository=apps%2Fweb&older-than=soon');
    expect(bad.status).toBe(200);
    expect(bad.text).toMatch(/role="alert">invalid older-than &quot;soon&quot;/);
  });

  it('--keep-in-use marks what runs and every plan keeps it', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const file = join(mkdtempSync(join(tmpdir(), 'krill-serve-live-')), 'running.txt');
    writeFileSync(file, `${registry.host}/apps/web:v1\n`);
    const live = await startServe([registry.host, '--keep-in-use', file], env);
    try {
      const tags = await get(`${live.url}/repository?name=apps%2Fweb`);
      expect(tags.text).toMatch(
        new RegExp(`v1</a>\\s*<span class="badge in-use" title="in use: listed in ${file}">in use</span>`),
      );
      const plan = await post(`${live.url}/cleanup/plan`, 'repository=apps%2Fweb&keep=0');
      expect(plan.text).toMatch(/<td class="keep">keep<\/td>\s*<td class="tag">v1<\/td>/);
      expect(plan.text).toContain(`in use: listed in ${file}`);
    } finally {
      await live.stop();
    }
  });

  it('shows an error page while the registry is down, and recovers', async () => {
    await registry.restart(async () => {
      const down = await get(`${serve.url}/repository?name=apps%2Fweb`);
      expect(down.status).toBe(502);
      expect(down.text).toMatch(/The registry did not answer/);
    });
    expect((await get(`${serve.url}/repository?name=apps%2Fweb`)).status).toBe(200);
  });
});
