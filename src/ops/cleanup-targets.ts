import { SHAPES, checkOptions } from '../check-options.js';
import { UsageError } from '../errors.js';
import type { LiveSource } from '../live/live-set.js';
import type { Limit } from '../plan/limits.js';
import { checkLimits } from '../plan/limits.js';
import type { Plan } from '../plan/plan.js';
import { computeReclaimable } from '../plan/plan.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
import type { Pattern } from '../pattern.js';
import { compilePattern } from '../pattern.js';
import type { Policy } from '../policy/policy-file.js';
import type { RuleSet } from '../policy/rule-set.js';
import type { Budget, RuleInput, Rules } from '../policy/rules.js';
import type { RegistryAddress } from '../ref/reference.js';
import { DOCKER_HUB } from '../ref/reference.js';
import type { ProgressOptions, Session } from '../session.js';

/**
 * What a cleanup request names, and the budgets its plan must stay within: decided before any
 * request, from the request and the policy file alone (no I/O).
 */

export interface CleanupRequest extends ProgressOptions {
  /** Repositories to clean (`apps/web` or `host/apps/web`); omit with `allRepos` or a policy. */
  repositories?: string[];
  /** Every repository of the catalog; a string names the registry. */
  allRepos?: boolean | string;
  /**
   * Retention rules (not with a policy): one rule, or a list where rules with `tags` (a regex)
   * decide only the tags they select and a tag is kept when any rule keeps it (policy/rule-set.ts).
   */
  rules?: RuleInput | RuleInput[];
  /** A policy file's text and the path to name in errors, or a parsed policy. */
  policy?: { text: string; path: string } | Policy;
  /** Read every repository of the catalog to account for shared blobs. */
  scanAll?: boolean;
  /** A policy rule that matches no repository is an error (a warning otherwise). */
  strict?: boolean;
  /** Delete signatures, SBOMs and other referrers whose subject is gone (default: keep them). */
  deleteOrphans?: boolean;
  /**
   * Live-set sources: files of image references, `kubernetes` / `kubernetes:CTX,…` (the kubeconfig's
   * clusters), or sources you read yourself (pass the same objects to `apply`: they are re-read there).
   */
  keepInUse?: Array<string | LiveSource>;
  /** With a kubernetes source: previous revisions kept per workload (default: all the cluster keeps). */
  rollbackDepth?: number;
  /** `I/N`, `auto` or `auto/N`: only this job's share of the catalog (plan/shard.ts). */
  shard?: string;
  /** With `unpulledFor` rules: images pushed before the ledger's coverage may go (default: kept). */
  allowBeforeLedger?: boolean;
  /** Refuse a plan that removes more tags than this: `N` or `P%` (default 50% for allRepos and policies). */
  maxDelete?: string | number;
  /** Refuse a plan that frees more than this: bytes or `10GiB`. */
  maxBytes?: string | number;
  /** Plan even for a repository whose listing lost many tags since the last run (see plan/listing.ts). */
  acceptListing?: boolean;
  /** Record and check listings in the state directory (default true). */
  history?: boolean;
  /** Compare each repository with the last recorded run: `plan.changes` (`cleanup --diff`). */
  diff?: boolean;
}

/** How names become registries and repositories (the session's parsers). */
export type Parsers = Pick<Session, 'parseRegistry' | 'parseRepository' | 'defaultRegistry'>;

/** --all-repos and policy files: a plan may remove at most half of the tags in scope unless told. */
const DEFAULT_BUDGET: Budget = { percent: 50, text: '50% (--max-delete 100% lifts it)' };

/** Which registry and repositories a cleanup request names (undefined repositories: the catalog). */
export function cleanupTargets(
  parsers: Parsers,
  request: CleanupRequest,
  policy: Policy | undefined,
): { registry: RegistryAddress; repositories: string[] | undefined } {
  let registry: RegistryAddress | undefined;
  let repositories: string[] | undefined;
  const named = request.repositories ?? [];
  if (request.allRepos) {
    if (named.length > 0) throw new UsageError('--all-repos takes no repositories: krill cleanup --all-repos REGISTRY');
    const given = typeof request.allRepos === 'string' ? request.allRepos : policy?.registry;
    registry = given !== undefined ? parsers.parseRegistry(given) : parsers.defaultRegistry();
  } else if (named.length > 0) {
    const refs = named.map((p) => parsers.parseRepository(p));
    registry = refs[0]!.registry;
    if (refs.some((r) => r.registry.host !== registry!.host))
      throw new UsageError('krill cleanup works on one registry at a time: run it once per registry');
    repositories = [...new Set(refs.map((r) => r.repository))];
  } else if (policy) {
    registry = policy.registry !== undefined ? parsers.parseRegistry(policy.registry) : parsers.defaultRegistry();
  } else {
    throw new UsageError(
      'name what to clean up: krill cleanup REPO…, krill cleanup --all-repos REGISTRY, or krill cleanup -f POLICY.yaml',
    );
  }
  if (policy?.registry !== undefined && registry !== undefined) {
    // The command line never silently loses to the file, nor the file to the command line: a
    // staging run must not clean production.
    const fileHost = parsers.parseRegistry(policy.registry).host;
    const cliHost =
      named.length > 0
        ? registry.host
        : typeof request.allRepos === 'string'
          ? parsers.parseRegistry(request.allRepos).host
          : parsers.defaultRegistry()?.host;
    if (cliHost !== undefined && cliHost !== fileHost) {
      throw new UsageError(
        `the policy file names registry ${fileHost} but the command line names ${cliHost}: remove one of them`,
      );
    }
  }
  if (registry === undefined || registry.host === DOCKER_HUB) {
    throw new UsageError(
      'name the registry (argument, --registry, KRILL_REGISTRY or "registry:" in the policy file); Docker Hub has no catalog or delete API',
    );
  }
  return { registry, repositories };
}

