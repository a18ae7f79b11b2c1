import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { executePlan } from '../deletion.js';
import { checkJournalFlag } from '../files.js';

export async function execute(ctx: CliContext, [references]: ArgsOf<'rm'>, opts: OptionsOf<'rm'>): Promise<void> {
  await checkJournalFlag(ctx, opts.journal);
  const plan = await ctx.krill.planRemoval(references, {
    force: opts.force === true,
    keepReferrers: opts.keepReferrers === true,
  });
  const going = plan.repositories.flatMap((r) => [
    ...r.delete.map((t) => `${r.repository}:${t.tag}`),
    ...r.actions.flatMap((a) =>
      a.kind === 'delete-manifest' && a.tags.length === 0 && !a.parent && !a.subject
        ? [`${r.repository}@${a.digest}`]
        : [],
    ),
    ...r.actions.flatMap((a) => (a.kind === 'remove-dangling' ? [`${r.repository}:${a.tag}`] : [])),
  ]);
  await executePlan(ctx, plan, opts, {
    question: `Delete ${going.join(', ')} on ${plan.registry.host}?`,
    showKept: false,
  });
}
