import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKrill } from '../harness/run-cli.js';
import { parseImageList } from '../../src/live/image-list.js';
import type { FreshState } from '../../src/plan/judge.js';
import { judgeRepository } from '../../src/plan/judge.js';
import { checkLimits } from '../../src/plan/limits.js';
import { checkListing, diffListing } from '../../src/plan/listing.js';
import { buildRepositoryPlan } from '../../src/plan/plan.js';
import type { ManifestNode, RepositorySnapshot } from '../../src/model/snapshot.js';
import { evaluateRules } from '../../src/policy/evaluate.js';
import { parsePolicy } from '../../src/policy/policy-file.js';
import { compileRules, parseBudget, parseSize } from '../../src/policy/rules.js';

// The live set and the deletion budgets, pure: every case is a table row.
const dg = (name: string) => `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
const NOW = Date.parse('2024-06-01T00:00:00Z');
const node = (name: string, created: string | null, children: ManifestNode[] = []): ManifestNode => ({
  digest: dg(name),
  mediaType: children.length ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json',
  kind: children.length ? 'index' : 'image',
  size: 10,
  children: children.map((c) => c.digest),
  blobs: children.length ? [] : [{ mediaType: 'layer', digest: dg(`blob ${name}`), size: 100 }],
  created,
});

const V1 = node('v1', '2024-01-01T00:00:00Z');
const V2 = node('v2', '2024-02-01T00:00:00Z');
const AMD = node('amd', '2024-03-01T00:00:00Z');
const ARM = node('arm', '2024-03-01T00:00:00Z');
const V3 = node('v3', '2024-03-01T00:00:00Z', [AMD, ARM]);
const V4 = node('v4', '2024-04-01T00:00:00Z');
const snapshot: RepositorySnapshot = {
  registry: 'registry.example.com',
  repository: 'apps/web',
  manifests: Object.fromEntries([V1, V2, V3, AMD, ARM, V4].map((n) => [n.digest, n])),
  tags: [
    { tag: '1', digest: V1.digest },
    { tag: '2', digest: V2.digest },
    { tag: '3', digest: V3.digest },
    { tag: '4', digest: V4.digest },
  ],
};
const plan = (live?: Map<string, string>) =>
  buildRepositoryPlan(snapshot, evaluateRules(snapshot, compileRules({ keep: 1 }), NOW), live ? { live } : {});
const deleted = (p: ReturnType<typeof plan>) =>
  p.actions.flatMap((a) => (a.kind === 'delete-manifest' ? [a.digest] : [])).sort();

describe('the live set file format', () => {
  it("reads what kubectl's jsonpath prints: tags, digests, runtime prefixes; skips image IDs", () => {
    const text = [
      '# kubectl get pods -A -o jsonpath="{..image} {..imageID}"',
      'registry.example.com/apps/web:2 nginx:1.27',
      `docker-pullable://registry.example.com/apps/web@${V1.digest} sha256:${'a'.repeat(64)}`,
      `containerd://registry.example.com/apps/api@${V2.digest}\tNOT_A_REFERENCE!`,
    ].join('\n');
    const list = parseImageList(text, 'pods.txt');
    expect(list.references.map((r) => [r.registry.host, r.repository, r.tag ?? r.digest])).toEqual([
      ['registry.example.com', 'apps/web', '2'],
      ['docker.io', 'library/nginx', '1.27'],
      ['registry.example.com', 'apps/web', V1.digest],
      ['registry.example.com', 'apps/api', V2.digest],
    ]);
    expect(list.skipped).toEqual([`sha256:${'a'.repeat(64)}`, 'NOT_A_REFERENCE!']);
  });
});

