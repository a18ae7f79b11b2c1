import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext, args: unknown[]): Promise<void> {
  const repositories = await ctx.krill.repositories(args[0] as string | undefined);
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(repositories, null, 2)}\n`);
  else if (repositories.length > 0) ctx.io.out(`${repositories.join('\n')}\n`);
}
