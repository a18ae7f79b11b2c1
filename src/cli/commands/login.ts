import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext, args: unknown[]): Promise<void> {
  const where = await ctx.krill.login(args[0] as string | undefined);
  if (!ctx.options.quiet) ctx.io.err(`krill: login succeeded; credentials stored in ${where}\n`);
}
