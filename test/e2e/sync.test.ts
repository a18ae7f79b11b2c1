import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, isolatedEnv, krill } from '../harness/cli.js';
import type { WebFixture } from '../harness/fixtures.js';
import { seedWebRepository } from '../harness/fixtures.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { parseSyncSpec } from '../../src/sync/spec.js';
import { terminalIo } from '../harness/run-cli.js';

// Two real registries on loopback: source and target.
let src: TestRegistry;
let dst: TestRegistry;
let web: WebFixture;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  web = await seedWebRepository(src);
});
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
});

interface Outcome {
  tag: string;
  status: string;
  digest?: string;
}

describe('lstags specs', () => {
  it('parses registry, tag, regex and assumed tags', () => {
    const s = parseSyncSpec('registry.example.com:5000/apps/web~/^v1\\./=v0.9,v0.8');
    expect(s.source.registry.host).toBe('registry.example.com:5000');
    expect(s.source.repository).toBe('apps/web');
    expect(s.filter!.source).toBe('^v1\\.');
    expect(s.assumed).toEqual(['v0.9', 'v0.8']);
    expect(parseSyncSpec('alpine:3.20').source).toMatchObject({ repository: 'library/alpine', tag: '3.20' });
    expect(() => parseSyncSpec('alpine~/(/')).toThrow(/invalid spec "alpine~\/\(\/" regex/);
    expect(() => parseSyncSpec('alpine:3~/x/')).toThrow(/either :TAG or ~\/REGEX\//);
  });
});

describe('krill sync', () => {
  it('copies only what is new or changed; a second run copies nothing', async () => {
    const spec = `${src.host}/apps/web~/^[12]\\./`;
    const first = await krill(['sync', spec, '--to', `${dst.host}/mirror`, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const outcomes = JSON.parse(first.stdout) as Outcome[];
    expect(outcomes.map((o) => [o.tag, o.status])).toEqual([
      ['1.0.0', 'copied'],
      ['1.1.0', 'copied'],
      ['2.0.0', 'copied'],
    ]);
    const target = new Pusher(dst);
    for (const o of outcomes) expect(await target.resolve('mirror/apps/web', o.tag)).toBe(web.tags[o.tag]!.digest);
    const second = await krill(['sync', spec, '--to', `${dst.host}/mirror`, '--json']);
    const again = JSON.parse(second.stdout) as Outcome[];
    expect(again.map((o) => o.tag)).toEqual(outcomes.map((o) => o.tag));
    expect(again.map((o) => o.status)).toEqual(again.map(() => 'up-to-date'));
    // A re-pushed source tag is copied again.
    const moved = buildImage({ created: '2025-01-01T00:00:00Z', layers: ['moved 1.0.0'] });
    await new Pusher(src).push('apps/web', moved, '1.0.0');
    const third = await krill(['sync', spec, '--to', `${dst.host}/mirror`, '--json']);
    expect((JSON.parse(third.stdout) as Outcome[]).filter((o) => o.status === 'copied').map((o) => o.tag)).toEqual([
      '1.0.0',
    ]);
    expect(await target.resolve('mirror/apps/web', '1.0.0')).toBe(moved.digest);
  });

  it('assumed tags are copied even when unlisted; missing ones fail, and --do-not-fail goes on', async () => {
    const res = await krill([
      'sync',
      `${src.host}/apps/web:stable=nodate,missing`,
      '--to',
      `${dst.host}/assumed`,
      '--json',
      '--do-not-fail',
    ]);
    expect(res.code).toBe(1);
    const outcomes = JSON.parse(res.stdout) as Outcome[];
    expect(outcomes.map((o) => [o.tag, o.status])).toEqual([
      ['missing', 'failed'],
      ['nodate', 'copied'],
      ['stable', 'copied'],
    ]);
    const without = await krill(['sync', `${src.host}/apps/web=missing`, '--to', `${dst.host}/assumed`]);
    expect(without.code).toBe(1);
  });

  it("--dry-run reports without copying, --prefix auto is lstags' push prefix (dots to slashes, no port)", async () => {
    const res = await krill([
      'sync',
      `${src.host}/apps/web:2.0.0`,
      '--to',
      dst.host,
      '--prefix',
      'auto',
      '--dry-run',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual([
      expect.objectContaining({
        tag: '2.0.0',
        status: 'would-copy',
        destination: `${dst.host}/127/0/0/1/apps/web:2.0.0`,
      }),
    ]);
    expect(await new Pusher(dst).resolve('127/0/0/1/apps/web', '2.0.0')).toBeUndefined();
  });

  it('reads krill and lstags YAML files', async () => {
    const env = isolatedEnv();
    const krillFile = join(env.HOME!, 'sync.yaml');
    writeFileSync(
      krillFile,
      `version: 1\ntarget: ${dst.host}/fromfile\nrepositories:\n  - ${src.host}/apps/web:3.0.0\n`,
    );
    const a = await krill(['sync', '-f', krillFile, '--json'], { env });
    expect(a.code, a.stderr).toBe(0);
    expect(await new Pusher(dst).resolve('fromfile/apps/web', '3.0.0')).toBe(web.images.multi!.digest);
    const lstagsFile = join(env.HOME!, 'lstags.yaml');
    writeFileSync(lstagsFile, `lstags:\n  repositories:\n    - ${src.host}/apps/web~/^epoch$/\n`);
    const b = await krill(['sync', '-f', lstagsFile, '--to', `${dst.host}/lstags`, '--json'], { env });
    expect(b.code, b.stderr).toBe(0);
    expect(await new Pusher(dst).tags('lstags/apps/web')).toEqual(['epoch']);
  });

  it('--prune deletes target tags the source no longer has, safely', async () => {
    await krill(['sync', `${src.host}/apps/web`, '--to', `${dst.host}/pruned`]);
    const extra = buildImage({ layers: ['only at the target'] });
    await new Pusher(dst).push('pruned/apps/web', extra, 'gone-at-source');
    await new Pusher(dst).push('pruned/apps/web', web.images.v2!, 'alias-of-2');
    const res = await krill(['sync', `${src.host}/apps/web`, '--to', `${dst.host}/pruned`, '--prune', '--yes']);
    expect(res.code, res.stderr).toBe(0);
    const tags = await new Pusher(dst).tags('pruned/apps/web');
    expect(tags).not.toContain('gone-at-source');
    expect(tags).not.toContain('alias-of-2');
    // alias-of-2 shared its digest with 2.0.0, which stays: untagged, not deleted.
    expect(await new Pusher(dst).resolve('pruned/apps/web', '2.0.0')).toBe(web.images.v2!.digest);
  });

  it('--prune with a ~/REGEX/ filter deletes only tags gone from the unfiltered source list', async () => {
    await krill(['sync', `${src.host}/apps/web`, '--to', `${dst.host}/filtered`]);
    const res = await krill([
      'sync',
      `${src.host}/apps/web~/^1\\./`,
      '--to',
      `${dst.host}/filtered`,
      '--prune',
      '--yes',
    ]);
    expect(res.code, res.stderr).toBe(0);
    // 2.0.0, 3.0.0, stable… are outside the filter but still at the source: they stay.
    expect(await new Pusher(dst).tags('filtered/apps/web')).toEqual(Object.keys(web.tags).sort());
  });

  it('--daemon syncs every interval and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'sync', `${src.host}/apps/web:1.1.0`, '--to', `${dst.host}/daemon`, '--daemon', '--interval', '1s'],
      { env: isolatedEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if ((err.match(/sync round done/g) ?? []).length >= 2) {
          clearInterval(check);
          resolve();
        }
      }, 100);
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    // One line per image that changed; up-to-date images only with --verbose; rounds are timestamped.
    expect(out.replace(/\n {2}/g, ' ')).toMatch(
      /copied \S+apps\/web:1\.1\.0 → \S+ {1,2}sha256:\w{12}, \d+ blobs, [\d.]+ \w?B/,
    );
    expect(out).not.toMatch(/up-to-date/);
    expect(err).toMatch(/krill: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ sync round done: 1 copied, 0 failed/);
    expect(err).toMatch(/sync round done: 0 copied, 0 failed/);
    expect(err).toContain('stopping after the current image');
  });
});

describe('sync on a terminal', () => {
  it('shows an overall counter, and a summary of what was done when interrupted', async () => {
    const { runCli } = await import('../../src/cli/main.js');
    const controller = new AbortController();
    let out = '';
    let err = '';
    const code = await runCli(
      ['sync', `${src.host}/apps/web`, '--to', `${dst.host}/interrupted`],
      terminalIo({
        // The first image line is where the user presses Ctrl-C.
        out: (t) => {
          out += String(t);
          if (out.includes('copied ')) controller.abort();
        },
        err: (t) => void (err += t),
      }),
      controller.signal,
    );
    expect(code).toBe(130);
    expect(err).toContain('\r\u001b[2Kkrill: syncing 1/7');
    expect(out).toMatch(/Synced before stopping: [1-6] copied, 0 up to date, 0 failed\./);
  });
});

describe('copy --all-tags on a terminal', () => {
  it('counts images', async () => {
    const { runCli } = await import('../../src/cli/main.js');
    let err = '';
    const code = await runCli(
      ['copy', '--all-tags', `${src.host}/apps/web`, `${dst.host}/counted/web`],
      terminalIo({ err: (t) => void (err += t) }),
    );
    expect(code, err).toBe(0);
    expect(err).toContain('copied 7/7 images');
  });
});
