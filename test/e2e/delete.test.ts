import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import type { ApiFixture } from '../harness/fixtures.js';
import { seedApiRepository, seedWebRepository, sigTag } from '../harness/fixtures.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { blobBytes, startRegistry } from '../harness/registry.js';
import { TOKEN_USERS } from '../harness/token-issuer.js';

// Deletion against the real distribution 2.8 server: no tag delete (400 DIGEST_INVALID), DELETE by
// digest removes every tag on it. Every check below goes through the registry API, not through krill.
let registry: TestRegistry;
let pusher: Pusher;
let counter = 0;
const repo = (name: string) => `${name}-${++counter}`;

beforeAll(async () => {
  registry = await startRegistry();
  pusher = new Pusher(registry);
});
afterAll(async () => {
  await registry?.stop();
});

/** Every remaining tag resolves, and every platform of a remaining index does too. */
async function expectIntact(repository: string, fixture: ApiFixture, expectedTags: string[]) {
  expect(await pusher.tags(repository)).toEqual([...expectedTags].sort());
  for (const tag of expectedTags) {
    const m = fixture.tags[tag]!;
    expect(await pusher.resolve(repository, tag), tag).toBe(m.digest);
    for (const child of m.children)
      expect(await pusher.resolve(repository, child.digest), `${tag} child`).toBe(child.digest);
  }
}

describe('krill rm', () => {
  it('untags a tag whose digest is shared, keeping the sibling on the same digest', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const res = await krill(['rm', `${registry.host}/${r}:1.1.0`, '--yes']);
    expect(res.code, res.stderr).toBe(0);
    // The reason continues under its column when the line would pass 80 columns.
    expect(res.stdout.replace(/\n\s+/g, ' ')).toContain('untag only: digest shared with stable');
    await expectIntact(
      r,
      f,
      Object.keys(f.tags).filter((t) => t !== '1.1.0'),
    );
  });

  it('deletes the manifest when no other tag shares it', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const res = await krill(['rm', `${registry.host}/${r}:1.2.1`, '--yes']);
    expect(res.code, res.stderr).toBe(0);
    expect(await pusher.resolve(r, f.images.a4.digest)).toBeUndefined();
    await expectIntact(
      r,
      f,
      Object.keys(f.tags).filter((t) => t !== '1.2.1'),
    );
  });

  it('REPO@DIGEST lists every tag that goes with it and deletes them all', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const dry = await krill(['rm', `${registry.host}/${r}@${f.images.a2.digest}`, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/delete\s+1\.1\.0/);
    expect(dry.stdout).toMatch(/delete\s+stable/);
    expect(dry.stdout).toContain('Dry run: nothing was changed.');
    expect(await pusher.tags(r)).toContain('stable');
    const res = await krill(['rm', `${registry.host}/${r}@${f.images.a2.digest}`, '--yes']);
    expect(res.code, res.stderr).toBe(0);
    await expectIntact(
      r,
      f,
      Object.keys(f.tags).filter((t) => t !== '1.1.0' && t !== 'stable'),
    );
  });

  it('refuses to delete a platform manifest of a remaining index unless --force', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const refused = await krill(['rm', `${registry.host}/${r}@${f.images.amd64.digest}`, '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /is referenced by sha256:\w{12} \(2\.0\.0\); deleting it would break that image: pass --force/,
    );
    expect(await pusher.resolve(r, f.images.amd64.digest)).toBe(f.images.amd64.digest);
    const forced = await krill(['rm', `${registry.host}/${r}@${f.images.amd64.digest}`, '--yes', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await pusher.resolve(r, f.images.amd64.digest)).toBeUndefined();
  });

  it('without a terminal and without --yes: exit 2, nothing changed', async () => {
    const r = repo('apps/api');
    await seedApiRepository(registry, r);
    const before = await pusher.tags(r);
    const res = await krill(['rm', `${registry.host}/${r}:1.0.0`]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/refusing to delete without confirmation: .*pass --yes/);
    expect(await pusher.tags(r)).toEqual(before);
  });

  it('an unknown tag: exit 1, nothing changed', async () => {
    const r = repo('apps/api');
    await seedApiRepository(registry, r);
    const before = await pusher.tags(r);
    const res = await krill(['rm', `${registry.host}/${r}:1.0.0`, `${registry.host}/${r}:nope`, '--yes']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe(
      `krill: ${registry.host}/${r}:nope not found: ${r} has no tag nope; nothing was changed`,
    );
    expect(await pusher.tags(r)).toEqual(before);
  });

  it('refuses a reference without tag or digest', async () => {
    const res = await krill(['rm', `${registry.host}/apps/api`, '--yes', '--verbose']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/names no tag or digest/);
    expect(res.stderr).not.toMatch(/ → /);
  });
});

