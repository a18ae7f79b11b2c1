import { UsageError } from '../../errors.js';
import { parsePlanFile } from '../../plan/plan-file.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { executePlan } from '../deletion.js';
import { checkJournalFlag, readUserFile } from '../files.js';

export async function execute(ctx: CliContext, [path]: ArgsOf<'apply'>, options: OptionsOf<'apply'>): Promise<void> {
  await checkJournalFlag(ctx, options.journal);
  const plan = parsePlanFile(await readUserFile(path, 'plan'), path);
  if (plan.keepInUse?.sources.includes('stdin') && ctx.io.stdinIsTty)
    throw new UsageError('the plan read its live set from standard input: pipe the same list into krill apply');
  // A live set read from standard input is read from it again (files are re-read by path).
  const keepInUse = plan.keepInUse?.sources.map((s) =>
    s === 'stdin' ? { name: 'stdin', read: () => ctx.io.readStdin() } : s,
  );
  await executePlan(ctx, plan, options, {
    question: `Apply the plan of ${plan.createdAt} to ${plan.registry.host}?`,
    ...(keepInUse ? { keepInUse } : {}),
  });
}
