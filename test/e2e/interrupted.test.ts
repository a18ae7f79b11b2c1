import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, isolatedEnv, krill } from '../harness/cli.js';
import { seedNumberedImages } from '../harness/fixtures.js';
import { Pusher } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

/**
 * A cleanup killed (SIGTERM) at random points and run again converges on exactly its plan: never
 * more deleted than planned after any interruption. (Split from faults.test.ts so the two run side
 * by side.)
 */
let registry: TestRegistry;

const seed = (repository: string, images: number) => seedNumberedImages(registry, repository, images);

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
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
