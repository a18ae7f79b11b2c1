import { createHash } from 'node:crypto';
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { UsageError } from '../errors.js';
import { normalizeCreated } from '../manifest/manifest.js';
import { buildRepositoryPlan } from '../plan/plan.js';
import type { ManifestNode, RepositorySnapshot } from '../model/snapshot.js';
import { isValidRepository, isValidTag } from '../ref/reference.js';
import type { Policy } from '../policy/policy-file.js';
import { parsePolicy } from '../policy/policy-file.js';
import { evaluateRuleSet, ruleSetFor } from '../policy/rule-set.js';

/**
 * `krill policy test POLICY CASES`: unit tests for retention policies, with no registry. A cases
 * file declares repositories (tags with a digest label, a date, in-use marks) and what must happen
 * to each tag; the policy is evaluated exactly as `cleanup` would (rules, ties, shared digests,
 * live set) and every expectation is checked. Pure.
 *
 *   version: 1
 *   now: 2024-06-01T00:00:00Z          # optional: the clock for older-than
 *   repositories:
 *     apps/web:
 *       tags:
 *         1.0.0: {digest: a, created: 2024-01-01}
 *         latest: {digest: b, created: 2024-05-01, in-use: true}
 *       expect:
 *         1.0.0: delete
 *         latest: {action: keep, reason: in use}
 */

export type ExpectedAction = 'keep' | 'delete' | 'untag';

export interface PolicyCase {
  repository: string;
  tags: Array<{ tag: string; digest: string; created: string | null; inUse: boolean }>;
  expect: Array<{ tag: string; action: ExpectedAction; reason?: string; where: string }>;
}

export interface PolicyCases {
  now?: number;
  cases: PolicyCase[];
}

export interface CaseResult {
  repository: string;
  tag: string;
  expected: ExpectedAction;
  expectedReason?: string;
  actual: ExpectedAction | 'absent';
  reason: string;
  ok: boolean;
  where: string;
}

/** A digest label (`a`, `release-1`) as a digest: equal labels share a digest, like shared images. */
function labelDigest(label: string): string {
  return `sha256:${createHash('sha256').update(`krill policy test ${label}`).digest('hex')}`;
}

/** Where a YAML node is (`cases.yaml:12`), and a usage error there. */
interface Located {
  at(node: unknown): string;
  fail(node: unknown, message: string): never;
}

const scalar = (node: unknown): unknown => (isScalar(node) ? node.value : undefined);

export function parsePolicyCases(text: string, path: string): PolicyCases {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const at = (node: unknown): string => {
    const offset = (node as Node | undefined)?.range?.[0];
    return offset === undefined ? path : `${path}:${lineCounter.linePos(offset).line}`;
  };
  const where: Located = {
    at,
    fail: (node, message) => {
      throw new UsageError(`${at(node)}: ${message}`);
    },
  };
  if (doc.errors.length > 0)
    throw new UsageError(
      `${path}:${doc.errors[0]!.linePos?.[0]?.line ?? '?'}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`,
    );
  const root = doc.contents;
  if (!isMap(root)) return where.fail(root, 'expected a mapping with version and repositories');
  if (scalar(root.get('version', true)) !== 1) where.fail(root.get('version', true) ?? root, 'version must be 1');
  const nowNode = root.get('now', true);
  let now: number | undefined;
  if (nowNode !== undefined) {
    now = Date.parse(String(scalar(nowNode)));
    if (Number.isNaN(now)) where.fail(nowNode, 'now must be an ISO 8601 date');
  }
  const repos = root.get('repositories', true);
  if (!isMap(repos)) return where.fail(repos ?? root, 'repositories must be a mapping of repository → {tags, expect}');
  const cases: PolicyCase[] = [];
  for (const pair of repos.items) {
    const repository = String(scalar(pair.key));
    if (!isValidRepository(repository)) where.fail(pair.key, `"${repository}" is not a repository name`);
    const body = pair.value;
    if (!isMap(body)) return where.fail(body ?? pair.key, 'expected {tags, expect}');
    cases.push({
      repository,
      tags: parseCaseTags(body.get('tags', true) ?? body, where),
      expect: parseExpectations(body.get('expect', true) ?? body, where),
    });
  }
  return { ...(now !== undefined ? { now } : {}), cases };
}

