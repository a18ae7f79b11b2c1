import type { CliContext } from '../context.js';
import type { ArgsOf } from '../program.js';

export async function execute(ctx: CliContext, [registry]: ArgsOf<'logout'>): Promise<void> {
  const removed = await ctx.krill.logout(registry);
  if (!ctx.options.quiet)
    ctx.io.err(removed ? 'krill: credentials removed\n' : 'krill: no credentials were stored for this registry\n');
}
