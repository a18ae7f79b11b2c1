import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext, args: unknown[]): Promise<void> {
  const removed = await ctx.krill.logout(args[0] as string | undefined);
  if (!ctx.options.quiet)
    ctx.io.err(removed ? 'krill: credentials removed\n' : 'krill: no credentials were stored for this registry\n');
}
