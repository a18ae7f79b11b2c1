import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { buildRepositoryPlan, computeReclaimable } from '../../src/plan/plan.js';
import { evaluateRules } from '../../src/policy/evaluate.js';
import { globToRegExp, parsePolicy, rulesFor } from '../../src/policy/policy-file.js';
import { compileRules, parseDuration, versionInRange } from '../../src/policy/rules.js';
import { evaluateRuleSet, ruleSetFor, ruleSetOf } from '../../src/policy/rule-set.js';
import type { ManifestNode, RepositorySnapshot } from '../../src/registry/snapshot.js';

const dg = (name: string) => `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
const blob = (name: string, size: number) => ({ mediaType: 'layer', digest: dg(`blob ${name}`), size });

function image(name: string, created: string | null, blobs = [blob(name, 100)]): ManifestNode {
  return {
    digest: dg(name),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    kind: 'image',
    size: 10,
    children: [],
    blobs,
    created,
  };
}

function snapshot(nodes: ManifestNode[], tags: Array<[string, string]>): RepositorySnapshot {
  return {
    registry: 'r',
    repository: 'repo',
    manifests: Object.fromEntries(nodes.map((n) => [n.digest, n])),
    tags: tags.map(([tag, name]) => ({ tag, digest: dg(name) })),
  };
}

const NOW = Date.parse('2024-06-01T00:00:00Z');

describe('evaluateRules', () => {
  it('counts images, not tags; an image tying with a kept one on created is kept, with the reason', () => {
    const s = snapshot(
      [
        image('a', '2024-01-01T00:00:00Z'),
        image('b', '2024-01-01T00:00:00Z'),
        image('c', '2024-02-01T00:00:00Z'),
        image('d', '2023-01-01T00:00:00Z'),
      ],
      [
        ['x1', 'a'],
        ['x2', 'a'],
        ['b1', 'b'],
        ['c1', 'c'],
        ['c2', 'c'],
        ['old', 'd'],
      ],
    );
    const decisions = evaluateRules(s, compileRules({ keep: 2 }), NOW);
    const byTag = Object.fromEntries(decisions.map((d) => [d.tag, d.action]));
    // c (newest, 2 tags) and b are the 2 newest images; a has b's date: krill cannot tell which is newer.
    expect(byTag).toEqual({ c1: 'keep', c2: 'keep', b1: 'keep', x1: 'keep', x2: 'keep', old: 'delete' });
    expect(decisions.find((d) => d.tag === 'x1')!.reason).toBe('created date ties with a kept image');
  });

  it('every reason a tag is kept or deleted, word for word, in the order images are decided', () => {
    const s = snapshot(
      [
        image('rel', '2024-01-01T00:00:00Z'),
        image('latest', '2024-05-01T00:00:00Z'),
        image('v1', '2024-02-01T00:00:00Z'),
        image('v2', '2024-03-01T00:00:00Z'),
        image('v3', '2024-03-01T00:00:00Z'),
        image('v9', '2024-04-01T00:00:00Z'),
        { ...image('half', '2024-01-02T00:00:00Z'), throwaway: true as const },
      ],
      [
        ['latest', 'latest'],
        ['rel-1', 'rel'],
        ['other', 'rel'],
        ['1.0.0', 'v1'],
        ['2.0.0', 'v2'],
        ['2.1.0', 'v3'],
        ['9.0.0', 'v9'],
        ['cut', 'half'],
      ],
    );
    const rules = compileRules({ keep: 1, keepRegex: ['^rel-'], deleteRegex: ['^\\d', '^cut$'], version: '<9' });
    const decisions = evaluateRules(s, rules, NOW).map((d) => `${d.tag}: ${d.action}: ${d.reason}`);
    expect(decisions).toEqual([
      'latest: keep: protected: latest',
      'rel-1: keep: matches keep-regex ^rel-',
      'other: keep: no delete-regex matches',
      '9.0.0: keep: not a version in <9',
      'cut: delete: finishes an untag an earlier run left half-way',
      // Candidates newest first; 2.0.0 has 2.1.0's date: a tie with the kept one is kept.
      '2.0.0: keep: newest 1',
      '2.1.0: keep: created date ties with a kept image',
      '1.0.0: delete: not among the newest 1',
    ]);
    // latest unprotected is a candidate like any other (no delete-regex here).
    const open = evaluateRules(s, compileRules({ keep: 1, protectLatest: false }), NOW);
    expect(open.find((d) => d.tag === 'latest')).toMatchObject({ action: 'keep', reason: 'newest 1' });
    expect(open.find((d) => d.tag === '9.0.0')).toMatchObject({ action: 'delete', reason: 'not among the newest 1' });
  });

  it('--sort semver: the highest versions, ties by version, non-versions last or left out', () => {
    const s = snapshot(
      [image('a', null), image('b', null), image('c', null), image('d', null)],
      [
        ['1.0.0', 'a'],
        ['2.0.0', 'b'],
        ['v2.0.0', 'c'],
        ['nightly', 'd'],
      ],
    );
    const versions = evaluateRules(s, compileRules({ keep: 1, sort: 'semver' }), NOW);
    expect(versions.map((d) => `${d.tag}: ${d.action}: ${d.reason}`)).toEqual([
      'nightly: keep: not a version (--sort semver orders versions only)',
      '2.0.0: keep: highest 1 versions',
      'v2.0.0: keep: version ties with a kept image',
      '1.0.0: delete: not among the highest 1 versions',
    ]);
    // With a delete filter every matching tag is a candidate: an image without a version sorts last.
    const all = evaluateRules(s, compileRules({ keep: 1, sort: 'semver', deleteRegex: ['.'] }), NOW);
    expect(all.map((d) => `${d.tag}: ${d.action}`)).toEqual([
      '2.0.0: keep',
      'v2.0.0: keep',
      '1.0.0: delete',
      'nightly: delete',
    ]);
    // Several tags on one image: its highest version counts, its tags sorted.
    const multi = snapshot(
      [image('a', null), image('b', null)],
      [
        ['3.0.0', 'a'],
        ['1.0.0', 'a'],
        ['2.0.0', 'b'],
      ],
    );
    expect(evaluateRules(multi, compileRules({ keep: 1, sort: 'semver' }), NOW).map((d) => d.tag)).toEqual([
      '1.0.0',
      '3.0.0',
      '2.0.0',
    ]);
  });

  it('keep 0: nothing is "newest", nothing ties; images without a date sort after dated ones', () => {
    const s = snapshot(
      [image('a', '2024-01-01T00:00:00Z'), image('b', '2024-01-01T00:00:00Z'), image('c', null)],
      [
        ['b1', 'b'],
        ['a1', 'a'],
        ['c1', 'c'],
      ],
    );
    const decisions = evaluateRules(s, compileRules({ keep: 0, deleteRegex: ['.'] }), NOW);
    expect(decisions.map((d) => `${d.tag}: ${d.action}: ${d.reason}`)).toEqual([
      'a1: delete: not among the newest 0',
      'b1: delete: not among the newest 0',
      'c1: delete: not among the newest 0',
    ]);
  });

  it('reproducible-build dates (epoch, 1980-01-01T00:00:01Z) are unknown: keep-N keeps them; --sort semver orders by version', () => {
    const s = snapshot(
      [image('a', null), image('b', null), image('c', null), image('d', null)],
      [
        ['0.1.0', 'a'],
        ['0.10.0', 'b'],
        ['0.9.0', 'c'],
        ['main', 'd'],
      ],
    );
    const byDate = evaluateRules(s, compileRules({ keep: 1 }), NOW);
    expect(byDate.length).toBeGreaterThan(0);
    expect(byDate.filter((d) => d.action !== 'keep' || !d.reason.startsWith('created date unknown'))).toEqual([]);
    const bySemver = Object.fromEntries(
      evaluateRules(s, compileRules({ keep: 1, sort: 'semver' }), NOW).map((d) => [d.tag, d.action]),
    );
    expect(bySemver).toEqual({ '0.10.0': 'keep', '0.9.0': 'delete', '0.1.0': 'delete', main: 'keep' });
    const named = Object.fromEntries(
      evaluateRules(s, compileRules({ keep: 1, sort: 'semver', deleteRegex: ['.'] }), NOW).map((d) => [
        d.tag,
        d.action,
      ]),
    );
    expect(named.main).toBe('delete');
  });

  it('defaults to keep 3 only when no rule is given', () => {
    expect(compileRules({}).keep).toBe(3);
    expect(compileRules({ olderThan: '30d' }).keep).toBe(0);
  });

  it('keeps images with unknown dates under --older-than, and sorts them oldest for keep-N', () => {
    const s = snapshot(
      [image('a', null), image('b', '2024-05-30T00:00:00Z'), image('c', '2023-01-01T00:00:00Z')],
      [
        ['a', 'a'],
        ['b', 'b'],
        ['c', 'c'],
      ],
    );
    const older = evaluateRules(s, compileRules({ olderThan: '7d' }), NOW);
    expect(Object.fromEntries(older.map((d) => [d.tag, d.reason]))).toEqual({
      a: 'created date unknown',
      b: 'newer than 7d',
      c: 'older than 7d',
    });
    const keep1 = evaluateRules(s, compileRules({ keep: 1 }), NOW);
    expect(keep1.find((d) => d.tag === 'a')!.action).toBe('keep');
    expect(keep1.find((d) => d.tag === 'c')!.action).toBe('delete');
  });

  it('--older-than: an image created exactly at the cutoff is kept; one millisecond earlier goes', () => {
    const cutoff = NOW - 7 * 24 * 3_600_000;
    const s = snapshot(
      [image('at', new Date(cutoff).toISOString()), image('before', new Date(cutoff - 1).toISOString())],
      [
        ['at', 'at'],
        ['before', 'before'],
      ],
    );
    const decisions = evaluateRules(s, compileRules({ olderThan: '7d' }), NOW);
    expect(Object.fromEntries(decisions.map((d) => [d.tag, d.action]))).toEqual({ at: 'keep', before: 'delete' });
  });

  it('applies keep-regex, latest protection, delete-regex and version ranges with pre-releases before releases', () => {
    const nodes = ['latest', 'v1.0.0', '1.3.0-rc.1', '1.3.0', '1.4.0', 'feature-x', 'keepme'].map((t, i) =>
      image(t, `2024-01-0${i + 1}T00:00:00Z`),
    );
    const s = snapshot(
      nodes,
      nodes.map((n, i) => [
        ['latest', 'v1.0.0', '1.3.0-rc.1', '1.3.0', '1.4.0', 'feature-x', 'keepme'][i]!,
        ['latest', 'v1.0.0', '1.3.0-rc.1', '1.3.0', '1.4.0', 'feature-x', 'keepme'][i]!,
      ]),
    );
    const d = evaluateRules(s, compileRules({ keep: 0, version: '<1.4', keepRegex: ['^keep'] }), NOW);
    expect(Object.fromEntries(d.map((x) => [x.tag, x.action]))).toEqual({
      latest: 'keep',
      keepme: 'keep',
      'feature-x': 'keep',
      '1.4.0': 'keep',
      'v1.0.0': 'delete',
      '1.3.0-rc.1': 'delete',
      '1.3.0': 'delete',
    });
    expect(versionInRange('1.4.0-rc.1', compileRules({ version: '<1.4.0' }).version!.range)).toBe(true);
    expect(versionInRange('1.4.0', compileRules({ version: '<1.4.0' }).version!.range)).toBe(false);
    const onlyFeature = evaluateRules(
      s,
      compileRules({ keep: 0, deleteRegex: ['^feature-'], protectLatest: false }),
      NOW,
    );
    expect(onlyFeature.filter((x) => x.action === 'delete').map((x) => x.tag)).toEqual(['feature-x']);
  });
});

describe('buildRepositoryPlan', () => {
  const a = image('a', '2024-01-01T00:00:00Z', [blob('shared', 1000), blob('a', 100)]);
  const b = image('b', '2024-02-01T00:00:00Z', [blob('shared', 1000), blob('b', 200)]);
  const c1 = image('c1', '2024-03-01T00:00:00Z', [blob('c1', 300)]);
  const c2 = image('c2', '2024-03-01T00:00:00Z', [blob('c2', 400)]);
  const idx: ManifestNode = {
    digest: dg('idx'),
    mediaType: 'application/vnd.oci.image.index.v1+json',
    kind: 'index',
    size: 20,
    children: [c1.digest, c2.digest],
    blobs: [],
    created: '2024-03-01T00:00:00Z',
  };
  const sig = image('sig', '2024-01-02T00:00:00Z', [blob('sig', 50)]);
  const s = snapshot(
    [a, b, c1, c2, idx, sig],
    [
      ['a', 'a'],
      ['a-alias', 'a'],
      ['b', 'b'],
      ['multi', 'idx'],
      ['amd64-only', 'c1'],
      [`${a.digest.replace(':', '-')}.sig`, 'sig'],
    ],
  );

  it('untags when a sibling stays, deletes when every tag goes, and signatures follow', () => {
    const decisions = evaluateRules(s, compileRules({ keep: 0, deleteRegex: ['^a$', '^b$'] }), NOW);
    const plan = buildRepositoryPlan(s, decisions);
    expect(plan.actions).toEqual([
      { kind: 'untag', tag: 'a', digest: a.digest },
      { kind: 'delete-manifest', digest: b.digest, tags: ['b'] },
    ]);
    expect(plan.keep.find((t) => t.tag.endsWith('.sig'))!.reason).toMatch(/^signature of kept/);
  });

  it('deletes a signature with its subject, and an index with the platform manifests nothing else uses', () => {
    const decisions = evaluateRules(s, compileRules({ keep: 0, deleteRegex: ['^a$', '^a-alias$', '^multi$'] }), NOW);
    const plan = buildRepositoryPlan(s, decisions);
    const deletes = plan.actions.filter((x) => x.kind === 'delete-manifest').map((x) => x.digest);
    expect(deletes).toContain(sig.digest);
    expect(deletes).toContain(idx.digest);
    expect(deletes).toContain(c2.digest); // only the index used it
    expect(deletes).not.toContain(c1.digest); // still tagged amd64-only
    expect(computeReclaimable([s], [plan])).toBe(a.size + 100 + sig.size + 50 + idx.size + c2.size + 400);
  });

  it('never deletes a manifest a kept index references, unless forced', () => {
    const keepAll = s.tags.map((t) => ({ ...t, action: 'keep' as const, reason: 'x' }));
    expect(() => buildRepositoryPlan(s, keepAll, { deleteDigests: [c2.digest] })).toThrow(
      /referenced by sha256:\w{12} \(multi\).*--force/,
    );
    const forced = buildRepositoryPlan(s, keepAll, { deleteDigests: [c2.digest], force: true });
    expect(forced.actions).toEqual([{ kind: 'delete-manifest', digest: c2.digest, tags: [], force: true }]);
  });

  it('does not count blobs another repository still uses', () => {
    const decisions = evaluateRules(s, compileRules({ keep: 0, deleteRegex: ['^b$'] }), NOW);
    const plan = buildRepositoryPlan(s, decisions);
    const other = snapshot([image('o', null, [blob('b', 200)])], [['o', 'o']]);
    other.repository = 'other';
    expect(computeReclaimable([s], [plan])).toBe(b.size + 200);
    expect(computeReclaimable([s, other], [plan])).toBe(b.size);
  });
});

describe('durations and rules validation', () => {
  it('parses durations', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('1w2d')).toBe(9 * 86_400_000);
    expect(parseDuration('12h')).toBe(12 * 3_600_000);
    for (const bad of ['30', 'd', '-1d', '1y', '0d', '']) expect(() => parseDuration(bad)).toThrow(UsageError);
  });

  it('rejects bad rules with a named problem', () => {
    expect(() => compileRules({ keep: -1 })).toThrow(/invalid keep -1/);
    expect(() => compileRules({ deleteRegex: ['['] })).toThrow(/invalid delete-regex regex "\["/);
    expect(() => compileRules({ version: 'not a range' })).toThrow(/invalid version range/);
  });
});

describe('policy files', () => {
  const good = `version: 1
