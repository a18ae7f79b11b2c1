import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, isolatedEnv, krill } from '../harness/cli.js';
import type { FaultProxy } from '../harness/fault-proxy.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { Pusher, buildImage, buildIndex } from '../harness/images.js';
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

async function seed(repository: string, images: number): Promise<void> {
  const pusher = new Pusher(registry);
  const work = Array.from({ length: images }, (_, i) => i);
  for (let i = 0; i < work.length; i += 8) {
    await Promise.all(
      work.slice(i, i + 8).map(async (n) => {
        const created = new Date(Date.UTC(2024, 0, 1) + n * 3_600_000).toISOString();
        const m =
          n % 10 === 0
            ? buildIndex([
                buildImage({ created, layers: ['base', `${repository} ${n} amd`], format: 'oci' }),
                buildImage({
                  created,
                  layers: ['arm base', `${repository} ${n} arm`],
                  format: 'oci',
                  architecture: 'arm64',
                }),
              ])
            : buildImage({ created, layers: ['base', `${repository} ${n}`] });
        await pusher.push(repository, m, `v${n}`, `build-${n}`);
      }),
    );
  }
}

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

describe('interrupted cleanups converge', () => {
  it('a cleanup killed at random points and rerun ends with exactly the planned tags', async () => {
    await seed('apps/killed', 80);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    await krill(['cleanup', `${registry.host}/apps/killed`, '--keep', '10', '--dry-run', '--plan-out', planPath], {
      env,
    });
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    const expected = plan.repositories[0].keep.map((t: { tag: string }) => t.tag).sort();
    const codes: Array<number | null> = [];
    for (const delay of [150, 400, 700]) {
      const child = spawn(process.execPath, [BIN, 'apply', planPath, '--yes'], { env, stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGTERM'), delay);
      codes.push(await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))));
      clearTimeout(timer);
      const remaining = await new Pusher(registry).tags('apps/killed');
      // Never more than the plan: every kept tag is still there after each interruption.
      for (const tag of expected) expect(remaining).toContain(tag);
    }
    // 130: interrupted cleanly; 0: finished before the signal; null: killed before krill installed its handlers.
    expect(codes.every((c) => c === 130 || c === 0 || c === null)).toBe(true);
    const rerun = await krill(['apply', planPath, '--yes'], { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await new Pusher(registry).tags('apps/killed')).toEqual(expected);
  });
});
