import type { CliContext } from '../context.js';
import { renderInspection, renderTree } from '../render-inspect.js';

interface InspectOptions {
  platform?: string;
  raw?: boolean;
  config?: boolean;
  tree?: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as InspectOptions;
  const reference = args[0] as string;
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
  else ctx.io.out(opts.tree ? renderTree(details) : renderInspection(details));
}