defaults: {keep: 10}
rules:
  - repos: "apps/*"
    keep: 5
    older-than: 30d
    delete-regex: ["^feature-", "^mr-"]
  - repos: "infra/db"
    keep: 20
    keep-regex: ["^v?\\\\d+\\\\.\\\\d+\\\\.\\\\d+$"]
  - repos: ~/^legacy-.*$/
    protect-latest: false
`;

  it('parses rules, first match wins, unset keys from defaults', () => {
    const policy = parsePolicy(good, 'p.yaml');
    expect(rulesFor(policy, 'apps/web', false)!.keep).toBe(5);
    expect(rulesFor(policy, 'apps/web/deep', false)).toBeUndefined();
    expect(rulesFor(policy, 'apps/web/deep', true)!.keep).toBe(10);
    expect(rulesFor(policy, 'infra/db', false)!.keepRegex[0]!.test('v1.2.3')).toBe(true);
    expect(rulesFor(policy, 'legacy-x', false)).toMatchObject({ keep: 10, protectLatest: false });
    expect(globToRegExp('apps/**').test('apps/a/b')).toBe(true);
  });

  const bad: Array<[string, string]> = [
    ['version: 2\n', 'p.yaml:1: version must be 1'],
    ['version: 1\nrules:\n  - repos: x\n    kep: 3\n', 'p.yaml:4: unknown key "kep"'],
    ['version: 1\nrules:\n  - keep: 3\n', 'p.yaml:3: each rule needs "repos"'],
    ['version: 1\nrules:\n  - repos: x\n    keep: -2\n', 'p.yaml:4: keep must be a whole number'],
    ['version: 1\nrules:\n  - repos: x\n    older-than: 3 days\n', 'p.yaml:4: invalid older-than "3 days"'],
    ['version: 1\nrules:\n  - repos: x\n    delete-regex: ["("]\n', 'p.yaml:4: invalid delete-regex regex "("'],
    ['version: 1\nfoo: bar\n', 'p.yaml:2: unknown key "foo"'],
    ['version: 1\nrules: {a: 1}\n', 'p.yaml:2: rules must be a list'],
    ['version: 1\nrules:\n  - repos: [x\n', 'p.yaml:4: invalid YAML'],
    ['version: 1\ndefaults:\n  repos: x\n', 'p.yaml:3: "repos" belongs in a rule'],
  ];
  for (const [text, message] of bad) {
    it(`rejects with a line number: ${message}`, () => {
      expect(() => parsePolicy(text, 'p.yaml')).toThrow(UsageError);
      expect(() => parsePolicy(text, 'p.yaml')).toThrow(message);
    });
  }
});

describe('policy JSON Schema', () => {
  it('names exactly the keys parsePolicy accepts, and its CLI prints it', async () => {
    const { POLICY_SCHEMA } = await import('../../src/policy/policy-schema.js');
    const { RULE_KEYS, TOP_KEYS } = await import('../../src/policy/policy-file.js');
    expect(Object.keys(POLICY_SCHEMA.properties).sort()).toEqual([...TOP_KEYS].sort());
    expect(Object.keys(POLICY_SCHEMA.properties.defaults.properties).sort()).toEqual([...RULE_KEYS].sort());
    expect(Object.keys(POLICY_SCHEMA.properties.rules.items.properties).sort()).toEqual(
      ['repos', 'tags', ...RULE_KEYS].sort(),
    );
    const { runKrill } = await import('../harness/run-cli.js');
    const res = await runKrill(['policy', 'schema']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(JSON.parse(JSON.stringify(POLICY_SCHEMA)));
  });
});

describe('--older-than with a date (cleanreg -s)', () => {
  it('takes YYYYMMDD, YYYY-MM-DD, a date-time (UTC) and ISO with a zone', async () => {
    const { parseAbsoluteDate } = await import('../../src/policy/rules.js');
    const day = Date.parse('2024-03-01T00:00:00Z');
    expect(parseAbsoluteDate('20240301')).toBe(day);
    expect(parseAbsoluteDate('2024-03-01')).toBe(day);
    expect(parseAbsoluteDate('2024-03-01T00:00:00')).toBe(day);
    expect(parseAbsoluteDate('2024-03-01T01:00:00+01:00')).toBe(day);
    expect(parseAbsoluteDate('30d')).toBeUndefined();
    expect(() => parseAbsoluteDate('2024-13-45')).toThrow(/invalid date/);
    const s = snapshot(
      [image('a', '2024-02-01T00:00:00Z'), image('b', '2024-04-01T00:00:00Z')],
      [
        ['a', 'a'],
        ['b', 'b'],
      ],
    );
    const reasons = Object.fromEntries(
      evaluateRules(s, compileRules({ olderThan: '2024-03-01' }), NOW).map((d) => [d.tag, d.reason]),
    );
    expect(reasons).toEqual({ a: 'created before 2024-03-01', b: 'created since 2024-03-01' });
  });
});

describe('one policy, every tag family (rules with tags:)', () => {
  const day = 86_400_000;
  const ago = (days: number) => new Date(NOW - days * day).toISOString();
  const nodes = [
    ...[1, 2, 3, 4, 5, 6, 7].map((n) => image(`v${n}`, ago(100 - n))),
    image('mr-1', ago(20)),
    image('mr-2', ago(2)),
    image('main-1', ago(40)),
    image('main-2', ago(10)),
    image('latest', ago(1)),
    image('feature', ago(90)),
  ];
  const repo = snapshot(nodes, [
    ...[1, 2, 3, 4, 5, 6, 7].map((n): [string, string] => [`v${n}`, `v${n}`]),
    ['mr-1', 'mr-1'],
    ['mr-2', 'mr-2'],
    ['main-1', 'main-1'],
    ['main-2', 'main-2'],
    ['latest', 'latest'],
    ['feature-x', 'feature'],
  ]);
  const recipe = `version: 1
