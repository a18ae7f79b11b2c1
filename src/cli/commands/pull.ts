import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';

export async function execute(ctx: CliContext, [specs]: ArgsOf<'pull'>, options: OptionsOf<'pull'>): Promise<void> {
  const dryRun = options.dryRun === true;
  const pulled = await ctx.krill.pull(specs, {
    dryRun,
    onPulled: (name) => {
      if (!ctx.options.json) ctx.io.out(`${dryRun ? 'would pull' : 'pulled'} ${name}\n`);
    },
  });
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(pulled, null, 2)}\n`);
}
