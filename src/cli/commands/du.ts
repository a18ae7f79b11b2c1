import { looksLikeHost } from '../../ref/reference.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { displayTag, formatBytes, formatTable, wrapToWidth } from '../render.js';
import { startProgress } from '../progress.js';

/** `krill du [REGISTRY | REPOSITORY…]`: sorted by exclusive bytes, the catalog total last. */
export async function execute(ctx: CliContext, [targets]: ArgsOf<'du'>, opts: OptionsOf<'du'>): Promise<void> {
  const asRegistry = targets.length === 1 && looksLikeRegistry(targets[0]!);
  const progress = startProgress(ctx, 'reading repositories');
  let usage;
  try {
    usage = await ctx.krill.du({
      ...(asRegistry ? { registry: targets[0]! } : targets.length > 0 ? { repositories: targets } : {}),
      ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
      onProgress: progress.update,
    });
  } finally {
    progress.done();
  }
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify(usage, null, 2)}\n`);
    return;
  }
  const wide = opts.output === 'wide';
  const rows = usage.repositories.map((r) => [
    r.repository,
    String(r.tags),
    ...(wide ? [String(r.manifests)] : []),
    formatBytes(r.exclusiveBytes),
    formatBytes(r.sharedBytes),
    formatBytes(r.totalBytes),
    ...(wide ? [r.biggest.map((b) => `${displayTag(b.tag)} ${formatBytes(b.bytes)}`).join(', ') || '-'] : []),
  ]);
  const headers = ['REPOSITORY', 'TAGS', ...(wide ? ['MANIFESTS'] : []), 'EXCLUSIVE', 'SHARED', 'TOTAL'];
  if (wide) headers.push('BIGGEST IMAGES');
  if (rows.length > 0) ctx.io.out(formatTable(headers, rows, { header: ctx.style.header }));
  const n = usage.repositories.length;
  const width = ctx.io.columns ?? 80;
  ctx.io.out(
    `${n} ${n === 1 ? 'repository' : 'repositories'}: ${formatBytes(usage.totalBytes)} in blobs, each counted once.\n`,
  );
  if (!usage.complete)
    ctx.io.out(
      `${wrapToWidth(opts.shard !== undefined ? "Only this shard's repositories were read: blobs they share with other shards count as exclusive here (krill du without --shard reads the whole catalog)." : 'Only these repositories were read: blobs they share with others count as exclusive here (krill du REGISTRY reads the whole catalog).', width)}\n`,
    );
}

/** One argument naming a host (`registry.example.com`, `localhost:5000`, a URL), not a repository. */
function looksLikeRegistry(arg: string): boolean {
  if (/^https?:\/\//.test(arg)) return true;
  return !arg.includes('/') && looksLikeHost(arg);
}
