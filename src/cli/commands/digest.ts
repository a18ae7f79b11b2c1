import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';

export async function execute(
  ctx: CliContext,
  [reference]: ArgsOf<'digest'>,
  options: OptionsOf<'digest'>,
): Promise<void> {
  const platform = options.platform !== undefined ? { platform: options.platform } : {};
  ctx.io.out(`${await ctx.krill.digest(reference, platform)}\n`);
}
