import type { CliContext } from '../context.js';
import type { ArgsOf } from '../program.js';

export async function execute(ctx: CliContext, [registry]: ArgsOf<'repos'>): Promise<void> {
  const repositories = await ctx.krill.repositories(registry);
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(repositories, null, 2)}\n`);
  else if (repositories.length > 0) ctx.io.out(`${repositories.join('\n')}\n`);
}
