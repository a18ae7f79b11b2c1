import { classifyTag } from '../manifest/referrers.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
import type { TagDecision } from './evaluate.js';
import { evaluateRules } from './evaluate.js';
import type { Pattern } from '../pattern.js';
import type { Policy } from './policy-file.js';
import type { Rules } from './rules.js';

/**
 * The rules that decide one repository's tags. Pure.
 *
 * Without tag selectors, the first rule whose `repos` matches decides every tag (as always). A rule
 * with `tags: REGEX` decides only the tags it selects, and every matching rule then counts: a tag is
 * deleted only when every rule that selects it deletes it, and kept as soon as one keeps it — the
 * retention semantics of Harbor (rules are ORed for what stays). Unlike Harbor, a tag no rule
 * selects is kept, not deleted: krill deletes only what a rule asked for.
 */

export interface SelectedRule {
  rules: Rules;
  /** Only the tags this matches are the rule's (absent: every tag). */
  tags?: Pattern;
  /** How a reason names the rule (`rule 2 (^mr-)`); absent when only one rule applies. */
  label?: string;
}

/** One rule or more, in the policy's order; budgets come from `budget` (tag rules have none). */
export interface RuleSet {
  rules: SelectedRule[];
  budget: Rules | undefined;
}

/** A rule set of one rule (flags, or a policy without tag selectors). */
export function singleRule(rules: Rules): RuleSet {
  return { rules: [{ rules }], budget: rules };
}

/**
 * The rule set of a list of rules given without a policy file (`cleanup --rule`, the library's
 * `rules: [...]`): the same semantics as a policy whose rules all match the repository.
 */
export function ruleSetOf(rules: ReadonlyArray<{ rules: Rules; tags?: Pattern }>): RuleSet {
  return combine(rules.map((r, i) => ({ ...r, number: i + 1 })));
}

/** The rule set for a repository; undefined when nothing covers it (and defaults are not asked for). */
export function ruleSetFor(policy: Policy, repository: string, useDefaults: boolean): RuleSet | undefined {
  const matching = policy.rules.flatMap((rule, i) =>
    rule.matches(repository) ? [{ rules: rule.rules, ...(rule.tags ? { tags: rule.tags } : {}), number: i + 1 }] : [],
  );
  if (matching.length === 0) return useDefaults ? singleRule(policy.defaults) : undefined;
  return combine(matching);
}

/**
 * Without tag selectors the first rule alone (it wins, as always). With them, every tag rule, and
 * of the rules without a selector only the first: it stands for the repository-wide rule that
 * "first match wins" picked, and only its budgets apply (tag rules have none).
 */
function combine(rules: ReadonlyArray<{ rules: Rules; tags?: Pattern; number: number }>): RuleSet {
  const wide = rules.find((r) => !r.tags);
  if (!rules.some((r) => r.tags)) return singleRule(wide!.rules);
  return {
    rules: rules
      .filter((r) => r.tags || r === wide)
      .map(({ rules: decide, tags, number }) => ({
        rules: decide,
        ...(tags ? { tags } : {}),
        label: `rule ${number}${tags ? ` (${tags.source})` : ''}`,
      })),
    budget: wide?.rules,
  };
}

/** Each tag's decision under the rule set (attachment tags excepted: they follow their subject). */
export function evaluateRuleSet(snapshot: RepositorySnapshot, set: RuleSet, now: number): TagDecision[] {
  const only = set.rules.length === 1 ? set.rules[0]! : undefined;
  if (only && !only.tags) return evaluateRules(snapshot, only.rules, now);
  const byTag = new Map<string, { keep?: TagDecision; remove?: TagDecision }>();
  for (const selected of set.rules) {
    const tags = selected.tags ? snapshot.tags.filter((t) => selected.tags!.test(t.tag)) : snapshot.tags;
    for (const decision of evaluateRules({ ...snapshot, tags }, selected.rules, now)) {
      const seen = byTag.get(decision.tag) ?? {};
      const named = { ...decision, reason: `${selected.label}: ${decision.reason}` };
      if (decision.action === 'keep') seen.keep ??= named;
      else seen.remove ??= named;
      byTag.set(decision.tag, seen);
    }
  }
  const decisions: TagDecision[] = [];
  for (const { tag, digest } of snapshot.tags) {
    if (classifyTag(tag).kind !== 'image') continue;
    const seen = byTag.get(tag);
    // A tag left on krill's throwaway is finished whichever rule sees it (evaluate.ts notCandidate).
    // Stryker disable next-line ConditionalExpression: equivalent, evaluateRules deletes a throwaway under every rule (notCandidate), so no rule keeps it.
    const finishing = seen?.remove && snapshot.manifests[digest]?.throwaway;
    if (seen?.keep && !finishing) decisions.push(seen.keep);
    else if (seen?.remove) decisions.push(seen.remove);
    else if (snapshot.manifests[digest]?.throwaway)
      decisions.push({ tag, digest, action: 'delete', reason: 'finishes an untag an earlier run left half-way' });
    else decisions.push({ tag, digest, action: 'keep', reason: 'no rule selects this tag' });
  }
  return decisions;
}
