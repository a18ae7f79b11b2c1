import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import type { BuiltManifest } from '../harness/images.js';
import { ACCEPT_ALL, Pusher, buildImage, buildIndex } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { DEFAULT_IMPLEMENTATION, freePort, startRegistry } from '../harness/registry.js';
import type { Listener } from '../harness/listen.js';
import { startListen } from '../harness/listen.js';
import { runKrill } from '../harness/run-cli.js';

// The ledger against the real registry's notifications: distribution POSTs its events to
// `krill listen` (run in process through runCli), and cleanup, tags and history read them.
const SECRET = 'krill-ledger-e2e-secret-0123456789abcdef';

/** A client's manifest request with its own user agent (what containerd or docker sends). */
async function pull(
  registry: TestRegistry,
  repository: string,
  reference: string,
  agent: string,
  method: 'GET' | 'HEAD' = 'GET',
): Promise<void> {
  const res = await request(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    method,
    headers: { accept: ACCEPT_ALL, 'user-agent': agent },
    dispatcher: registry.dispatcher,
  });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`${method} ${repository}:${reference} answered ${res.statusCode}`);
}

interface Row {
  tag: string;
  digest: string;
  pushed?: string | null;
  lastPulled?: string | null;
  pulls?: number;
}

async function tagRows(env: Record<string, string>, reference: string): Promise<Row[]> {
  const res = await runKrill(['tags', reference, '--json'], { env });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Row[];
}

/**
 * Waits until the ledger holds a pull of a sentinel pushed and pulled last: distribution delivers
 * one endpoint's events in order, so everything before it is stored too.
 */
