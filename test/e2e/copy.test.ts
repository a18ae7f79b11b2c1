import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import type { WebFixture } from '../harness/fixtures.js';
import { seedWebRepository } from '../harness/fixtures.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { TOKEN_USERS } from '../harness/token-issuer.js';

// Two real registries on loopback: a plain one (source) and one with token auth (destination).
let a: TestRegistry;
let b: TestRegistry;
let web: WebFixture;
const admin = ['--dest-username', 'admin', '--dest-password', TOKEN_USERS.admin!.password];

beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry({ auth: 'token' })]);
  web = await seedWebRepository(a);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

interface CopyJson {
  digest: string;
  blobsCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
}

describe('krill copy', () => {
  it('copies an image with the same digest, and skips every blob the second time', async () => {
    const first = await krill(['copy', `${a.host}/apps/web:1.0.0`, `${b.host}/mirror/web`, '--json', ...admin]);
    expect(first.code, first.stderr).toBe(0);
    const [r1] = JSON.parse(first.stdout) as CopyJson[];
    expect(r1).toMatchObject({ digest: web.images.v1!.digest, blobsCopied: 3, blobsSkipped: 0 });
    expect(await new Pusher(b).resolve('mirror/web', '1.0.0')).toBe(web.images.v1!.digest);
    const second = await krill(['copy', `${a.host}/apps/web:1.0.0`, `${b.host}/mirror/web`, '--json', ...admin]);
    expect(JSON.parse(second.stdout)[0]).toMatchObject({ blobsCopied: 0, blobsSkipped: 3 });
  });

  it('copies a multi-arch index with every platform, children first', async () => {
    const res = await krill(['copy', `${a.host}/apps/web:3.0.0`, `${b.host}/mirror/web:three`, ...admin]);
    expect(res.code, res.stderr).toBe(0);
    const dst = new Pusher(b);
    expect(await dst.resolve('mirror/web', 'three')).toBe(web.images.multi!.digest);
    for (const child of web.images.multi!.children)
      expect(await dst.resolve('mirror/web', child.digest)).toBe(child.digest);
  });

  it('--platform copies one platform', async () => {
    const res = await krill([
      'copy',
      `${a.host}/apps/web:3.0.0`,
      `${b.host}/mirror/web:arm`,
      '--platform',
      'linux/arm64/v8',
      ...admin,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(await new Pusher(b).resolve('mirror/web', 'arm')).toBe(web.images.arm64!.digest);
  });

  it('mounts blobs across repositories of one registry instead of uploading', async () => {
    const res = await krill(['copy', `${a.host}/apps/web:2.0.0`, `${a.host}/apps/web-copy:2.0.0`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)[0]).toMatchObject({ blobsCopied: 0, blobsMounted: 4 });
    expect(await new Pusher(a).resolve('apps/web-copy', '2.0.0')).toBe(web.images.v2!.digest);
  });

  it('--all-tags copies every tag', async () => {
    const res = await krill(['copy', '--all-tags', `${a.host}/apps/web`, `${b.host}/all/web`, ...admin]);
    expect(res.code, res.stderr).toBe(0);
    const dst = new Pusher(b);
    expect(await dst.tags('all/web')).toEqual(Object.keys(web.tags).sort());
    for (const [tag, m] of Object.entries(web.tags)) expect(await dst.resolve('all/web', tag)).toBe(m.digest);
  });

  it('streams a large blob and checks its digest', async () => {
    const big = buildImage({ layers: [randomBytes(24 * 1024 * 1024)] });
    await new Pusher(a).push('apps/big', big, 'v1');
    const res = await krill(['copy', `${a.host}/apps/big:v1`, `${b.host}/mirror/big:v1`, '--json', ...admin]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)[0].blobsCopied).toBe(2);
    expect(await new Pusher(b).resolve('mirror/big', 'v1')).toBe(big.digest);
  });

  it('a read-only destination account fails with one line', async () => {
    const res = await krill([
      'copy',
      `${a.host}/apps/web:1.0.0`,
      `${b.host}/mirror/ro`,
      '--dest-username',
      'reader',
      '--dest-password',
      TOKEN_USERS.reader!.password,
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr.split('\n').filter((l) => l && !l.includes('warning'))).toEqual([
      `krill: ${b.host} refused pull,push on repository mirror/ro for the credentials from command-line flags: check that the account has this permission`,
    ]);
  });
});