describe('what runs is kept whatever the rules say', () => {
  it('keep 1 deletes v1, v2, v3; with v1 running it stays, with its reason', () => {
    expect(deleted(plan())).toEqual([V1, V2, V3, AMD, ARM].map((n) => n.digest).sort());
    const p = plan(new Map([[V1.digest, 'in use: listed in pods.txt']]));
    expect(deleted(p)).not.toContain(V1.digest);
    expect(p.keep.find((t) => t.tag === '1')!.reason).toBe('in use: listed in pods.txt');
  });

  it('a running platform manifest stays when its index goes, though no tag is left on it', () => {
    const p = plan(new Map([[ARM.digest, 'in use: listed in pods.txt']]));
    expect(deleted(p)).toContain(V3.digest);
    expect(deleted(p)).not.toContain(ARM.digest);
    expect(deleted(p)).toContain(AMD.digest);
  });

  it('apply: a digest deployed after the plan is kept with its tags; nothing else changes', () => {
    const p = plan();
    const fresh: FreshState = {
      tags: new Map(snapshot.tags.map((t) => [t.tag, t.digest])),
      children: new Map([[V3.digest, [AMD.digest, ARM.digest]]]),
      throwaways: new Set(),
      live: new Set([V2.digest, AMD.digest]),
    };
    const verdicts = judgeRepository(p, fresh);
    expect(verdicts).toContainEqual(expect.objectContaining({ kind: 'skip', digest: V2.digest, tags: ['2'] }));
    const gone = verdicts.flatMap((v) => (v.kind === 'delete-manifest' ? [v.digest] : []));
    expect(gone.sort()).toEqual([V1.digest, V3.digest, ARM.digest].sort());
  });
});

