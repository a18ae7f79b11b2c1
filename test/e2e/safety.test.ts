import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { seedApiRepository } from '../harness/fixtures.js';
import { Pusher, buildImage, buildIndex } from '../harness/images.js';
import type { BuiltManifest } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';
import { buildThrowaway } from '../../src/registry/untag.js';

// The Safety section against the real distribution 2.8 server, every check through its API.
let registry: TestRegistry;
let pusher: Pusher;
let counter = 0;
const repo = (name: string) => `${name}-safety-${++counter}`;

beforeAll(async () => {
  registry = await startRegistry();
  pusher = new Pusher(registry);
});
afterAll(async () => {
  await registry?.stop();
});

async function deleteByDigest(repository: string, digest: string): Promise<void> {
  const res = await request(`${registry.url}/v2/${repository}/manifests/${digest}`, {
    method: 'DELETE',
    dispatcher: registry.dispatcher,
  });
  await res.body.text();
  expect(res.statusCode).toBe(202);
}

/** Makes a tag dangling the way a registry race does: the tag stays listed, its manifest is gone. */
function dropRevision(repository: string, digest: string): void {
  rmSync(
    join(
      registry.storageDir,
      'docker/registry/v2/repositories',
      repository,
      '_manifests/revisions/sha256',
      digest.slice(7),
    ),
    { recursive: true },
  );
}

