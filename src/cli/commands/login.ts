import type { CliContext } from '../context.js';
import type { ArgsOf } from '../program.js';

export async function execute(ctx: CliContext, [registry]: ArgsOf<'login'>): Promise<void> {
  const where = await ctx.krill.login(registry);
  if (!ctx.options.quiet) ctx.io.err(`krill: login succeeded; credentials stored in ${where}\n`);
}
