import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { renderInspection, renderTree } from '../render-inspect.js';

export async function execute(
  ctx: CliContext,
  [reference]: ArgsOf<'inspect'>,
  opts: OptionsOf<'inspect'>,
): Promise<void> {
  const platform = opts.platform !== undefined ? { platform: opts.platform } : {};
  if (opts.config) {
    ctx.io.out(Buffer.concat([await ctx.krill.config(reference, platform), Buffer.from('\n')]));
    return;
  }
  if (opts.raw) {
    ctx.io.out((await ctx.krill.manifest(reference, platform)).fetched.bytes);
    return;
  }
  const details = await ctx.krill.inspect(reference, platform);
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(details, null, 2)}\n`);
  else ctx.io.out(opts.tree ? renderTree(details, ctx.io.columns) : renderInspection(details));
}