async function pushRaw(repository: string, tag: string, bytes: Buffer, mediaType: string): Promise<void> {
  const res = await request(`${registry.url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType },
    body: bytes,
    dispatcher: registry.dispatcher,
  });
  await res.body.text();
  expect(res.statusCode).toBe(201);
}

describe('damaged registries never block a repository', () => {
  it('an index with a missing child is listed as damaged, planned around, and removable with rm', async () => {
    const r = repo('apps/damaged');
    const amd64 = buildImage({ layers: [`amd ${r}`], format: 'oci' });
    const arm64 = buildImage({ layers: [`arm ${r}`], format: 'oci', architecture: 'arm64' });
    const index = buildIndex([amd64, arm64], { format: 'oci' });
    const plain = buildImage({ created: '2025-01-01T00:00:00Z', layers: [`plain ${r}`] });
    await pusher.push(r, index, 'multi');
    await pusher.push(r, plain, 'plain');
    await deleteByDigest(r, arm64.digest); // what garbage-collect --delete-untagged does on 2.8

    const tags = await runKrill(['tags', `${registry.host}/${r}`, '--json']);
    expect(tags.code, tags.stderr).toBe(0);
    const rows = JSON.parse(tags.stdout) as Array<{ tag: string; missing?: string[] }>;
    expect(rows.find((row) => row.tag === 'multi')!.missing).toEqual([arm64.digest]);
    const table = await runKrill(['tags', `${registry.host}/${r}`]);
    expect(table.stdout).toMatch(/multi .*damaged: 1 missing/);

    const plan = await runKrill(['cleanup', `${registry.host}/${r}`, '--keep', '5', '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);

    const rm = await runKrill(['rm', `${registry.host}/${r}:multi`, '--yes']);
    expect(rm.code, rm.stderr + rm.stdout).toBe(0);
    expect(await pusher.tags(r)).toEqual(['plain']);
    expect(await pusher.resolve(r, index.digest)).toBeUndefined();
  });

  it('a dangling tag is shown, skipped by cleanup, and removed by rm', async () => {
    const r = repo('apps/dangling');
    const kept = buildImage({ created: '2025-01-01T00:00:00Z', layers: [`kept ${r}`] });
    const lost = buildImage({ created: '2025-02-01T00:00:00Z', layers: [`lost ${r}`] });
    await pusher.push(r, kept, 'kept');
    await pusher.push(r, lost, 'lost');
    dropRevision(r, lost.digest);

    const tags = await runKrill(['tags', `${registry.host}/${r}`, '--json']);
    expect(tags.code, tags.stderr).toBe(0);
    expect(JSON.parse(tags.stdout)).toContainEqual(
      expect.objectContaining({ tag: 'lost', digest: null, dangling: true }),
    );

    const plan = await runKrill([
      'cleanup',
      `${registry.host}/${r}`,
      '--keep',
      '0',
      '--no-protect-latest',
      '--dry-run',
    ]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/skip\s+lost\s+(-\s+)+dangling/);

    const rm = await runKrill(['rm', `${registry.host}/${r}:lost`, '--yes']);
    expect(rm.code, rm.stderr + rm.stdout).toBe(0);
    expect(await pusher.tags(r)).toEqual(['kept']);
    expect(await pusher.resolve(r, 'kept')).toBe(kept.digest);
  });
});

describe('apply finishes interrupted work', () => {
  it("a tag left on krill's throwaway (an untag cut between PUT and DELETE) is finished by apply of the same plan", async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    const saved = await runKrill(['rm', `${registry.host}/${r}:1.1.0`, '--dry-run', '--plan-out', planPath], { env });
    expect(saved.code, saved.stderr).toBe(0);
    // The interrupted run got as far as pushing the throwaway onto the tag.
    const original = f.tags['1.1.0']! as BuiltManifest;
    const throwaway = buildThrowaway(original.bytes, original.mediaType, '1.1.0');
    await pushRaw(r, '1.1.0', throwaway, original.mediaType);

    const applied = await runKrill(['apply', planPath, '--yes'], { env });
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    expect(applied.stdout).not.toMatch(/skipped:/);
    expect(applied.stdout).toMatch(/untagged 1,/);
    expect(await pusher.tags(r)).not.toContain('1.1.0');
    expect(await pusher.resolve(r, 'stable')).toBe(original.digest);
  });

  it('a cleanup rerun recognises the throwaway and finishes the untag, whatever its rules', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const original = f.tags['1.1.0']! as BuiltManifest;
    await pushRaw(r, '1.1.0', buildThrowaway(original.bytes, original.mediaType, '1.1.0'), original.mediaType);
    const res = await runKrill(['cleanup', `${registry.host}/${r}`, '--keep', '100', '--yes', '-o', 'wide']);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(res.stdout).toMatch(
      /delete\s+1\.1\.0\s+sha256:[0-9a-f]{64}\s.*finishes an untag an earlier run left half-way/,
    );
    expect(await pusher.tags(r)).not.toContain('1.1.0');
    expect(await pusher.resolve(r, 'stable')).toBe(original.digest);
  });

  it('platform manifests of an index deleted before an interruption are deleted by apply of the same plan', async () => {
    const r = repo('apps/multi');
    const amd64 = buildImage({ layers: [`amd ${r}`], format: 'oci' });
    const arm64 = buildImage({ layers: [`arm ${r}`], format: 'oci', architecture: 'arm64' });
    const index = buildIndex([amd64, arm64], { format: 'oci' });
    await pusher.push(r, index, 'old');
    await pusher.push(r, buildImage({ layers: [`other ${r}`] }), 'other');
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    expect(
      (await runKrill(['rm', `${registry.host}/${r}:old`, '--dry-run', '--plan-out', planPath], { env })).code,
    ).toBe(0);
    await deleteByDigest(r, index.digest); // the interrupted run deleted the index, then stopped

    const applied = await runKrill(['apply', planPath, '--yes'], { env });
    expect(applied.code, applied.stderr + applied.stdout).toBe(0);
    expect(await pusher.resolve(r, amd64.digest)).toBeUndefined();
    expect(await pusher.resolve(r, arm64.digest)).toBeUndefined();
  });
});

describe('the journal never makes things worse', () => {
  /** A saved plan to remove 1.2.1, whose tag someone else removes first: applying it journals nothing. */
  async function planOvertaken() {
    const r = repo('apps/api');
    await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    expect(
      (await runKrill(['rm', `${registry.host}/${r}:1.2.1`, '--dry-run', '--plan-out', planPath], { env })).code,
    ).toBe(0);
    await runKrill(['rm', `${registry.host}/${r}:1.2.1`, '--yes'], { env: isolatedEnv() });
    return { r, env, planPath };
  }

  it('an existing --journal file is never removed, and a device node is refused', async () => {
    const { r, env, planPath } = await planOvertaken();
    const earlier = join(env.HOME!, 'earlier-undo.jsonl');
    writeFileSync(earlier, '{"precious":"undo data of an earlier run"}\n');
    const applied = await runKrill(['apply', planPath, '--yes', '--journal', earlier], { env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(readFileSync(earlier, 'utf8')).toBe('{"precious":"undo data of an earlier run"}\n');

    const device = await runKrill(['rm', `${registry.host}/${r}:1.0.0`, '--yes', '--journal', '/dev/null'], { env });
    expect(device.code).toBe(2);
    expect(device.stderr).toMatch(/--journal \/dev\/null: exists and is not a regular file/);
    expect(await pusher.tags(r)).toContain('1.0.0');
    expect(existsSync('/dev/null')).toBe(true);
  });

  it('a journal that recorded nothing is not reported and not left behind', async () => {
    const { env, planPath } = await planOvertaken();
    const applied = await runKrill(['apply', planPath, '--yes'], { env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).not.toContain('krill undo');
    const journals = join(env.XDG_STATE_HOME!, 'krill', 'journals');
    expect(existsSync(journals) ? readdirSync(journals) : []).toEqual([]);
  });
});

describe('undo restores only what is still ours', () => {
  it('a tag pushed again since the removal is skipped (and --force overwrites it); a cut last line is read up to', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const journal = join(mkdtempSync(join(tmpdir(), 'krill-j-')), 'undo.jsonl');
    const res = await runKrill(
      ['rm', `${registry.host}/${r}:1.0.0`, `${registry.host}/${r}:1.2.1`, '--yes', '--journal', journal],
      { env },
    );
    expect(res.code, res.stderr).toBe(0);
    const newer = buildImage({ created: '2026-01-01T00:00:00Z', layers: [`newer ${r}`] });
    await pusher.push(r, newer, '1.0.0'); // CI pushed 1.0.0 again meanwhile
    writeFileSync(journal, `${readFileSync(journal, 'utf8')}{"kind":"delete-man`); // a crash cut the last line

    const undone = await runKrill(['undo', journal, '--yes'], { env });
    expect(undone.code, undone.stderr).toBe(0);
    expect(undone.stderr).toMatch(/the last line is incomplete/);
    expect(undone.stdout.replace(/\n {2}/g, ' ')).toMatch(
      /^skipped apps\/\S+:1\.0\.0 → sha256:\w{12}…: pushed again since the removal; pass --force/m,
    );
    expect(await pusher.resolve(r, '1.0.0')).toBe(newer.digest);
    expect(await pusher.resolve(r, '1.2.1')).toBe(f.tags['1.2.1']!.digest);

    const forced = await runKrill(['undo', journal, '--yes', '--force'], { env });
    expect(forced.code, forced.stderr).toBe(0);
    expect(await pusher.resolve(r, '1.0.0')).toBe(f.tags['1.0.0']!.digest);
  });

  it('undo asks like rm: without a terminal and without --yes it changes nothing', async () => {
    const r = repo('apps/api');
    await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const journal = join(env.HOME!, 'undo.jsonl');
    expect((await runKrill(['rm', `${registry.host}/${r}:1.2.1`, '--yes', '--journal', journal], { env })).code).toBe(
      0,
    );
    const refused = await runKrill(['undo', journal], { env });
    expect(refused.code).toBe(2);
    expect(await pusher.tags(r)).not.toContain('1.2.1');
  });
});
