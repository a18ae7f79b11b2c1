import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import type { FaultProxy } from '../harness/fault-proxy.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { seedNumberedImages } from '../harness/fixtures.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

/**
 * The real registry behind a fault-injecting proxy (test code): random 5xx with HTML bodies, 429
 * with Retry-After and a plain-text body, connection resets, delays, and blob downloads cut in the
 * middle. Results must be identical to a fault-free run, and deletions must never exceed the plan.
 */
let registry: TestRegistry;
let proxy: FaultProxy;
// Rates chosen so six attempts practically always suffice: a test must not flake on bad luck.
const MIX = { error5xx: 0.04, rateLimit: 0.004, reset: 0.02, delay: 0.03, cutBlob: 0.05 };

const seed = (repository: string, images: number) => seedNumberedImages(registry, repository, images);

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host, MIX);
  await seed('apps/faulty', 48);
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

describe('faults: results identical to a fault-free run', () => {
  it('tags', async () => {
    const clean = await krill(['tags', `${registry.host}/apps/faulty`, '--json', '--no-cache']);
    const before = { ...proxy.stats };
    const faulty = await krill(['tags', `${proxy.host}/apps/faulty`, '--json', '--no-cache']);
    expect(faulty.code, faulty.stderr).toBe(0);
    expect(faulty.stdout).toBe(clean.stdout);
    expect(proxy.stats.error5xx! - before.error5xx! + proxy.stats.reset! - before.reset!).toBeGreaterThan(2);
  });

  it('cleanup of a hundred and sixty tags deletes exactly the plan', async () => {
    await seed('apps/clean', 80);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    const dry = await krill(
      ['cleanup', `${registry.host}/apps/clean`, '--keep', '20', '--dry-run', '--plan-out', planPath],
      { env },
    );
    expect(dry.code, dry.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    const expected = plan.repositories[0].keep.map((t: { tag: string }) => t.tag).sort();
    const res = await krill(['cleanup', `${proxy.host}/apps/clean`, '--keep', '20', '--yes'], { env });
    expect(res.code, res.stderr).toBe(0);
    expect(await new Pusher(registry).tags('apps/clean')).toEqual(expected);
    expect(expected).toHaveLength(40);
  });

  it('copy through cut blob downloads ends with the same digests', async () => {
    const big = buildImage({ layers: [Buffer.alloc(3 * 1024 * 1024, 7), Buffer.alloc(2 * 1024 * 1024, 9)] });
    await new Pusher(registry).push('apps/big', big, 'v1');
    const dest = await startRegistry();
    try {
      const before = proxy.stats.cutBlob!;
      for (const tag of ['v1']) {
        const res = await krill(['copy', `${proxy.host}/apps/big:${tag}`, `${dest.host}/mirror/big:${tag}`]);
        expect(res.code, res.stderr).toBe(0);
      }
      const res = await krill(['copy', '--all-tags', `${proxy.host}/apps/faulty`, `${dest.host}/mirror/faulty`]);
      expect(res.code, res.stderr).toBe(0);
      const src = new Pusher(registry);
      const dst = new Pusher(dest);
      expect(await dst.resolve('mirror/big', 'v1')).toBe(big.digest);
      expect(await dst.tags('mirror/faulty')).toEqual(await src.tags('apps/faulty'));
      for (const tag of (await src.tags('apps/faulty')).slice(0, 30))
        expect(await dst.resolve('mirror/faulty', tag)).toBe(await src.resolve('apps/faulty', tag));
      expect(proxy.stats.cutBlob! - before).toBeGreaterThan(0);
    } finally {
      await dest.stop();
    }
  });
});