/**
 * The budget of the whole plan: the flags, else the policy file's, else 50% for --all-repos and
 * policy files (a wrong rule or a listing that dropped entries must not empty a registry).
 */
export function wholePlanLimit(
  request: CleanupRequest,
  policy: Policy | undefined,
  parseBudget: (input: string | number, what?: string) => Budget,
  parseSize: (input: string | number, what?: string) => number,
): Limit | undefined {
  if (request.maxDelete !== undefined || request.maxBytes !== undefined)
    return {
      source: request.maxDelete !== undefined ? '--max-delete' : '--max-bytes',
      ...(request.maxDelete !== undefined ? { maxDelete: parseBudget(request.maxDelete) } : {}),
      ...(request.maxBytes !== undefined ? { maxBytes: parseSize(request.maxBytes) } : {}),
    };
  if (policy?.limits) return { source: "the policy file's", ...policy.limits };
  if (policy || request.allRepos) return { source: 'the default budget', maxDelete: DEFAULT_BUDGET };
  return undefined;
}

/** The plan with its budgets, and why it is refused when it exceeds one (plan/limits.ts). */
export function withLimits(
  plan: Plan,
  snapshots: RepositorySnapshot[],
  whole: Limit | undefined,
  rulesOf: (repository: string) => RuleSet | undefined,
): Plan {
  const refused = checkLimits(plan.repositories, plan.reclaimableBytes, whole, (p) => {
    const rules = rulesOf(p.repository)?.budget;
    if (rules === undefined || (rules.maxDelete === undefined && rules.maxBytes === undefined)) return undefined;
    const limit: Limit = {
      source: `the rule for ${p.repository}:`,
      ...(rules.maxDelete ? { maxDelete: rules.maxDelete } : {}),
      ...(rules.maxBytes !== undefined ? { maxBytes: rules.maxBytes } : {}),
    };
    return { limit, bytes: computeReclaimable(snapshots, [p]) };
  });
  if (whole || refused) {
    plan.limits = {
      ...(whole?.maxDelete ? { maxDelete: whole.maxDelete.text } : {}),
      ...(whole?.maxBytes !== undefined ? { maxBytes: whole.maxBytes } : {}),
      ...(refused ? { refused } : {}),
    };
  }
  return plan;
}

/**
 * A policy rule that matches no repository is almost always a typo: one wrong glob must not go
 * unnoticed. Returns the warnings; with `strict`, the first is an error.
 */
export function checkRulesMatch(policy: Policy, repositories: string[], strict: boolean): string[] {
  const warnings: string[] = [];
  for (const rule of policy.rules) {
    if (repositories.some((r) => rule.matches(r))) continue;
    const message = `${rule.where}: the rule for repos "${rule.repos}" matches no repository`;
    if (strict) throw new UsageError(`${message} (--strict)`);
    warnings.push(message);
  }
  return warnings;
}

/** Regexes that match no tag of a repository: worth a note under --verbose (a typo?). */
export function unmatchedPatterns(snapshot: RepositorySnapshot, rules: Rules): string[] {
  const notes: string[] = [];
  for (const [flag, patterns] of [
    ['--delete-regex', rules.deleteRegex],
    ['--keep-regex', rules.keepRegex],
  ] as const) {
    for (const p of patterns)
      if (!snapshot.tags.some((t) => p.test(t.tag)))
        notes.push(`${snapshot.repository}: ${flag} ${p.source} matches no tag`);
  }
  return notes;
}

/**
 * The library's rules (one object, or a list with `tags` selectors: `cleanup --rule`) checked and
 * compiled into a rule set, with the policy file's messages.
 */
export function compileRuleList(
  given: RuleInput | RuleInput[] | undefined,
  compileRules: (input: RuleInput, where?: string) => Rules,
  ruleSetOf: (rules: Array<{ rules: Rules; tags?: Pattern }>) => RuleSet,
): RuleSet {
  const list = Array.isArray(given) ? given : [given ?? {}];
  if (list.length === 0) throw new UsageError('planCleanup options.rules is an empty list: give at least one rule');
  return ruleSetOf(
    list.map((input, i) => {
      const where = Array.isArray(given) ? `planCleanup options.rules[${i}]` : 'planCleanup options.rules';
      checkOptions(input, where, SHAPES.rules);
      const { tags, ...rest } = input;
      if (tags !== undefined && (rest.maxDelete !== undefined || rest.maxBytes !== undefined))
        throw new UsageError(`${where}: a rule with tags cannot set maxDelete or maxBytes: give budgets to the run`);
      const rules = compileRules(rest, Array.isArray(given) ? `rule ${i + 1}` : '');
      return { rules, ...(tags !== undefined ? { tags: compilePattern(tags, `${where}.tags`) } : {}) };
    }),
  );
}

/** Retention (yaml, semver) is loaded only by the calls that plan one; a policy given as text is parsed. */
export async function loadRetention(request: CleanupRequest) {
  const [{ parsePolicy }, rules, { evaluateRuleSet, ruleSetFor, ruleSetOf }] = await Promise.all([
    import('../policy/policy-file.js'),
    import('../policy/rules.js'),
    import('../policy/rule-set.js'),
  ]);
  const given = request.policy;
  const policy = given === undefined ? undefined : 'text' in given ? parsePolicy(given.text, given.path) : given;
  return { policy, ruleSetFor, ruleSetOf, evaluateRuleSet, ...rules };
}
