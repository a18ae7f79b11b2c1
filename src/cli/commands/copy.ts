import { UsageError } from '../../errors.js';
import { mapConcurrent } from '../../http/limiter.js';
import { validatePlatform } from '../../manifest/manifest.js';
import { formatReference } from '../../ref/reference.js';
import type { CopyProgress, CopyResult } from '../../sync/copy.js';
import { copyImage } from '../../sync/copy.js';
import type { CliContext } from '../context.js';
import { startStatusLine } from '../progress.js';
import { formatBytes } from '../render.js';

interface CopyFlags {
  allTags?: boolean;
  platform?: string;
  srcUsername?: string;
  srcPassword?: string;
  destUsername?: string;
  destPassword?: string;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as CopyFlags;
  const [srcInput, dstInput] = args as [string, string];
  const src = opts.allTags ? ctx.parseRepository(srcInput) : ctx.parseReference(srcInput);
  const dst = ctx.parseReference(dstInput);
  if (opts.allTags && (dst.tag !== undefined || dst.digest !== undefined)) throw new UsageError('with --all-tags, DST is a repository: drop its :TAG');
  if (dst.digest !== undefined) throw new UsageError(`"${dstInput}": a destination names a tag, not a digest (the digest is kept as it is)`);
  if (opts.platform !== undefined) validatePlatform(opts.platform);
  if ((opts.srcPassword !== undefined || opts.destPassword !== undefined) && !ctx.options.json) {
    ctx.logger.warn('--src-password/--dest-password on the command line are visible in shell history and process lists');
  }
  ctx.setDestination(dst.registry);
  const source = await ctx.client(src.registry, { role: 'source', login: { username: opts.srcUsername, password: opts.srcPassword } });
  const destination = await ctx.client(dst.registry, { role: 'destination', login: { username: opts.destUsername, password: opts.destPassword } });

  const jobs: Array<{ reference: string; tags: string[] }> = [];
  if (opts.allTags) {
    for (const tag of (await source.listTags(src.repository)).sort()) jobs.push({ reference: tag, tags: [tag] });
  } else {
    const reference = src.digest ?? src.tag ?? 'latest';
    const tag = dst.tag ?? (src.digest === undefined ? (src.tag ?? 'latest') : undefined);
    jobs.push({ reference, tags: tag === undefined ? [] : [tag] });
  }

  const status = startStatusLine(ctx);
  const onProgress = (p: CopyProgress) => status.show(`copying ${p.blobsDone}/${p.blobsTotal} blobs, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`);
  const results: Array<CopyResult & { source: string; destination: string }> = [];
  await mapConcurrent(jobs, opts.allTags ? 2 : 1, async (job) => {
    const result = await copyImage(
      { client: source, repository: src.repository },
      job.reference,
      { client: destination, repository: dst.repository },
      job.tags,
      { ...(opts.platform !== undefined ? { platform: opts.platform } : {}), concurrency: Math.max(1, Math.ceil(ctx.options.concurrency / 2)), onProgress },
    );
    const from = formatReference({ ...src, ...(job.reference.includes(':') ? { digest: job.reference } : { tag: job.reference }) });
    const to = formatReference({ registry: dst.registry, repository: dst.repository, ...(job.tags[0] ? { tag: job.tags[0] } : { digest: result.digest }) });
    results.push({ ...result, source: from, destination: to });
  });
  status.done();
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  for (const r of results) {
    ctx.io.out(`${r.source} → ${r.destination} ${r.digest}: ${r.blobsCopied} blobs copied (${formatBytes(r.bytesCopied)}), ${r.blobsMounted} mounted, ${r.blobsSkipped} already there\n`);
  }
}
