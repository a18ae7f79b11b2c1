import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { startProgress } from '../progress.js';
import { cutLines, writeJsonArray } from '../render.js';
import { renderTagTable } from '../render-tags.js';

export async function execute(ctx: CliContext, [repository]: ArgsOf<'tags'>, opts: OptionsOf<'tags'>): Promise<void> {
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
    writeJsonArray(ctx.io.out, rows);
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
  const { table, hidden } = renderTagTable(rows, {
    wide: opts.output === 'wide',
    trunc: opts.trunc,
    all: opts.all === true,
    header: ctx.style.header,
  });
  const shown = opts.headers ? table : table.slice(table.indexOf('\n') + 1);
  // The default table fits the terminal; -o wide and --no-trunc show everything.
  ctx.io.out(opts.output === 'wide' || !opts.trunc ? shown : cutLines(shown, ctx.io.columns ?? 80));
  if (hidden > 0)
    ctx.io.err(`${hidden} attachment tag${hidden === 1 ? '' : 's'} (signatures, SBOMs) not shown: --all lists them\n`);
}
