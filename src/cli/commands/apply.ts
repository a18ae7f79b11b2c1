import { UsageError } from '../../errors.js';
import { parsePlanFile } from '../../plan/plan-file.js';
import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';
import { readUserFile } from '../files.js';

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const path = args[0] as string;
  const plan = parsePlanFile(await readUserFile(path, 'plan'), path);
  if (plan.keepInUse?.sources.includes('stdin') && ctx.io.stdinIsTty)
    throw new UsageError('the plan read its live set from standard input: pipe the same list into krill apply');
  // A live set read from standard input is read from it again (files are re-read by path).
  const keepInUse = plan.keepInUse?.sources.map((s) =>
    s === 'stdin' ? { name: 'stdin', read: () => ctx.io.readStdin() } : s,
  );
  await executePlan(ctx, plan, options as DeletionFlags, {
    question: `Apply the plan of ${plan.createdAt} to ${plan.registry.host}?`,
    ...(keepInUse ? { keepInUse } : {}),
  });
}
