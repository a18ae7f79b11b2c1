import type { TagRow } from '../../krill.js';
import { artifactLabel, summarizeLabels } from '../../manifest/referrers.js';
import type { CliContext } from '../context.js';
import { startProgress } from '../progress.js';
import { displayTag, formatBytes, formatDate, formatTable, shortDigest } from '../render.js';

interface TagsOptions {
  limit?: number;
  details: boolean;
  filter?: string;
  exclude?: string;
  trunc: boolean;
  output?: 'table' | 'wide' | 'name';
  headers: boolean;
  all?: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as unknown as TagsOptions;
  const repository = args[0] as string;
  const progress = opts.details ? startProgress(ctx, 'reading tags') : undefined;
  let rows;
  try {
    rows = await ctx.krill.tags(repository, {
      ...(opts.filter !== undefined ? { filter: opts.filter } : {}),
      ...(opts.exclude !== undefined ? { exclude: opts.exclude } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      namesOnly: !opts.details,
      ...(progress ? { onProgress: progress.update } : {}),
    });
  } finally {
    progress?.done();
  }
  if (!opts.details) {
    const names = rows.map((r) => r.tag);
    if (ctx.options.json) ctx.io.out(`${JSON.stringify(names, null, 2)}\n`);
    else if (names.length > 0) ctx.io.out(`${names.join('\n')}\n`);
    return;
  }
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const ref = ctx.krill.parseRepository(repository);
  if (rows.length === 0) {
    ctx.io.err(
      `krill: ${ref.registry.host}/${ref.repository} has no tags${opts.filter || opts.exclude ? ' matching the filters' : ''}\n`,
    );
    return;
  }
  if (opts.output === 'name') {
    ctx.io.out(rows.map((r) => `${ref.registry.host}/${ref.repository}:${r.tag}\n`).join(''));
    return;
  }
  const wide = opts.output === 'wide';
  // Attachment tags (signatures, SBOMs) are summarised on their image's row unless --all.
  const listed = opts.all ? rows : rows.filter((r) => !r.attachment);
  const hidden = rows.length - listed.length;
  const withReferrers = listed.some((r) => r.referrers);
  const table = listed.map((r) => {
    const referrers = withReferrers
      ? [r.referrers ? `${r.referrers.count} (${r.referrers.types.join(', ')})` : '-']
      : [];
    if (r.dangling)
      return [r.tag, '-', '-', '-', 'dangling: listed, manifest gone (krill rm removes it)', ...referrers];
    return [
      opts.trunc && !wide ? displayTag(r.tag) : r.tag,
      opts.trunc && !wide ? shortDigest(r.digest!) : r.digest!,
      formatDate(r.created),
      formatBytes(r.size),
      platformsCell(r, wide),
      ...referrers,
    ];
  });
  const headers = ['TAG', 'DIGEST', 'CREATED', 'SIZE', 'PLATFORMS', ...(withReferrers ? ['REFERRERS'] : [])];
  const text = formatTable(headers, table, { header: ctx.style.header });
  ctx.io.out(opts.headers ? text : text.slice(text.indexOf('\n') + 1));
  if (hidden > 0)
    ctx.io.err(`${hidden} attachment tag${hidden === 1 ? '' : 's'} (signatures, SBOMs) not shown: --all lists them\n`);
}

/** Platforms; for an artifact its type; for an attachment tag what it holds. */
function platformsCell(r: TagRow, wide: boolean): string {
  if (r.attachment === 'fallback') return `referrers: ${summarizeLabels(r.artifactTypes ?? []).join(', ')}`;
  if (r.artifactType !== undefined) return wide ? r.artifactType : artifactLabel(r.artifactType);
  // 80 columns by default: the first platform and how many more; -o wide lists them all.
  const shown =
    wide || r.platforms.length <= 1 ? r.platforms.join(',') : `${r.platforms[0]} +${r.platforms.length - 1}`;
  return (shown || '-') + (r.missing ? ` (damaged: ${r.missing.length} missing)` : '');
}
