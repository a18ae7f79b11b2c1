import { describe, expect, it } from 'vitest';
import type { FreshState } from '../../src/plan/judge.js';
import { judgeRepository } from '../../src/plan/judge.js';
import type { RepositoryPlan } from '../../src/plan/plan.js';
import { buildRepositoryPlan, computeReclaimable } from '../../src/plan/plan.js';
import { evaluateRules } from '../../src/policy/evaluate.js';
import { compileRules } from '../../src/policy/rules.js';
import { artifactLabel, artifactTypeOf, classifyTag, fallbackTag } from '../../src/manifest/referrers.js';
import { parseManifest } from '../../src/manifest/manifest.js';
import type { ManifestNode, RepositorySnapshot } from '../../src/model/snapshot.js';

// The referrer graph in planning and apply's verdicts: pure, so every shape is one table.
const dg = (name: string) => `sha256:${Buffer.from(name).toString('hex').padEnd(64, '0').slice(0, 64)}`;
const fb = (subject: string) => `sha256-${subject.slice(7)}`;
const NOW = Date.parse('2024-06-01T00:00:00Z');

function node(name: string, extra: Partial<ManifestNode> = {}): ManifestNode {
  return {
    digest: dg(name),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    kind: 'image',
    size: 10,
    children: [],
    blobs: [{ mediaType: 'layer', digest: dg(`blob ${name}`), size: 100 }],
    created: null,
    ...extra,
  };
}
const index = (name: string, children: ManifestNode[], extra: Partial<ManifestNode> = {}) =>
  node(name, {
    kind: 'index',
    mediaType: 'application/vnd.oci.image.index.v1+json',
    children: children.map((c) => c.digest),
    blobs: [],
    ...extra,
  });
const SIG = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const SBOM = 'application/spdx+json';
const referrer = (name: string, subject: ManifestNode, artifactType = SIG) =>
  node(name, { subject: subject.digest, artifactType });

// Three images; A and B signed (cosign v3 fallback indexes), A also with an SBOM that is itself
// signed, a legacy .sig on A, a platform child of I signed on its own (cosign sign --recursive),
// an API-only referrer of B (no tag), and the signature of an image that is gone (an orphan).
const A = node('a', { created: '2024-01-01T00:00:00Z' });
const B = node('b', { created: '2024-02-01T00:00:00Z' });
const P1 = node('p1', { created: '2024-03-01T00:00:00Z' });
const P2 = node('p2', { created: '2024-03-01T00:00:00Z' });
const I = index('i', [P1, P2], { created: '2024-03-01T00:00:00Z' });
const SA = referrer('sig a', A);
const BA = referrer('sbom a', A, SBOM);
const SSA = referrer('sig of sbom a', BA);
const FA = index('fallback a', [SA, BA]);
const FBA = index('fallback sbom a', [SSA]);
const LA = node('legacy sig a', { artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json' });
const SB = referrer('sig b', B);
const FB = index('fallback b', [SB]);
const RB = referrer('api-only sbom b', B, SBOM);
const SP1 = referrer('sig p1', P1);
const FP1 = index('fallback p1', [SP1]);
const GONE = dg('gone');
const SX = node('sig x', { subject: GONE, artifactType: SIG });
const FX = index('fallback x', [SX]);

const snapshot: RepositorySnapshot = {
  registry: 'r',
  repository: 'repo',
  manifests: Object.fromEntries(
    [A, B, P1, P2, I, SA, BA, SSA, FA, FBA, LA, SB, FB, RB, SP1, FP1, SX, FX].map((n) => [n.digest, n]),
  ),
  tags: [
    { tag: '1.0', digest: A.digest },
    { tag: '2.0', digest: B.digest },
    { tag: '3.0', digest: I.digest },
    { tag: fb(A.digest), digest: FA.digest },
    { tag: fb(BA.digest), digest: FBA.digest },
    { tag: `${fb(A.digest)}.sig`, digest: LA.digest },
    { tag: fb(B.digest), digest: FB.digest },
    { tag: fb(P1.digest), digest: FP1.digest },
    { tag: fb(GONE), digest: FX.digest },
  ],
  absentSubjects: [GONE],
};

function plan(rules: Parameters<typeof compileRules>[0], options = {}) {
  return buildRepositoryPlan(snapshot, evaluateRules(snapshot, compileRules(rules), NOW), options);
}
const deleted = (p: RepositoryPlan) =>
  p.actions.flatMap((a) => (a.kind === 'delete-manifest' ? [a.digest] : [])).sort();
const reasonOf = (p: RepositoryPlan, tag: string) => [...p.keep, ...p.delete].find((t) => t.tag === tag)?.reason;

describe('attachment tags and artifacts', () => {
  it('classifies fallback, legacy and ordinary tags', () => {
    expect(classifyTag(fb(A.digest))).toEqual({ kind: 'fallback', subject: A.digest });
    expect(classifyTag(`${fb(A.digest)}.att`)).toEqual({ kind: 'legacy', subject: A.digest, suffix: 'att' });
    expect(classifyTag(`${fb(A.digest)}.zip`)).toEqual({ kind: 'image' });
    expect(classifyTag('sha256-abc')).toEqual({ kind: 'image' });
    expect(fallbackTag(A.digest)).toBe(fb(A.digest));
    expect(fallbackTag(`sha512:${'ab'.repeat(64)}`)).toBe(`sha512-${'ab'.repeat(32)}`);
  });

  it('an artifact is typed by artifactType, else by a config that is not an image config', () => {
    const parse = (doc: object) => parseManifest(Buffer.from(JSON.stringify(doc)), undefined, 'test');
    const layer = { mediaType: 'x', digest: dg('l'), size: 1 };
    const helm = parse({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: dg('c'), size: 1 },
      layers: [layer],
    });
    expect(artifactTypeOf(helm)).toBe('application/vnd.cncf.helm.config.v1+json');
    expect(artifactLabel(artifactTypeOf(helm))).toBe('helm');
    const cosign = parse({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: SIG,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: dg('e'), size: 2 },
      layers: [layer],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: A.digest, size: 10 },
    });
    expect(artifactTypeOf(cosign)).toBe(SIG);
    expect(cosign.kind === 'image' && cosign.subject?.digest).toBe(A.digest);
    const image = parse({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: dg('c'), size: 1 },
      layers: [layer],
    });
    expect(artifactTypeOf(image)).toBeUndefined();
    expect(
      [SIG, SBOM, 'application/vnd.in-toto+json', 'application/vnd.cncf.notary.signature'].map(artifactLabel),
    ).toEqual(['sig', 'sbom', 'att', 'sig']);
  });
});

