import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const platform = typeof options.platform === 'string' ? { platform: options.platform } : {};
  ctx.io.out(`${await ctx.krill.digest(args[0] as string, platform)}\n`);
}
