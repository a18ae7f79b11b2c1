import { parsePlanFile } from '../../plan/plan-file.js';
import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';
import { readUserFile } from '../files.js';

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const path = args[0] as string;
  const plan = parsePlanFile(await readUserFile(path, 'plan'), path);
  await executePlan(ctx, plan, options as DeletionFlags, {
    question: `Apply the plan of ${plan.createdAt} to ${plan.registry.host}?`,
  });
}