function parseCaseTags(node: unknown, where: Located): PolicyCase['tags'] {
  if (!isMap(node)) return where.fail(node, 'tags must be a mapping of tag → {digest, created, in-use}');
  return node.items.map((t) => {
    const tag = String(scalar(t.key));
    if (!isValidTag(tag)) where.fail(t.key, `"${tag}" is not a valid tag`);
    const spec = t.value;
    if (!isMap(spec)) return where.fail(spec ?? t.key, 'expected {digest, created, in-use}');
    const label = scalar(spec.get('digest', true));
    if (typeof label !== 'string' && typeof label !== 'number')
      return where.fail(spec, 'each tag needs a digest label');
    const created = spec.get('created', true);
    const inUse = scalar(spec.get('in-use', true));
    if (inUse !== undefined && typeof inUse !== 'boolean') where.fail(spec, 'in-use must be true or false');
    return {
      tag,
      digest: labelDigest(String(label)),
      created: created === undefined ? null : normalizeCreated(String(scalar(created) ?? created)),
      inUse: inUse === true,
    };
  });
}

function parseExpectations(node: unknown, where: Located): PolicyCase['expect'] {
  if (!isMap(node)) return where.fail(node, 'expect must be a mapping of tag → keep|delete|untag');
  return node.items.map((e) => {
    const value = e.value;
    const action = isMap(value) ? scalar(value.get('action', true)) : scalar(value);
    if (action !== 'keep' && action !== 'delete' && action !== 'untag')
      where.fail(value ?? e.key, 'expected keep, delete or untag (or {action, reason})');
    const reason = isMap(value) ? scalar(value.get('reason', true)) : undefined;
    return {
      tag: String(scalar(e.key)),
      action: action as ExpectedAction,
      ...(typeof reason === 'string' ? { reason } : {}),
      where: where.at(e.key),
    };
  });
}

/** Evaluates the policy on each declared repository exactly as `cleanup` plans it. */
export function runPolicyTest(policy: Policy, cases: PolicyCases, now = cases.now ?? Date.now()): CaseResult[] {
  const results: CaseResult[] = [];
  for (const c of cases.cases) {
    const manifests: Record<string, ManifestNode> = {};
    for (const t of c.tags) {
      manifests[t.digest] ??= {
        digest: t.digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        kind: 'image',
        size: 0,
        children: [],
        blobs: [],
        created: t.created,
      };
    }
    const snapshot: RepositorySnapshot = {
      registry: 'policy-test',
      repository: c.repository,
      tags: c.tags.map((t) => ({ tag: t.tag, digest: t.digest })),
      manifests,
    };
    const rules = ruleSetFor(policy, c.repository, true)!;
    const live = new Map(c.tags.filter((t) => t.inUse).map((t) => [t.digest, 'in use (declared in the cases)']));
    const plan = buildRepositoryPlan(snapshot, evaluateRuleSet(snapshot, rules, now), { live });
    for (const e of c.expect) {
      const kept = plan.keep.find((t) => t.tag === e.tag);
      const gone = plan.delete.find((t) => t.tag === e.tag);
      const actual: CaseResult['actual'] = kept
        ? 'keep'
        : gone
          ? gone.reason.includes('untag only')
            ? 'untag'
            : 'delete'
          : 'absent';
      const reason = (kept ?? gone)?.reason ?? 'the cases declare no such tag';
      const ok = actual === e.action && (e.reason === undefined || reason.includes(e.reason));
      results.push({
        repository: c.repository,
        tag: e.tag,
        expected: e.action,
        ...(e.reason !== undefined ? { expectedReason: e.reason } : {}),
        actual,
        reason,
        ok,
        where: e.where,
      });
    }
  }
  return results;
}

/** `krill policy test`: a policy file's text against a cases file's text, with the paths for messages. */
export function testPolicyFiles(
  policy: { text: string; path: string },
  cases: { text: string; path: string },
): CaseResult[] {
  return runPolicyTest(parsePolicy(policy.text, policy.path), parsePolicyCases(cases.text, cases.path));
}