describe('referrers follow their subject in a plan', () => {
  it('attachment tags are never images: keep 2 counts A, B and I only', () => {
    const p = plan({ keep: 2 });
    expect(p.delete.map((t) => t.tag).sort()).toEqual(
      ['1.0', fb(A.digest), `${fb(A.digest)}.sig`, fb(BA.digest)].sort(),
    );
    expect(reasonOf(p, fb(A.digest))).toBe(`referrers of deleted ${A.digest.slice(0, 19)}`);
    expect(reasonOf(p, `${fb(A.digest)}.sig`)).toBe(`signature of deleted ${A.digest.slice(0, 19)}`);
    expect(reasonOf(p, fb(B.digest))).toBe(`referrers of kept ${B.digest.slice(0, 19)}`);
    expect(reasonOf(p, fb(P1.digest))).toBe(`referrers of kept ${P1.digest.slice(0, 19)}`);
    expect(reasonOf(p, fb(GONE))).toBe('orphan: subject gone (--delete-orphans deletes it)');
    // The deleted image's referrers, the SBOM's own signature and its fallback index go with it.
    expect(deleted(p)).toEqual([A, FA, SA, BA, SSA, FBA, LA].map((n) => n.digest).sort());
    const referrerDeletes = p.actions.filter((a) => a.kind === 'delete-manifest' && a.subject !== undefined);
    expect(referrerDeletes.map((a) => a.kind === 'delete-manifest' && a.digest).sort()).toEqual(
      [SA, BA, SSA, FA, FBA, LA].map((n) => n.digest).sort(),
    );
    // Reclaimable bytes count the referrers' manifests and blobs.
    expect(computeReclaimable([snapshot], [p])).toBe(5 * 110 + 2 * 10); // five manifests with a blob, two indexes
  });

  it('a filter never keeps a referrer of a deleted subject nor deletes one of a kept subject', () => {
    const keepAttachments = plan({ keep: 0, deleteRegex: ['^1\\.0$'], keepRegex: ['^sha256-'] });
    expect(deleted(keepAttachments)).toContain(SA.digest);
    expect(keepAttachments.delete.map((t) => t.tag)).toContain(fb(A.digest));
    const deleteAttachments = plan({ keep: 0, deleteRegex: ['^sha256-'] });
    expect(deleted(deleteAttachments)).toEqual([]);
  });

  it('platform children take their own signatures; API-only referrers go with their subject', () => {
    const p = plan({ keep: 0, keepRegex: ['^1\\.0$'] });
    expect(deleted(p)).toEqual([B, I, P1, P2, SB, FB, RB, SP1, FP1].map((n) => n.digest).sort());
    const child = p.actions.find((a) => a.kind === 'delete-manifest' && a.digest === P1.digest);
    expect(child).toMatchObject({ parent: I.digest });
    expect(p.actions.find((a) => a.kind === 'delete-manifest' && a.digest === RB.digest)).toMatchObject({
      subject: B.digest,
      tags: [],
    });
  });

  it('orphans stay unless --delete-orphans', () => {
    expect(deleted(plan({ keep: 3 }))).toEqual([]);
    const p = plan({ keep: 3 }, { deleteOrphans: true });
    expect(deleted(p)).toEqual([FX, SX].map((n) => n.digest).sort());
    expect(reasonOf(p, fb(GONE))).toBe('orphan: subject gone');
  });

  it('rm keeps referrers with --keep-referrers, and unlists a referrer named by digest', () => {
    const decisions = snapshot.tags.map((t) => ({
      ...t,
      action: t.tag === '1.0' ? ('delete' as const) : ('keep' as const),
      reason: 'x',
    }));
    // The rm decisions name only ordinary tags; attachment tags follow (undecided).
    const undecided = decisions.filter((d) => !d.tag.startsWith('sha256-'));
    expect(deleted(buildRepositoryPlan(snapshot, undecided))).toContain(SA.digest);
    expect(deleted(buildRepositoryPlan(snapshot, undecided, { keepReferrers: true }))).toEqual([A.digest]);

    const keepAll = snapshot.tags.map((t) => ({ ...t, action: 'keep' as const, reason: 'not requested' }));
    const rmSig = buildRepositoryPlan(snapshot, keepAll, { deleteDigests: [SA.digest] });
    expect(rmSig.actions).toEqual([
      { kind: 'unlist-referrer', tag: fb(A.digest), index: FA.digest, referrer: SA.digest },
      { kind: 'delete-manifest', digest: SA.digest, tags: [] },
    ]);
  });
});

