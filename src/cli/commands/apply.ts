import { UsageError } from '../../errors.js';
import type { Plan } from '../../plan/plan.js';
import { parseRegistryAddress } from '../../ref/reference.js';
import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';
import { readUserFile } from '../files.js';

export async function readPlanFile(path: string): Promise<Plan> {
  const text = await readUserFile(path, 'plan');
  let plan: Plan;
  try {
    plan = JSON.parse(text) as Plan;
  } catch {
    throw new UsageError(`${path} is not JSON: pass a file written by krill cleanup --plan-out`);
  }
  if (plan?.kind !== 'krill-plan' || plan.version !== 1 || !Array.isArray(plan.repositories) || typeof plan.registry?.host !== 'string') {
    throw new UsageError(`${path} is not a krill plan (version 1): pass a file written by krill cleanup --plan-out`);
  }
  // Re-validate the address: a plan file is input like any other.
  parseRegistryAddress(plan.registry.host);
  return plan;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const plan = await readPlanFile(args[0] as string);
  const client = await ctx.client(plan.registry);
  await executePlan(ctx, client, plan, options as DeletionFlags, { question: `Apply the plan of ${plan.createdAt} to ${plan.registry.host}?` });
}
