import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { ACCEPT_ALL, Pusher, buildImage } from '../harness/images.js';
import type { TestPostgres } from '../harness/postgres.js';
import { startPostgres } from '../harness/postgres.js';
import type { TestRegistry } from '../harness/registry.js';
import { freePort, startRegistry } from '../harness/registry.js';
import { startListen } from '../harness/listen.js';
import { runKrill } from '../harness/run-cli.js';

// A replicated registry: two distribution processes on one storage, each notifying its own
// `krill listen`, both listeners writing one real PostgreSQL server (Debian's, initdb'd here).
const SECRET = 'krill-ledger-pg-secret-0123456789abcdef';

async function get(registry: TestRegistry, path: string, agent: string): Promise<void> {
  const res = await request(`${registry.url}${path}`, {
    headers: { accept: ACCEPT_ALL, 'user-agent': agent },
    dispatcher: registry.dispatcher,
  });
  await res.body.dump();
  expect(res.statusCode).toBe(200);
}

describe('the ledger on PostgreSQL, fed by two registry replicas', () => {
  let postgres: TestPostgres;
  let replicas: TestRegistry[] = [];
  let listeners: Array<{ stop: () => Promise<unknown> }> = [];
  let env: Record<string, string>;
  let ports: number[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
    env = isolatedEnv({ KRILL_LEDGER: postgres.url });
    ports = [await freePort(), await freePort()];
    // Both listeners migrate the empty database at once: one waits for the other's lock.
    listeners = await Promise.all(
      ports.map((port) => startListen(env, port, SECRET, '--registry-name', 'registry.example.com')),
    );
    const first = await startRegistry({ notify: { url: `http://127.0.0.1:${ports[0]}/events`, secret: SECRET } });
    const second = await startRegistry({
      storageDir: first.storageDir,
      notify: { url: `http://127.0.0.1:${ports[1]}/events`, secret: SECRET },
    });
    replicas = [first, second];
  }, 60_000);
  afterAll(async () => {
    for (const r of replicas.reverse()) await r.stop();
    for (const l of listeners) await l.stop();
    await postgres?.stop();
  });

  it('pushes on one replica and pulls on both land in one ledger, each event once', async () => {
    const [first, second] = replicas as [TestRegistry, TestRegistry];
    const image = buildImage({ layers: ['replicated'] });
    await new Pusher(first).push('shared/app', image, 'v1');
    await get(first, '/v2/shared/app/manifests/v1', 'containerd/1.7.2');
    await get(second, '/v2/shared/app/manifests/v1', 'containerd/1.7.2');
    await get(second, `/v2/shared/app/manifests/${image.digest}`, 'docker/27.0');

    // Read the ledger as cleanup would, through the registry name both listeners record under.
    const deadline = Date.now() + 20_000;
    let status: { registries: Array<{ registry: string; events: number; instances: unknown[] }> };
    for (;;) {
      const res = await runKrill(['ledger', 'status', '--json'], { env });
      expect(res.code, res.stderr).toBe(0);
      status = JSON.parse(res.stdout);
      if ((status.registries[0]?.events ?? 0) >= 4) break;
      if (Date.now() > deadline) throw new Error(`events missing: ${res.stdout}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status.registries).toHaveLength(1);
    expect(status.registries[0]).toMatchObject({ registry: 'registry.example.com', events: 4 });
    expect(status.registries[0]!.instances).toHaveLength(2); // each replica's instance id

    // The same event delivered to both listeners (a retry that crossed replicas) counts once.
    const event = {
      id: 'same-event-both-listeners',
      timestamp: new Date().toISOString(),
      action: 'pull',
      target: { mediaType: image.mediaType, digest: image.digest, repository: 'shared/app', tag: 'v1' },
      request: { method: 'GET', useragent: 'containerd/1.7.2', host: 'registry.example.com' },
      source: { instanceID: 'manual' },
    };
    const answers = await Promise.all(
      ports.map(async (port) => {
        const res = await request(`http://127.0.0.1:${port}/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: [event] }),
        });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    expect(answers).toEqual([200, 200]);
    const after = JSON.parse((await runKrill(['ledger', 'status', '--json'], { env })).stdout);
    expect(after.registries[0].events).toBe(5);

    // The shared ledger answers the library like the CLI: usage per digest, tag moves.
    const { openLedger } = await import('../../src/ledger/open.js');
    const store = await openLedger({ kind: 'postgres', url: postgres.url });
    try {
      const usage = (await store.usage('registry.example.com', 'shared/app', [image.digest])).get(image.digest)!;
      expect(usage.pulls).toBe(4); // three GETs by clients and the manual one; never twice
      expect(usage.lastPullAgent).toMatch(/^(containerd|docker)\//);
      const moves = await store.tagMoves('registry.example.com', 'shared/app', 'v1');
      expect(moves.map((m) => [m.from, m.to, m.source])).toEqual([['', image.digest, 'push']]);
    } finally {
      await store.close();
    }
  });
});
