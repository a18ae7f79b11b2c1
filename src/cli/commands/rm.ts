import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';

interface RmOptions extends DeletionFlags {
  force?: boolean;
  keepReferrers?: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as RmOptions;
  const plan = await ctx.krill.planRemoval(args[0] as string[], {
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