async function settle(env: Record<string, string>, registry: TestRegistry, pusher: Pusher): Promise<void> {
  const image = buildImage({ layers: [`sentinel ${Date.now()} ${Math.random()}`] });
  await pusher.push('ledger/sentinel', image, 'mark');
  await pull(registry, 'ledger/sentinel', 'mark', 'sentinel/1.0');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const rows = await tagRows(env, `${registry.host}/ledger/sentinel`);
    if (rows.find((r) => r.tag === 'mark')?.digest === image.digest && rows[0]?.lastPulled) return;
    if (Date.now() > deadline) throw new Error('the sentinel never reached the ledger');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('krill listen with real distribution notifications', () => {
  let registry: TestRegistry;
  let pusher: Pusher;
  let listener: Listener;
  let env: Record<string, string>;
  let port: number;
  let ledger: string;

  beforeAll(async () => {
    port = await freePort();
    ledger = `sqlite:${join(mkdtempSync(join(tmpdir(), 'krill-ledger-')), 'ledger.db')}`;
    env = isolatedEnv({ KRILL_LEDGER: ledger });
    listener = await startListen(env, port, SECRET, '--ignore-agent', '^Trivy');
    registry = await startRegistry({ notify: { url: `http://127.0.0.1:${port}/events`, secret: SECRET } });
    pusher = new Pusher(registry);
  });
  afterAll(async () => {
    await registry?.stop();
    await listener?.stop();
  });

  it('counts GETs by clients, not HEADs, not krill, not ignored agents; tags shows PUSHED and LAST PULLED', async () => {
    const image = buildImage({ layers: ['ledger app v1'] });
    await pusher.push('ledger/app', image, 'v1');
    await pull(registry, 'ledger/app', 'v1', 'containerd/1.7.2');
    await pull(registry, 'ledger/app', 'v1', 'containerd/1.7.2', 'HEAD');
    await pull(registry, 'ledger/app', image.digest, 'docker/27.0.3 go/go1.22 os/linux');
    await pull(registry, 'ledger/app', 'v1', 'Trivy/0.50.1');
    expect((await runKrill(['inspect', `${registry.host}/ledger/app:v1`], { env })).code).toBe(0);
    await settle(env, registry, pusher);

    const [row] = await tagRows(env, `${registry.host}/ledger/app`);
    expect(row).toMatchObject({ tag: 'v1', digest: image.digest, pulls: 2 });
    expect(Date.parse(row!.pushed!)).toBeLessThanOrEqual(Date.parse(row!.lastPulled!));
    const table = await runKrill(['tags', `${registry.host}/ledger/app`], { env });
    expect(table.stdout).toMatch(/^TAG\s+DIGEST\s+PUSHED\s+LAST PULLED\s+SIZE/);

    // Without a ledger configured, the table and JSON stay as they were (no native module loaded).
    const plainEnv = { ...env };
    delete plainEnv.KRILL_LEDGER;
    const plain = JSON.parse(
      (await runKrill(['tags', `${registry.host}/ledger/app`, '--json'], { env: plainEnv })).stdout,
    );
    expect(plain[0]).not.toHaveProperty('lastPulled');
  });

  it("history shows a tag's moves from push events", async () => {
    const first = buildImage({ layers: ['moving 1'] });
    const second = buildImage({ layers: ['moving 2'] });
    await pusher.push('ledger/moving', first, 'latest');
    await pusher.push('ledger/moving', second, 'latest');
    await settle(env, registry, pusher);
    const res = await runKrill(['history', `${registry.host}/ledger/moving:latest`, '--json'], { env });
    expect(res.code, res.stderr).toBe(0);
    const moves = JSON.parse(res.stdout) as Array<{ tag: string; from: string; to: string; source: string }>;
    expect(moves.map((m) => [m.from, m.to, m.source])).toEqual([
      ['', first.digest, 'push'],
      [first.digest, second.digest, 'push'],
    ]);
    const table = await runKrill(['history', `${registry.host}/ledger/moving:latest`], { env });
    expect(table.stdout).toMatch(/WHEN\s+TAG\s+FROM\s+TO\s+HOW/);
    expect(table.stdout).toContain('pushed');
  });

  // distribution 3 deletes a tag with DELETE …/manifests/<tag> and notifies it with the tag; 2.8
  // cannot delete a tag (krill's throwaway untag shows there as a push of the throwaway).
  it.runIf(DEFAULT_IMPLEMENTATION === 'distribution-3')(
    'a tag deleted on distribution 3 shows in history',
    async () => {
      const image = buildImage({ layers: ['tag delete'] });
      await pusher.push('ledger/untag', image, 'a', 'b');
      const rm = await runKrill(['rm', `${registry.host}/ledger/untag:a`, '--yes'], { env });
      expect(rm.code, rm.stderr).toBe(0);
      await settle(env, registry, pusher);
      const res = await runKrill(['history', `${registry.host}/ledger/untag:a`, '--json'], { env });
      const moves = JSON.parse(res.stdout) as Array<{ from: string; to: string; source: string }>;
      expect(moves.map((m) => [m.from, m.to, m.source])).toEqual([
        ['', image.digest, 'push'],
        [image.digest, '', 'delete'],
      ]);
    },
  );

  it('a listener that was down gets the events the registry retried; what it stored survives its restart', async () => {
    const before = (await tagRows(env, `${registry.host}/ledger/app`))[0]!;
    const stopped = await listener.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(/stopped: \d+ requests, \d+ events stored/);
    const image = buildImage({ layers: ['pushed while the listener was down'] });
    await pusher.push('ledger/down', image, 'v1');
    await pull(registry, 'ledger/down', 'v1', 'containerd/1.7.2');
    await new Promise((r) => setTimeout(r, 500)); // the registry fails, backs off, retries
    listener = await startListen(env, port, SECRET, '--ignore-agent', '^Trivy');
    await settle(env, registry, pusher);
    expect((await tagRows(env, `${registry.host}/ledger/down`))[0]).toMatchObject({ pulls: 1, digest: image.digest });
    expect((await tagRows(env, `${registry.host}/ledger/app`))[0]).toEqual(before);
  });
});

describe('cleanup --unpulled-for against the ledger', () => {
  const WINDOW_S = 4;
  let registry: TestRegistry;
  let pusher: Pusher;
  let listener: Listener;
  let env: Record<string, string>;
  const images: Record<string, BuiltManifest> = {};
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krill-unpulled-'));
    env = isolatedEnv({ KRILL_LEDGER: `sqlite:${join(dir, 'ledger.db')}` });
    // An image pushed before the ledger existed: through a registry without notifications, on the
    // storage the notifying registry then serves.
    const before = await startRegistry();
    images.old = buildImage({ created: '2024-01-01T00:00:00Z', layers: ['old'] });
    await new Pusher(before).push('retention/app', images.old, 'old');
    await before.stop({ keepStorage: true });
    const port = await freePort();
    listener = await startListen(env, port, SECRET);
    registry = await startRegistry({
      storageDir: before.storageDir,
      notify: { url: `http://127.0.0.1:${port}/events`, secret: SECRET },
    });
    pusher = new Pusher(registry);
    const platforms = ['amd64', 'arm64'].map((architecture) =>
      buildImage({ architecture, created: '2026-01-01T00:00:00Z', layers: [`multi ${architecture}`] }),
    );
    images.multi = buildIndex(platforms);
    for (const name of ['stale', 'pulled'])
      images[name] = buildImage({ created: '2026-01-01T00:00:00Z', layers: [name] });
    for (const name of ['stale', 'pulled', 'multi']) await pusher.push('retention/app', images[name]!, name);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000 + 500));
    // Within the window: a pull by tag, one platform of the index by digest, a fresh push; and
    // what does not count: a HEAD and krill's own reads of `stale`.
    await pull(registry, 'retention/app', 'pulled', 'containerd/1.7.2');
    await pull(registry, 'retention/app', images.multi.children[1]!.digest, 'containerd/1.7.2');
    images.fresh = buildImage({ created: '2020-01-01T00:00:00Z', layers: ['fresh'] });
    await pusher.push('retention/app', images.fresh, 'fresh');
    await pull(registry, 'retention/app', 'stale', 'containerd/1.7.2', 'HEAD');
    await runKrill(['inspect', `${registry.host}/retention/app:stale`], { env });
    await settle(env, registry, pusher);
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    await listener?.stop();
  });

  const plan = async (...flags: string[]) => {
    const res = await runKrill(
      ['cleanup', `${registry.host}/retention/app`, '--unpulled-for', `${WINDOW_S}s`, '--dry-run', '--json', ...flags],
      { env },
    );
    expect(res.code, res.stderr).toBe(0);
    const repo = JSON.parse(res.stdout).repositories[0] as {
      delete: Array<{ tag: string; reason: string }>;
      keep: Array<{ tag: string; reason: string }>;
    };
    return {
      deleted: repo.delete.map((t) => t.tag).sort(),
      reasons: Object.fromEntries([...repo.keep, ...repo.delete].map((t) => [t.tag, t.reason])),
    };
  };

  it('keeps exactly the pulled, the freshly pushed and the pre-coverage images', async () => {
    const { deleted, reasons } = await plan();
    expect(deleted).toEqual(['stale']);
    expect(reasons.pulled).toMatch(/^pulled \S+ by containerd$/);
    expect(reasons.multi).toMatch(/^pulled \S+ by containerd$/); // one platform pulled: the index stays
    expect(reasons.fresh).toMatch(/^never pulled; pushed \S+, within 4s$/);
    expect(reasons.old).toMatch(/^no pull data before \S+ \(--allow-before-ledger\)$/);
    expect(reasons.stale).toMatch(/^never pulled since \S+$/);
    expect((await plan('--allow-before-ledger')).deleted).toEqual(['old', 'stale']);
  });

  it('apply keeps an image pulled between the plan and the apply', async () => {
    const planFile = join(dir, 'plan.json');
    const made = await runKrill(
      [
        'cleanup',
        `${registry.host}/retention/app`,
        '--unpulled-for',
        `${WINDOW_S}s`,
        '--dry-run',
        '--plan-out',
        planFile,
      ],
      { env },
    );
    expect(made.code, made.stderr).toBe(0);
    await pull(registry, 'retention/app', 'stale', 'podman/5.0');
    await settle(env, registry, pusher);
    const applied = await runKrill(['apply', planFile, '--yes', '--json'], { env });
    expect(applied.code, applied.stderr).toBe(0);
    const outcomes = JSON.parse(applied.stdout).result.outcomes as Array<{
      status: string;
      detail?: string;
      tags: string[];
    }>;
    expect(outcomes.find((o) => o.tags.includes('stale'))).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^kept: pulled \S+ since the plan was made$/),
    });
    expect(await pusher.tags('retention/app')).toContain('stale');
  });
});
