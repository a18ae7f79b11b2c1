import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import { ensurePrerequisites } from '../harness/prereqs.js';
import type { TestRegistry } from '../harness/registry.js';
import { freePort, startRegistry } from '../harness/registry.js';
import { tarLayer } from '../harness/tar.js';

/**
 * A real Docker-compatible engine: podman's API service (vfs storage, root), pulling from a real
 * plain-HTTP registry on loopback that registries.conf marks insecure.
 */
let registry: TestRegistry;
/** htpasswd-protected: pulls through the engine carry X-Registry-Auth. */
let locked: TestRegistry;
/** Passwords of three consecutive lengths: X-Registry-Auth's JSON then has every length mod 3. */
const LOCKED_USERS = { bob: 'pw-1234567', carol: 'pw-12345678', dave: 'pw-123456789' };
let podman: ChildProcess;
let dockerHost: string;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), 'krill-podman-'));
const image = (n: number) =>
  buildImage({ created: `2024-0${n}-01T00:00:00Z`, layers: [tarLayer(`file${n}.txt`, `content ${n}\n`)] });
const [v1, v2, v3, v2b] = [image(1), image(2), image(3), image(4)];

beforeAll(async () => {
  ensurePrerequisites([{ binary: 'podman', pkg: 'podman' }]);
  [registry, locked] = await Promise.all([startRegistry(), startRegistry({ auth: 'basic', extraUsers: LOCKED_USERS })]);
  await new Pusher(locked).push('apps/eng', v1, 'v1');
  const pusher = new Pusher(registry);
  await pusher.push('apps/eng', v1, 'v1');
  await pusher.push('apps/eng', v2, 'v2');
  await pusher.push('apps/eng', v3, 'v3');
  const conf = join(dir, 'registries.conf');
  writeFileSync(
    conf,
    [registry, locked].map((r) => `[[registry]]\nlocation = "${r.host}"\ninsecure = true\n`).join('\n'),
  );
  const socket = join(dir, 'podman.sock');
  dockerHost = `unix://${socket}`;
  const podmanEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: conf };
  podman = spawn(
    'podman',
    [
      '--storage-driver',
      'vfs',
      '--root',
      join(dir, 'root'),
      '--runroot',
      join(dir, 'run'),
      'system',
      'service',
      '--time=0',
      dockerHost,
    ],
    { env: podmanEnv, stdio: 'ignore' },
  );
  const agent = new Agent({ connect: { socketPath: socket } });
  for (let i = 0; ; i++) {
    try {
      const res = await request('http://localhost/_ping', { dispatcher: agent });
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      if (i > 100) throw new Error('podman system service did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await agent.close();
  env = isolatedEnv({ DOCKER_HOST: dockerHost });
}, 120_000);

/** What the engine holds, from its own API (`GET /images/json`). */
async function engineImages(): Promise<Array<{ RepoTags?: string[]; RepoDigests?: string[] }>> {
  const agent = new Agent({ connect: { socketPath: dockerHost.replace(/^unix:\/\//, '') } });
  try {
    const res = await request('http://localhost/images/json', { dispatcher: agent });
    return (await res.body.json()) as Array<{ RepoTags?: string[]; RepoDigests?: string[] }>;
  } finally {
    await agent.close();
  }
}

afterAll(async () => {
  podman?.kill('SIGTERM');
  await Promise.all([registry?.stop(), locked?.stop()]);
});

describe('local engine (podman API service)', () => {
  it('pull --dry-run lists, pull pulls the matching tags', async () => {
    const dry = await krill(['pull', `${registry.host}/apps/eng~/^v[12]$/`, '--dry-run'], { env });
    expect(dry.stdout.trim().split('\n')).toEqual([
      `would pull ${registry.host}/apps/eng:v1`,
      `would pull ${registry.host}/apps/eng:v2`,
    ]);
    const res = await krill(['pull', `${registry.host}/apps/eng~/^v[12]$/`], { env });
    expect(res.code, res.stderr).toBe(0);
    // Asked of the engine itself: the two tags arrived, with the registry's digests; v3 did not.
    const images = await engineImages();
    const tags = images.flatMap((i) => i.RepoTags ?? []);
    expect(tags).toEqual(expect.arrayContaining([`${registry.host}/apps/eng:v1`, `${registry.host}/apps/eng:v2`]));
    expect(tags).not.toContain(`${registry.host}/apps/eng:v3`);
    const digests = images.flatMap((i) => i.RepoDigests ?? []);
    expect(digests).toEqual(
      expect.arrayContaining([`${registry.host}/apps/eng@${v1.digest}`, `${registry.host}/apps/eng@${v2.digest}`]),
    );
  }, 120_000);

  it('pull with credentials: X-Registry-Auth decodes in the engine whatever its length (padded base64url)', async () => {
    for (const [user, password] of Object.entries(LOCKED_USERS)) {
      const res = await krill(['-u', user, '--password-stdin', 'pull', `${locked.host}/apps/eng:v1`], {
        env,
        stdin: password,
      });
      expect(res.code, `${user}: ${res.stderr}`).toBe(0);
    }
    const wrong = await krill(['-u', 'bob', '--password-stdin', 'pull', `${locked.host}/apps/eng:v1`], {
      env,
      stdin: 'not-the-password',
    });
    expect(wrong.code).toBe(1);
  }, 120_000);

  it('compare shows PRESENT, CHANGED, ABSENT, LOCAL-ONLY and ASSUMED', async () => {
    await new Pusher(registry).push('apps/eng', v2b, 'v2'); // the registry moves v2 on
    // A local-only tag, made through the Engine API.
    const agent = new Agent({ connect: { socketPath: dockerHost.slice('unix://'.length) } });
    const tagged = await request(
      `http://localhost/images/${encodeURIComponent(`${registry.host}/apps/eng:v1`)}/tag?repo=${encodeURIComponent(`${registry.host}/apps/eng`)}&tag=local`,
      { method: 'POST', dispatcher: agent },
    );
    await tagged.body.dump();
    await agent.close();
    expect(tagged.statusCode).toBe(201);
    const res = await krill(
      ['compare', `${registry.host}/apps/eng`, `${registry.host}/apps/eng=v1,v2,nope`, '--json'],
      { env },
    );
    expect(res.code, res.stderr).toBe(0);
    const [all, named] = JSON.parse(res.stdout) as Array<{ tags: Array<{ tag: string; state: string }> }>;
    // REPO=TAG1,TAG2 compares exactly the named tags (lstags): no tag list, no LOCAL-ONLY rows.
    expect(named!.tags.map((r) => [r.tag, r.state])).toEqual([
      ['nope', 'ASSUMED'],
      ['v1', 'PRESENT'],
      ['v2', 'CHANGED'],
    ]);
    const single = await krill(['compare', `${registry.host}/apps/eng=nope`, '--json'], { env });
    expect(JSON.parse(single.stdout)).toEqual([
      { repository: `${registry.host}/apps/eng`, tags: [expect.objectContaining({ tag: 'nope', state: 'ASSUMED' })] },
    ]);
    const rows = all!.tags as Array<{
      tag: string;
      state: string;
      digest: string | null;
      localId: string | null;
    }>;
    expect(rows.map((r) => [r.tag, r.state])).toEqual([
      ['local', 'LOCAL-ONLY'],
      ['v1', 'PRESENT'],
      ['v2', 'CHANGED'],
      ['v3', 'ABSENT'],
    ]);
    expect(rows.find((r) => r.tag === 'v1')).toMatchObject({
      digest: v1.digest,
      localId: expect.stringMatching(/^(sha256:)?[a-f0-9]{64}$/),
    });
    expect(rows.find((r) => r.tag === 'v2')!.digest).toBe(v2b.digest);
  }, 120_000);

  it('compare --with a second registry', async () => {
    const other = await startRegistry();
    try {
      await new Pusher(other).push('mirror/apps/eng', v1, 'v1');
      await new Pusher(other).push('mirror/apps/eng', v2, 'v2');
      await new Pusher(other).push('mirror/apps/eng', v3, 'extra');
      const res = await krill(['compare', `${registry.host}/apps/eng`, '--with', `${other.host}/mirror`, '--json'], {
        env,
      });
      expect(res.code, res.stderr).toBe(0);
      const [result] = JSON.parse(res.stdout) as Array<{ tags: Array<{ tag: string; state: string }> }>;
      expect(result!.tags.map((r) => [r.tag, r.state])).toEqual([
        ['extra', 'LOCAL-ONLY'],
        ['v1', 'PRESENT'],
        ['v2', 'CHANGED'],
        ['v3', 'ABSENT'],
      ]);
    } finally {
      await other.stop();
    }
  });

  it('no engine: exit 1 naming the address tried', async () => {
    const port = await freePort();
    const res = await krill(['compare', `${registry.host}/apps/eng`], {
      env: isolatedEnv({ DOCKER_HOST: `tcp://127.0.0.1:${port}` }),
    });
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toMatch(
      new RegExp(`^krill: no Docker engine answers at tcp://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
  });
});
