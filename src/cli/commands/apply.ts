import { parsePlanFile } from '../../plan/plan-file.js';
import type { Plan } from '../../plan/plan.js';
import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';
import { readUserFile } from '../files.js';

export async function readPlanFile(path: string): Promise<Plan> {
  return parsePlanFile(await readUserFile(path, 'plan'), path);
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const plan = await readPlanFile(args[0] as string);
  const client = await ctx.client(plan.registry);
  await executePlan(ctx, client, plan, options as DeletionFlags, { question: `Apply the plan of ${plan.createdAt} to ${plan.registry.host}?` });
}