describe('deletion budgets', () => {
  const p = plan(); // removes 3 of 4 tags
  const limit = (text: string) => ({ source: '--max-delete', maxDelete: parseBudget(text) });

  it('parses counts, percentages and sizes; refuses nonsense', () => {
    expect(parseBudget('50%')).toEqual({ percent: 50, text: '50%' });
    expect(parseBudget(7)).toEqual({ count: 7, text: '7' });
    expect(parseSize('10GiB')).toBe(10 * 2 ** 30);
    expect(parseSize('500MB')).toBe(500e6);
    expect(parseSize(1234)).toBe(1234);
    expect(() => parseBudget('150%')).toThrow(/invalid --max-delete "150%"/);
    expect(() => parseBudget('-1')).toThrow(/invalid --max-delete/);
    expect(() => parseSize('lots')).toThrow(/invalid --max-bytes "lots"/);
  });

  it('refuses a plan beyond a count, a share or a size, naming the budget and the figure', () => {
    expect(checkLimits([p], 1000, limit('3'), () => undefined)).toBeUndefined();
    expect(checkLimits([p], 1000, limit('2'), () => undefined)).toBe('the plan removes 3 tags, over --max-delete 2');
    expect(checkLimits([p], 1000, limit('50%'), () => undefined)).toBe(
      'the plan removes 3 of 4 tags (75%), over --max-delete 50%',
    );
    expect(checkLimits([p], 1000, { source: '--max-bytes', maxBytes: 999 }, () => undefined)).toBe(
      'the plan frees up to 1000 bytes, over --max-bytes 999 bytes',
    );
    const perRepo = checkLimits([p], 0, undefined, () => ({ limit: limit('1'), bytes: 0 }));
    expect(perRepo).toBe('apps/web removes 3 tags, over --max-delete 1');
  });

  it('a budget is a ceiling: exactly at it passes, one past it is refused (count, share, bytes)', () => {
    // 3 of 4 tags = 75%.
    expect(checkLimits([p], 0, limit('75%'), () => undefined)).toBeUndefined();
    expect(checkLimits([p], 0, limit('74%'), () => undefined)).toMatch(/removes 3 of 4 tags \(75%\)/);
    expect(checkLimits([p], 1000, { source: '--max-bytes', maxBytes: 1000 }, () => undefined)).toBeUndefined();
    // A share of nothing in scope refuses nothing.
    const empty = { ...p, keep: [], delete: [], actions: [] };
    expect(checkLimits([empty], 0, limit('0%'), () => undefined)).toBeUndefined();
    // Per repository: the share counts the repository's own tags (kept and removed), and its bytes.
    const own =
      (text: string, bytes = 0, maxBytes?: number) =>
      () => ({
        limit: { ...limit(text), ...(maxBytes !== undefined ? { maxBytes } : {}) },
        bytes,
      });
    expect(checkLimits([p], 0, undefined, own('75%'))).toBeUndefined();
    expect(checkLimits([p], 0, undefined, own('74%'))).toBe(
      'apps/web removes 3 of 4 tags (75%), over --max-delete 74%',
    );
    expect(checkLimits([p], 0, undefined, own('100%', 11, 10))).toBe(
      'apps/web frees up to 11 bytes, over --max-delete 10 bytes',
    );
    // Within its own budget, a repository still counts against the whole plan's.
    expect(checkLimits([p], 0, limit('2'), own('3'))).toBe('the plan removes 3 tags, over --max-delete 2');
  });

  it('dangling-tag removals count against the budget like any other removed tag', () => {
    const withDangling = {
      ...p,
      actions: [
        ...p.actions,
        { kind: 'remove-dangling' as const, tag: 'gone-1' },
        { kind: 'remove-dangling' as const, tag: 'gone-2' },
      ],
    };
    expect(checkLimits([withDangling], 0, limit('4'), () => undefined)).toBe(
      'the plan removes 5 tags, over --max-delete 4',
    );
    expect(checkLimits([withDangling], 0, limit('5'), () => undefined)).toBeUndefined();
  });

  it('a policy file sets budgets globally and per rule, and lists live-set files', () => {
    const policy = parsePolicy(
      [
        'version: 1',
        'max-delete: 30%',
        'max-bytes: 10GiB',
        'keep-in-use: [pods.txt, jobs.txt]',
        'rules:',
        '  - repos: "apps/*"',
        '    keep: 2',
        '    max-delete: 5',
      ].join('\n'),
      'policy.yaml',
    );
    expect(policy.limits).toEqual({ maxDelete: { percent: 30, text: '30%' }, maxBytes: 10 * 2 ** 30 });
    expect(policy.keepInUse).toEqual(['pods.txt', 'jobs.txt']);
    expect(policy.rules[0]!.rules.maxDelete).toEqual({ count: 5, text: '5' });
    expect(() => parsePolicy('version: 1\nmax-delete: lots\n', 'policy.yaml')).toThrow(
      /policy.yaml:2: invalid max-delete "lots"/,
    );
  });
});

describe('the listing check', () => {
  const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
  it('stops on an empty listing or one that lost more than 30% (not by krill); small repositories only when empty', () => {
    expect(checkListing(tags(20), [], new Set(tags(14)))).toBeUndefined(); // 30% lost: plausible
    expect(checkListing(tags(20), [], new Set(tags(13)))).toMatch(/7 of 20 tags listed last time are gone/);
    expect(checkListing(tags(20), tags(10), new Set(tags(20).slice(10)))).toBeUndefined(); // krill removed them
    expect(checkListing(tags(5), [], new Set(['t0']))).toBeUndefined();
    expect(checkListing(tags(5), [], new Set())).toMatch(/no tags, 5 last time/);
    expect(checkListing([], [], new Set())).toBeUndefined();
  });

  it('the boundaries: exactly ten tags last time counts; the message names three lost tags', () => {
    expect(checkListing(tags(10), [], new Set(tags(6)))).toBe(
      'listing looks wrong: 4 of 10 tags listed last time are gone, not deleted by krill (e.g. t6, t7, t8; --accept-listing if that is right)',
    );
    expect(checkListing(tags(9), [], new Set(tags(1)))).toBeUndefined();
  });

  it('--diff: what was added, what vanished (not removed by krill), what krill removed', () => {
    // Every list sorted, whatever the order of the listing or the history.
    const last = {
      time: '2026-01-01T00:00:00Z',
      tags: { d: '', c: '', b: '', a: '' },
      removed: ['z', 'c'],
      planned: 2,
    };
    expect(diffListing(last, new Set(['f', 'a', 'e']), 1)).toEqual({
      since: '2026-01-01T00:00:00Z',
      added: ['e', 'f'],
      vanished: ['b', 'd'],
      removedByKrill: ['c', 'z'],
      plannedBefore: 2,
      plannedNow: 1,
    });
  });
});