rules:
  - repos: "apps/*"
    tags: ^v
    keep: 5
  - repos: "apps/*"
    tags: ^mr-
    keep: 0
    older-than: 7d
  - repos: "apps/*"
    tags: ^main-
    keep: 0
    older-than: 30d
`;
  const decide = (text: string) => {
    const set = ruleSetFor(parsePolicy(text, 'policy.yaml'), 'apps/web', true)!;
    return Object.fromEntries(evaluateRuleSet(repo, set, NOW).map((d) => [d.tag, `${d.action}: ${d.reason}`]));
  };

  it('the README recipe: five releases, mr-* for 7 days, main-* for 30 days, in one plan', () => {
    expect(decide(recipe)).toEqual({
      v1: 'delete: rule 1 (^v): not among the newest 5',
      v2: 'delete: rule 1 (^v): not among the newest 5',
      v3: 'keep: rule 1 (^v): newest 5',
      v4: 'keep: rule 1 (^v): newest 5',
      v5: 'keep: rule 1 (^v): newest 5',
      v6: 'keep: rule 1 (^v): newest 5',
      v7: 'keep: rule 1 (^v): newest 5',
      'mr-1': 'delete: rule 2 (^mr-): older than 7d',
      'mr-2': 'keep: rule 2 (^mr-): newer than 7d',
      'main-1': 'delete: rule 3 (^main-): older than 30d',
      'main-2': 'keep: rule 3 (^main-): newer than 30d',
      latest: 'keep: no rule selects this tag',
      'feature-x': 'keep: no rule selects this tag',
    });
  });

  it('a tag is kept when any rule that selects it keeps it (rules are ORed for what stays)', () => {
    const decisions = decide(`${recipe}  - repos: "apps/*"\n    tags: ^(v1|mr-1)$\n    keep: 5\n`);
    expect(decisions.v1).toBe('keep: rule 4 (^(v1|mr-1)$): newest 5');
    expect(decisions['mr-1']).toBe('keep: rule 4 (^(v1|mr-1)$): newest 5');
    expect(decisions.v2).toMatch(/^delete: rule 1/);
  });

  it('beside tag rules, the first rule without tags counts for every tag; later ones do not', () => {
    const decisions = decide(
      `version: 1\nrules:\n  - repos: "apps/*"\n    tags: ^mr-\n    keep: 0\n  - repos: "apps/**"\n    keep: 100\n  - repos: "**"\n    keep: 0\n`,
    );
    // mr-* are deleted by rule 1, but the repository-wide rule 2 keeps its newest 100: everything.
    expect(decisions['mr-1']).toBe('keep: rule 2: newest 100');
    expect(decisions.feature).toBeUndefined();
    expect(decisions['feature-x']).toBe('keep: rule 2: newest 100');
  });

  it('without tags: the first matching rule still wins alone, with its reasons unprefixed', () => {
    const decisions = decide(`version: 1\nrules:\n  - repos: "apps/*"\n    keep: 2\n  - repos: "**"\n    keep: 100\n`);
    expect(decisions.v1).toBe('delete: not among the newest 2');
  });

  it('a repository no rule matches gets the defaults only when asked; a half-done untag is finished whatever selects it', () => {
    const policy = parsePolicy(
      'version: 1\ndefaults: {keep: 7}\nrules:\n  - repos: "apps/*"\n    tags: ^v\n    keep: 1\n',
      'p.yaml',
    );
    expect(ruleSetFor(policy, 'other/x', false)).toBeUndefined();
    expect(ruleSetFor(policy, 'other/x', true)!.rules.map((r) => r.rules.keep)).toEqual([7]);
    const set = ruleSetFor(policy, 'apps/web', true)!;
    expect(set.budget).toBeUndefined(); // tag rules only: no per-repository budget
    const half = {
      ...repo,
      manifests: {
        ...repo.manifests,
        [dg('feature')]: { ...repo.manifests[dg('feature')]!, throwaway: true as const },
      },
    };
    const decisions = Object.fromEntries(evaluateRuleSet(half, set, NOW).map((d) => [d.tag, d]));
    expect(decisions['feature-x']).toMatchObject({
      action: 'delete',
      reason: 'finishes an untag an earlier run left half-way',
    });
    // Attachment tags are never decided here (they follow their subject).
    const signed = { ...repo, tags: [...repo.tags, { tag: `sha256-${'a'.repeat(64)}.sig`, digest: dg('v1') }] };
    expect(evaluateRuleSet(signed, set, NOW).map((d) => d.tag)).not.toContain(`sha256-${'a'.repeat(64)}.sig`);
    // Numbered from 1 in a rule list, as in a policy file.
    const listed = ruleSetOf([{ rules: compileRules({ keep: 1 }), tags: globToRegExp('v*') }]);
    expect(listed.rules[0]!.label).toBe('rule 1 (^v[^/]*$)');
    expect(ruleSetOf([{ rules: compileRules({ keep: 4 }) }]).rules).toEqual([{ rules: compileRules({ keep: 4 }) }]);
  });

  it('with tag rules, only the first rule without a selector counts beside them', () => {
    const all = { keep: 0, deleteRegex: ['.'], protectLatest: false };
    const set = ruleSetOf([
      { rules: compileRules(all) },
      { rules: compileRules({ keep: 99 }), tags: globToRegExp('feature-*') },
      { rules: compileRules({ keep: 99 }) }, // never reached: the first wide rule won
    ]);
    expect(set.rules.map((r) => r.label)).toEqual(['rule 1', 'rule 2 (^feature-[^/]*$)']);
    const decisions = Object.fromEntries(evaluateRuleSet(repo, set, NOW).map((d) => [d.tag, d]));
    expect(decisions.v1).toMatchObject({ action: 'delete', reason: 'rule 1: not among the newest 0' });
    expect(decisions['feature-x']).toMatchObject({ action: 'keep', reason: 'rule 2 (^feature-[^/]*$): newest 99' });
  });

  it('--sort semver: an image with several version tags counts by its highest, compared as versions', () => {
    const s = snapshot(
      [image('a', null), image('b', null)],
      [
        ['10.0.0', 'a'],
        ['9.0.0', 'a'],
        ['9.5.0', 'b'],
      ],
    );
    const kept = evaluateRules(s, compileRules({ keep: 1, sort: 'semver' }), NOW).filter((d) => d.action === 'keep');
    expect(kept.map((d) => d.tag).sort()).toEqual(['10.0.0', '9.0.0']);
  });

  it('images that tie on date or have none are ordered by their first tag name', () => {
    const s = snapshot(
      [image('a', null), image('b', null), image('c', '2024-01-01T00:00:00Z'), image('d', '2024-01-01T00:00:00Z')],
      [
        ['n-b', 'b'],
        ['n-a', 'a'],
        ['d-d', 'd'],
        ['d-c', 'c'],
      ],
    );
    const order = evaluateRules(s, compileRules({ keep: 0, deleteRegex: ['.'] }), NOW).map((d) => d.tag);
    expect(order).toEqual(['d-c', 'd-d', 'n-a', 'n-b']);
  });

  it('a tag rule cannot carry a budget, and defaults cannot select tags', () => {
    expect(() =>
      parsePolicy(`version: 1\nrules:\n  - repos: "a/*"\n    tags: ^v\n    max-delete: 5\n`, 'p.yaml'),
    ).toThrow(/^p\.yaml:3: a rule with "tags" cannot set max-delete or max-bytes/);
    expect(() => parsePolicy(`version: 1\ndefaults:\n  tags: ^v\n`, 'p.yaml')).toThrow(
      /"tags" belongs in a rule, not in defaults/,
    );
    expect(() => parsePolicy(`version: 1\nrules:\n  - repos: "a/*"\n    tag: ^v\n`, 'p.yaml')).toThrow(
      /unknown key "tag" \(expected repos, tags, keep/,
    );
  });
});

describe('krill policy test with tag rules', () => {
  it('checks the recipe against declared tags, naming the rule in each reason', async () => {
    const { parsePolicyCases, runPolicyTest } = await import('../../src/ops/policy-test.js');
    const policy = parsePolicy(
      'version: 1\nrules:\n  - repos: "apps/*"\n    tags: ^v\n    keep: 1\n  - repos: "apps/*"\n    tags: ^mr-\n    keep: 0\n    older-than: 7d\n',
      'policy.yaml',
    );
    const cases = parsePolicyCases(
      `version: 1
now: 2024-06-01T00:00:00Z
repositories:
  apps/web:
    tags:
      v1: {digest: a, created: 2024-01-01}
      v2: {digest: b, created: 2024-02-01}
      mr-1: {digest: c, created: 2024-05-01}
      mr-2: {digest: d, created: 2024-05-30}
      latest: {digest: e, created: 2024-05-31}
    expect:
      v1: {action: delete, reason: "rule 1 (^v): not among the newest 1"}
      v2: keep
      mr-1: {action: delete, reason: "rule 2 (^mr-): older than 7d"}
      mr-2: keep
      latest: {action: keep, reason: no rule selects this tag}
`,
      'cases.yaml',
    );
    const results = runPolicyTest(policy, cases);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results).toHaveLength(5);
  });
});
