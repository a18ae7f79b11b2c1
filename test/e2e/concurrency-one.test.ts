import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, krill } from '../harness/cli.js';
import { sigTag } from '../harness/fixtures.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// --concurrency 1: one request slot for the whole run. Every command must still finish (issue 25:
// copy and sync of a signed image whose layer the destination held elsewhere waited forever on
// a slot they held themselves, and Node exited 13 without a word).
let a: TestRegistry;
let b: TestRegistry;

beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  const big = randomBytes(3 * 1024 * 1024);
  const image = buildImage({ created: '2025-01-01T00:00:00Z', layers: [big, 'small'] });
  const signature = buildImage({ created: '2025-01-02T00:00:00Z', layers: ['signature'], format: 'oci' });
  const src = new Pusher(a);
  await src.push('apps/signed', image, 'v1');
  await src.push('apps/signed', signature, sigTag(image));
  // The destination already holds the big layer, in another repository.
  await new Pusher(b).push('elsewhere/app', image, 'old');
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('--concurrency 1', () => {
  it('copy --all-tags of a signed image whose layer the destination holds elsewhere', async () => {
    const res = await krill([
      'copy',
      '--all-tags',
      `${a.host}/apps/signed`,
      `${b.host}/copied/signed`,
      '--concurrency',
      '1',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect((await new Pusher(b).tags('copied/signed')).length).toBe(2);
  });

  it('sync of the same', async () => {
    const res = await krill(['sync', `${a.host}/apps/signed`, '--to', `${b.host}/synced`, '--concurrency', '1']);
    expect(res.code, res.stderr).toBe(0);
    expect((await new Pusher(b).tags('synced/apps/signed')).length).toBe(2);
  });
});

describe('--concurrency 1, reads and deletion', () => {
  it('tags, then cleanup --yes, finish', async () => {
    const p = new Pusher(a);
    for (let i = 1; i <= 4; i++)
      await p.push('apps/few', buildImage({ created: `2025-01-0${i}T00:00:00Z`, layers: [`few ${i}`] }), `v${i}`);
    const tags = await krill(['tags', `${a.host}/apps/few`, '--json', '--concurrency', '1']);
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout)).toHaveLength(4);
    const cleanup = await krill(['cleanup', `${a.host}/apps/few`, '--keep', '2', '--yes', '--concurrency', '1']);
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(await p.tags('apps/few')).toEqual(['v3', 'v4']);
  });
});

describe('a run that waits on itself', () => {
  it('ends with an internal-error line and exit 1, never a silent 13', () => {
    // The guard main() installs, around a promise nothing can settle (what the deadlock was).
    const main = join(dirname(BIN), '..', 'dist', 'cli', 'main.js');
    const script = `const { guardUnsettledRun } = await import(${JSON.stringify(main)}); guardUnsettledRun(); await new Promise(() => {});`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/^krill: internal error: the run stopped with work still waiting on itself/);
  });
});