describe('krill policy test', () => {
  const dir = mkdtempSync(join(tmpdir(), 'krill-policy-test-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    'version: 1\ndefaults: {keep: 1}\nrules:\n  - repos: "apps/*"\n    keep: 1\n    older-than: 30d\n',
  );
  const cases = (expect: string) =>
    [
      'version: 1',
      'now: 2024-06-01T00:00:00Z',
      'repositories:',
      '  apps/web:',
      '    tags:',
      '      1.0.0: {digest: a, created: 2024-01-01}',
      '      1.1.0: {digest: b, created: 2024-02-01}',
      '      stable: {digest: b}',
      '      2.0.0: {digest: c, created: 2024-05-25}',
      '      canary: {digest: d, created: 2024-01-15, in-use: true}',
      '    expect:',
      expect,
    ].join('\n');

  it('checks each expectation as cleanup would plan it (shared digests, in-use marks, the clock)', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(
      file,
      cases(
        '      1.0.0: delete\n      1.1.0: delete\n      stable: delete\n      2.0.0: keep\n      canary: {action: keep, reason: in use}',
      ),
    );
    const res = await runKrill(['policy', 'test', policy, file]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/5 of 5 expectations met/);
  });

  it('a failed expectation exits 1 naming the file, line, expected and actual outcome', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, cases('      1.0.0: keep\n      2.0.0: keep'));
    const res = await runKrill(['policy', 'test', policy, file]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(
      /FAIL {2}.*bad\.yaml:12: apps\/web:1\.0\.0: expected keep, got delete \(older than 30d\)/,
    );
    expect(res.stderr).toMatch(/1 expectation failed/);
    writeFileSync(file, cases('      1.0.0: maybe'));
    const invalid = await runKrill(['policy', 'test', policy, file]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/bad\.yaml:12: expected keep, delete or untag/);
  });
});

describe("cleanreg's repositories file", () => {
  it('reads both shapes as a policy: "<repo> <keep>" lines and {tag, keepimages, keepsince}', () => {
    const lines = parsePolicy('# cleanreg-example.conf\nmysql 5\napps/web 2\n', 'cleanreg.conf');
    expect(lines.rules.map((r) => [r.repos, r.rules.keep, r.where])).toEqual([
      ['mysql', 5, 'cleanreg.conf:2'],
      ['apps/web', 2, 'cleanreg.conf:3'],
    ]);
    expect(lines.rules[1]!.matches('apps/web')).toBe(true);
    expect(lines.rules[1]!.matches('apps/web2')).toBe(false);
    const yaml = parsePolicy(
      'apps/api:\n  tag: "^mr-"\n  keepimages: 3\n  keepsince: 2024-05-01\nlegacy:\n  keepimages: 1\n',
      'cleanreg.yaml',
    );
    const api = yaml.rules[0]!.rules;
    expect([api.keep, api.deleteRegex.map((p) => p.source), api.olderThan?.before]).toEqual([
      3,
      ['^mr-'],
      Date.parse('2024-05-01T00:00:00Z'),
    ]);
    expect(yaml.rules[1]!.rules.keep).toBe(1);
    // A krill policy is never mistaken for one.
    expect(() => parsePolicy('version: 1\nmysql: 5\n', 'policy.yaml')).toThrow(/unknown key "mysql"/);
  });
});