describe('apply re-checks referrers like tags', () => {
  const p = buildRepositoryPlan(snapshot, evaluateRules(snapshot, compileRules({ keep: 2 }), NOW));
  const fresh = (extra: Record<string, string> = {}, children: Record<string, string[]> = {}): FreshState => ({
    tags: new Map([...snapshot.tags.map((t): [string, string] => [t.tag, t.digest]), ...Object.entries(extra)]),
    children: new Map([
      ...Object.values(snapshot.manifests).map((n): [string, string[]] => [n.digest, n.children]),
      ...Object.entries(children),
    ]),
    throwaways: new Set(),
  });

  it('nothing moved: the subject and every referrer go', () => {
    const verdicts = judgeRepository(p, fresh());
    expect(verdicts.filter((v) => v.kind === 'delete-manifest').length).toBe(7);
    expect(verdicts.filter((v) => v.kind === 'skip' || v.kind === 'untag')).toEqual([]);
  });

  it('a subject that gained a tag keeps every referrer and its attachment tags (never untagged)', () => {
    const verdicts = judgeRepository(p, fresh({ hotfix: A.digest }));
    expect(verdicts.filter((v) => v.kind === 'delete-manifest')).toEqual([]);
    expect(verdicts.filter((v) => v.kind === 'untag').map((v) => v.kind === 'untag' && v.tag)).toEqual(['1.0']);
  });

  it('a referrer attached after planning (the fallback index re-pushed) is never deleted', () => {
    const NEW = dg('new sig a');
    const FA2 = dg('fallback a v2');
    const verdicts = judgeRepository(p, fresh({ [fb(A.digest)]: FA2 }, { [FA2]: [SA.digest, BA.digest, NEW] }));
    const gone = verdicts.flatMap((v) => (v.kind === 'delete-manifest' ? [v.digest] : []));
    expect(gone).not.toContain(FA2);
    expect(gone).not.toContain(NEW);
    // What the new index lists stays: deleting it would break the index another writer just pushed.
    expect(gone).not.toContain(SA.digest);
    expect(gone).not.toContain(BA.digest);
    expect(gone).toContain(A.digest);
  });

  it('an unlist goes ahead while the fallback tag exists, and is gone when it does not', () => {
    const keepAll = snapshot.tags.map((t) => ({ ...t, action: 'keep' as const, reason: 'not requested' }));
    const rm = buildRepositoryPlan(snapshot, keepAll, { deleteDigests: [SA.digest] });
    expect(judgeRepository(rm, fresh())).toEqual([
      { kind: 'unlist-referrer', tag: fb(A.digest), index: FA.digest, referrer: SA.digest },
      { kind: 'delete-manifest', digest: SA.digest, tags: [] },
    ]);
  });
});
