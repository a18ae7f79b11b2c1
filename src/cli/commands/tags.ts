import { summarizeTags } from '../../registry/image-reader.js';
import type { CliContext } from '../context.js';
import { compilePattern } from '../../policy/rules.js';
import { startProgress } from '../progress.js';
import { formatBytes, formatDate, formatTable, shortDigest } from '../render.js';

interface TagsOptions {
  limit?: number;
  details: boolean;
  filter?: string;
  exclude?: string;
  trunc: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as unknown as TagsOptions;
  const ref = ctx.parseRepository(args[0] as string);
  const filter = opts.filter !== undefined ? compilePattern(opts.filter, '--filter') : undefined;
  const exclude = opts.exclude !== undefined ? compilePattern(opts.exclude, '--exclude') : undefined;
  const client = await ctx.client(ref.registry);
  const tags = (await client.listTags(ref.repository)).filter((tag) => (!filter || filter.test(tag)) && !(exclude && exclude.test(tag)));

  if (!opts.details) {
    const names = tags.sort().slice(0, opts.limit);
    if (ctx.options.json) ctx.io.out(`${JSON.stringify(names, null, 2)}\n`);
    else if (names.length > 0) ctx.io.out(`${names.join('\n')}\n`);
    return;
  }

  const progress = startProgress(ctx, 'reading tags');
  let rows;
  try {
    rows = await summarizeTags(client, ref.repository, tags, { concurrency: ctx.options.concurrency, onProgress: progress.update });
  } finally {
    progress.done();
  }
  rows = rows.slice(0, opts.limit);
  if (ctx.options.json) {
    const json = rows.map((r) => ({
      tag: r.tag,
      digest: r.dangling ? null : r.digest,
      mediaType: r.mediaType,
      created: r.created,
      size: r.size,
      platforms: r.platforms,
      ...(r.dangling ? { dangling: true } : {}),
      ...(r.missing ? { missing: r.missing } : {}),
    }));
    ctx.io.out(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    ctx.io.err(`krill: ${ref.registry.host}/${ref.repository} has no tags${filter || exclude ? ' matching the filters' : ''}\n`);
    return;
  }
  const table = rows.map((r) => {
    if (r.dangling) return [r.tag, '-', '-', '-', 'dangling: listed, manifest gone (krill rm removes it)'];
    const platforms = (r.platforms.join(',') || '-') + (r.missing ? ` (damaged: ${r.missing.length} missing)` : '');
    return [r.tag, opts.trunc ? shortDigest(r.digest) : r.digest, formatDate(r.created), formatBytes(r.size), platforms];
  });
  ctx.io.out(formatTable(['TAG', 'DIGEST', 'CREATED', 'SIZE', 'PLATFORMS'], table, { header: ctx.style.header }));
}