describe('krill cleanup', () => {
  it('keeps the N newest images (not tags), keeps ties and undated images, protects latest, follows signatures', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const res = await krill(['cleanup', `${registry.host}/${r}`, '--keep', '2', '--yes', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    const [plan] = out.repositories;
    const reasons = Object.fromEntries(
      [...plan.keep, ...plan.delete].map((t: { tag: string; reason: string }) => [t.tag, t.reason]),
    );
    expect(reasons).toMatchObject({
      '2.0.0': 'newest 2',
      '1.2.0': 'newest 2',
      latest: 'protected: latest',
      // Same created as 1.2.0: krill cannot tell which is newer, so it keeps both.
      '1.2.1': 'created date ties with a kept image',
      '1.1.0': 'not among the newest 2',
      stable: 'not among the newest 2',
      '1.0.0': 'not among the newest 2',
      nodate: expect.stringMatching(/^created date unknown: cannot tell whether it is among the newest/),
      [sigTag(f.images.a1)]: `signature of deleted ${f.images.a1.digest.slice(0, 19)}`,
      [sigTag(f.images.idx)]: `signature of kept ${f.images.idx.digest.slice(0, 19)}`,
    });
    expect(out.result.outcomes.filter((o: { status: string }) => o.status === 'failed')).toEqual([]);
    await expectIntact(r, f, ['2.0.0', '1.2.0', '1.2.1', 'latest', 'nodate', sigTag(f.images.idx)]);
  });

  it('a deleted index takes its platform manifests with it', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const res = await krill(['cleanup', `${registry.host}/${r}`, '--keep', '0', '--delete-regex', '^2\\.', '--yes']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.replace(/\n\s+/g, ' ')).toMatch(/platform manifest of deleted/);
    for (const m of [f.images.idx, f.images.amd64, f.images.arm64, f.images.sigIdx])
      expect(await pusher.resolve(r, m.digest)).toBeUndefined();
    await expectIntact(
      r,
      f,
      Object.keys(f.tags).filter((t) => t !== '2.0.0' && t !== sigTag(f.images.idx)),
    );
  });

  it('--semver (and the deprecated --version) and --older-than select candidates; a shared digest is only untagged', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const fresh = buildImage({ created: new Date(Date.now() - 86_400_000).toISOString(), layers: [`fresh ${r}`] });
    await pusher.push(r, fresh, '0.9.0');
    const res = await krill([
      'cleanup',
      `${registry.host}/${r}`,
      '--keep',
      '0',
      '--version',
      '<1.2',
      '--older-than',
      '30d',
      '--yes',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/--version RANGE is deprecated .*use --semver RANGE/);
    const [plan] = JSON.parse(res.stdout).repositories;
    const reasons = Object.fromEntries(
      [...plan.keep, ...plan.delete].map((t: { tag: string; reason: string }) => [t.tag, t.reason]),
    );
    expect(reasons).toMatchObject({
      '0.9.0': 'newer than 30d',
      '1.0.0': 'older than 30d',
      '1.1.0': 'older than 30d; untag only: digest shared with stable',
      '1.2.0': 'not a version in <1.2',
      stable: 'not a version in <1.2',
    });
    expect(await pusher.resolve(r, 'stable')).toBe(f.images.a2.digest);
    expect((await pusher.tags(r)).sort()).toEqual(
      ['0.9.0', '1.2.0', '1.2.1', '2.0.0', 'latest', 'nodate', sigTag(f.images.idx), 'stable'].sort(),
    );
  });

  it('nothing to delete is success', async () => {
    const r = repo('apps/api');
    await seedApiRepository(registry, r);
    const res = await krill(['cleanup', `${registry.host}/${r}`, '--keep', '100']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Nothing to delete.');
  });

  it('a saved plan is re-checked at apply: a re-pushed tag is skipped, never deleted', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    const planned = await krill(
      ['cleanup', `${registry.host}/${r}`, '--keep', '3', '--dry-run', '--plan-out', planPath],
      { env },
    );
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    expect(plan.repositories[0].delete.map((t: { tag: string }) => t.tag)).toContain('1.0.0');
    // Someone pushes a new image under 1.0.0 between plan and apply.
    const repushed = buildImage({ created: '2025-01-01T00:00:00Z', layers: [`repushed ${r}`] });
    await pusher.push(r, repushed, '1.0.0');
    const applied = await krill(['apply', planPath, '--yes'], { env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout.replace(/\n {2}/g, ' ')).toMatch(
      /skipped: .*1\.0\.0: 1\.0\.0 now points at sha256:\w{12}, not the planned/,
    );
    expect(await pusher.resolve(r, '1.0.0')).toBe(repushed.digest);
    // Rerunning the same plan converges: everything else is already gone.
    const again = await krill(['apply', planPath, '--yes', '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    const outcomes = JSON.parse(again.stdout).result.outcomes as Array<{ status: string }>;
    expect(outcomes.length).toBeGreaterThan(0);
    // The re-pushed tag is skipped again; everything else is already gone.
    expect(outcomes.filter((o) => o.status === 'skipped')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status !== 'skipped').map((o) => o.status)).toEqual(
      outcomes.filter((o) => o.status !== 'skipped').map(() => 'already-gone'),
    );
    expect(await pusher.resolve(r, f.images.idx.digest)).toBe(f.images.idx.digest);
  });

  it('a kept tag re-pushed onto a planned digest survives: the planned tags are only untagged', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    await krill(['cleanup', `${registry.host}/${r}`, '--keep', '3', '--dry-run', '--plan-out', planPath], { env });
    const plan = JSON.parse(readFileSync(planPath, 'utf8'));
    expect(plan.repositories[0].actions).toContainEqual({
      kind: 'delete-manifest',
      digest: f.images.a1.digest,
      tags: ['1.0.0'],
    });
    // `latest` (kept) is moved onto the image the plan deletes.
    await pusher.push(r, f.images.a1, 'latest');
    const applied = await krill(['apply', planPath, '--yes', '--json'], { env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(await pusher.resolve(r, 'latest')).toBe(f.images.a1.digest);
    expect(await pusher.tags(r)).not.toContain('1.0.0');
    const outcome = JSON.parse(applied.stdout).result.outcomes.find((o: { tags: string[] }) =>
      o.tags.includes('1.0.0'),
    );
    expect(outcome).toMatchObject({ status: 'untagged', detail: expect.stringContaining('latest') });
  });

  it('undo puts back what was deleted, digests and tags identical', async () => {
    const r = repo('apps/api');
    const f = await seedApiRepository(registry, r);
    const env = isolatedEnv();
    const journal = join(env.HOME!, 'journal.jsonl');
    const res = await krill(
      ['cleanup', `${registry.host}/${r}`, '--keep', '0', '--no-protect-latest', '--yes', '--journal', journal],
      { env },
    );
    expect(res.code, res.stderr).toBe(0);
    expect(await pusher.tags(r)).toEqual([]);
    const journalText = readFileSync(journal, 'utf8');
    // Without a terminal and without --yes: refused, in undo's own words.
    const asked = await krill(['undo', journal], { env });
    expect(asked.code).toBe(2);
    expect(asked.stderr).toMatch(/^krill: refusing to restore without confirmation/);
    const undone = await krill(['undo', journal, '--yes'], { env });
    expect(undone.code, undone.stderr).toBe(0);
    await expectIntact(r, f, Object.keys(f.tags));
    expect(journalText).not.toMatch(/password|authorization|token/i);
    // One line per tag, tag first, sorted; then the count.
    // (Attachment tags sha256-<hex>… are shortened like in `tags`: compared here by the others.)
    const tagLines = undone.stdout
      .split('\n')
      .filter((l) => l.startsWith('restored ') && l.includes(' → ') && !l.includes(':sha256-'));
    const tags = Object.keys(f.tags)
      .filter((t) => !t.startsWith('sha256-'))
      .sort();
    expect(tagLines.map((l) => l.split(' ')[1])).toEqual(tags.map((t) => `${r}:${t}`));
    expect(tagLines[0]).toBe(`restored ${r}:${tags[0]} → ${f.tags[tags[0]!]!.digest.slice(0, 19)}…`);
    expect(undone.stdout).toMatch(
      new RegExp(`\\nRestored ${Object.keys(f.tags).length} tags and \\d+ untagged manifests?\\.\\n$`),
    );
    // A second undo sends nothing and says so.
    const again = await krill(['undo', journal, '--yes'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toMatch(/^restored /m);
    expect(again.stdout).toContain(`already present ${r}:${tags[0]} → `);
    expect(again.stdout).toMatch(/\nRestored 0 tags; \d+ already present\.\n$/);
  });

  it('a policy file covers many repositories, first matching rule wins, defaults for the rest', async () => {
    const prefix = repo('team');
    const [a, b, c] = await Promise.all([
      seedApiRepository(registry, `${prefix}/apps/one`, 'one'),
      seedApiRepository(registry, `${prefix}/infra/db`, 'db'),
      seedWebRepository(registry, `${prefix}/misc`),
    ]);
    const env = isolatedEnv();
    const policy = join(env.HOME!, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1
registry: ${registry.host}
defaults: {keep: 100}
rules:
  - repos: "${prefix}/apps/*"
    keep: 1
  - repos: ~/^${prefix}/infra/.*$/
    keep: 0
    keep-regex: ["^1\\\\.2\\\\.\\\\d+$"]
`,
    );
    const res = await krill(['cleanup', '-f', policy, '--all-repos', '--yes', '--json'], { env });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout);
    const kept = (name: string) =>
      out.repositories
        .find((p: { repository: string }) => p.repository === name)
        .keep.map((t: { tag: string }) => t.tag)
        .sort();
    expect(kept(`${prefix}/apps/one`)).toEqual(['2.0.0', 'latest', 'nodate', sigTag(a.images.idx)].sort());
    expect(kept(`${prefix}/infra/db`)).toEqual(['1.2.0', '1.2.1', 'latest'].sort());
    expect(kept(`${prefix}/misc`)).toEqual(Object.keys(c.tags).sort());
    expect(await pusher.tags(`${prefix}/infra/db`)).toEqual(['1.2.0', '1.2.1', 'latest']);
    expect(out.assumption).toBeNull();
    void b;
  });
});

describe('catalog oddities', () => {
  it('--all-repos treats a catalog repository without tags (an interrupted push) as empty', async () => {
    const own = await startRegistry();
    try {
      await seedApiRepository(own, 'apps/api');
      // Only a blob, never a manifest: distribution lists the repository and answers NAME_UNKNOWN for its tags.
      await new Pusher(own).pushBlob('apps/broken', buildImage({ layers: ['orphan'] }).blobs[1]!);
      const res = await krill(['cleanup', '--all-repos', own.host, '--keep', '2', '--dry-run', '--json']);
      expect(res.code, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout);
      // distribution 2.8 lists a repository holding only a blob; distribution 3 lists only those with manifests.
      const listed = own.implementation === 'distribution-2.8' ? ['apps/api', 'apps/broken'] : ['apps/api'];
      expect(out.repositories.map((r: { repository: string }) => r.repository).sort()).toEqual(listed);
      if (own.implementation === 'distribution-2.8')
        expect(out.repositories.find((r: { repository: string }) => r.repository === 'apps/broken').delete).toEqual([]);
    } finally {
      await own.stop();
    }
  });
});

describe('reclaimable space matches the real garbage collector', () => {
  it('freed blob bytes equal the plan plus the untag scratch manifests', async () => {
    const own = await startRegistry();
    try {
      const f = await seedApiRepository(own, 'apps/api', 'gc');
      // A second repository sharing the base layer with apps/api: that layer must not count.
      await new Pusher(own).push('apps/other', f.images.a1, 'pinned');
      const res = await krill([
        'cleanup',
        `${own.host}/apps/api`,
        '--keep',
        '1',
        '--delete-regex',
        '.',
        '--keep-regex',
        '^stable$',
        '--scan-all',
        '--yes',
        '--json',
      ]);
      expect(res.code, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout);
      expect(out.assumption).toBeNull();
      expect(out.reclaimableBytes).toBeGreaterThan(0);
      const before = blobBytes(own.storageDir);
      await own.garbageCollect();
      const after = blobBytes(own.storageDir);
      expect(before - after).toBe(out.reclaimableBytes + out.result.scratchBytes);
      // And everything kept is intact after GC.
      expect(await new Pusher(own).resolve('apps/other', 'pinned')).toBe(f.images.a1.digest);
      for (const tag of await new Pusher(own).tags('apps/api'))
        expect(await new Pusher(own).resolve('apps/api', tag)).toBe(f.tags[tag]!.digest);
    } finally {
      await own.stop();
    }
  });
});

describe('reclaimable space on a repository whose tags were re-pushed', () => {
  it('counts the old manifest of a re-pushed tag as keeping its blobs, as the collector does', async () => {
    const own = await startRegistry();
    try {
      const env = isolatedEnv();
      const p = new Pusher(own);
      // The old and the new v1 share a base layer; the old manifest stays in the repository.
      const old = buildImage({ created: '2025-01-01T00:00:00Z', layers: ['base', 'old only'] });
      const fresh = buildImage({ created: '2025-02-01T00:00:00Z', layers: ['base', 'new only'] });
      await p.push('apps/web', old, 'v1');
      await p.push('apps/web', buildImage({ created: '2025-03-01T00:00:00Z', layers: ['stable'] }), 'stable');
      const args = ['cleanup', `${own.host}/apps/web`, '--delete-regex', '^v1$', '--scan-all', '--json'];
      const first = await krill([...args, '--dry-run'], { env });
      expect(first.code, first.stderr).toBe(0);
      // No history yet: krill cannot know what older manifests hold, so the figure is a bound.
      expect(JSON.parse(first.stdout).reclaimableExact).toBe(false);
      await p.push('apps/web', fresh, 'v1');

      const res = await krill([...args, '--yes'], { env });
      expect(res.code, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout);
      expect(out.reclaimableExact).toBe(true);
      const before = blobBytes(own.storageDir);
      await own.garbageCollect();
      expect(before - blobBytes(own.storageDir)).toBe(out.reclaimableBytes + out.result.scratchBytes);
      expect(await p.resolve('apps/web', old.digest)).toBe(old.digest);
      const table = await krill([...args.slice(0, -1), '--dry-run'], { env });
      expect(table.stdout).toMatch(/Space the garbage collector will free: 0 B\./);
    } finally {
      await own.stop();
    }
  });
});

describe('refusals', () => {
  it('deletes disabled: exit 1, says how to enable them, nothing changed', async () => {
    const ro = await startRegistry({ deleteEnabled: false });
    try {
      await seedApiRepository(ro);
      const before = await new Pusher(ro).tags('apps/api');
      const res = await krill(['cleanup', `${ro.host}/apps/api`, '--keep', '1', '--yes']);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        /does not allow deletes \(HTTP 405 UNSUPPORTED\): enable them with storage\.delete\.enabled: true .*REGISTRY_STORAGE_DELETE_ENABLED=true/,
      );
      expect(await new Pusher(ro).tags('apps/api')).toEqual(before);
    } finally {
      await ro.stop();
    }
  });

  it('a read-only token: exit 1 naming the refused delete, nothing changed', async () => {
    const tok = await startRegistry({ auth: 'token' });
    try {
      await seedApiRepository(tok);
      const before = await new Pusher(tok).tags('apps/api');
      const res = await krill(['rm', `${tok.host}/apps/api:1.0.0`, '--yes', '-u', 'reader', '--password-stdin'], {
        stdin: TOKEN_USERS.reader!.password,
      });
      expect(res.code).toBe(1);
      expect(res.stderr.trim()).toBe(
        `krill: ${tok.host} refused delete on repository apps/api for the credentials from command-line flags: check that the account has this permission`,
      );
      expect(await new Pusher(tok).tags('apps/api')).toEqual(before);
      const admin = await krill(['rm', `${tok.host}/apps/api:1.1.0`, '--yes', '-u', 'admin', '--password-stdin'], {
        stdin: TOKEN_USERS.admin!.password,
      });
      expect(admin.code, admin.stderr).toBe(0);
      expect(await new Pusher(tok).resolve('apps/api', 'stable')).toBeDefined();
      expect(await new Pusher(tok).tags('apps/api')).not.toContain('1.1.0');
      // The journal of a run that authenticated (password, then bearer tokens) holds neither.
      const journal = /krill undo (\S+)/.exec(admin.stdout)![1]!;
      const text = readFileSync(journal, 'utf8');
      expect(text).toContain('"kind":');
      expect(text).not.toContain(TOKEN_USERS.admin!.password);
      expect(text).not.toMatch(/eyJ[\w-]+\.|Bearer|Basic |authorization/i);
      expect(tok.issuer!.issued.length).toBeGreaterThan(0);
      for (const token of tok.issuer!.issued) expect(text).not.toContain(token);
    } finally {
      await tok.stop();
    }
  });
});
