import type { Budget } from '../policy/rules.js';
import type { RepositoryPlan } from './plan.js';

/**
 * Deletion budgets (`--max-delete`, `--max-bytes`): a plan beyond one is refused as a whole before
 * anything is deleted, so one wrong rule, or a registry listing that dropped entries, cannot empty a
 * registry. Pure.
 */

export interface Limit {
  maxDelete?: Budget;
  maxBytes?: number;
  /** How the user set it, for the message: `--max-delete`, `policy.yaml: max-delete`. */
  source: string;
}

/** Tags a repository plan removes (deleted or untagged). */
function removed(plan: RepositoryPlan): number {
  return plan.delete.length + plan.actions.filter((a) => a.kind === 'remove-dangling').length;
}

function overBudget(
  limit: Limit,
  removedTags: number,
  inScope: number,
  bytes: number,
  what: string,
): string | undefined {
  const { maxDelete, maxBytes } = limit;
  if (maxDelete?.count !== undefined && removedTags > maxDelete.count)
    return `${what} removes ${removedTags} tags, over ${limit.source} ${maxDelete.text}`;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, removed tags are in scope, so none in scope is 0/0 (NaN), never over.
  if (maxDelete?.percent !== undefined && inScope > 0 && (removedTags / inScope) * 100 > maxDelete.percent)
    return `${what} removes ${removedTags} of ${inScope} tags (${Math.round((removedTags / inScope) * 100)}%), over ${limit.source} ${maxDelete.text}`;
  if (maxBytes !== undefined && bytes > maxBytes)
    return `${what} frees up to ${bytes} bytes, over ${limit.source} ${maxBytes} bytes`;
  return undefined;
}

/** Why the plan is refused, or undefined when it is within every budget. */
export function checkLimits(
  plans: readonly RepositoryPlan[],
  reclaimableBytes: number,
  whole: Limit | undefined,
  perRepository: (plan: RepositoryPlan) => { limit: Limit; bytes: number } | undefined,
): string | undefined {
  for (const plan of plans) {
    const own = perRepository(plan);
    if (!own) continue;
    const why = overBudget(own.limit, removed(plan), plan.keep.length + plan.delete.length, own.bytes, plan.repository);
    if (why) return why;
  }
  if (!whole) return undefined;
  const removedTags = plans.reduce((n, p) => n + removed(p), 0);
  const inScope = plans.reduce((n, p) => n + p.keep.length + p.delete.length, 0);
  return overBudget(whole, removedTags, inScope, reclaimableBytes, 'the plan');
}
