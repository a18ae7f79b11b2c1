import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { formatDate, formatTable, indent, shortDigest } from '../render.js';

export async function execute(
  ctx: CliContext,
  [specs]: ArgsOf<'compare'>,
  options: OptionsOf<'compare'>,
): Promise<void> {
  // Without --with, krill reads the local engine (DOCKER_HOST) after checking every SPEC.
  const results = await ctx.krill.compare(specs, options.with !== undefined ? { with: options.with } : {});
  if (ctx.options.json) {
    // One shape whatever the number of specs: [{repository, tags: [{tag, state, digest, localId, created}]}].
    ctx.io.out(
      `${JSON.stringify(
        results.map((r) => ({ repository: r.repository, tags: r.rows })),
        null,
        2,
      )}\n`,
    );
    return;
  }
  for (const { repository, rows } of results) {
    ctx.io.out(`${repository}\n`);
    const cells = rows.map((r) => [
      r.tag,
      r.state,
      r.digest ? shortDigest(r.digest) : '-',
      r.localId ? shortDigest(r.localId) : '-',
      formatDate(r.created),
    ]);
    ctx.io.out(
      indent(formatTable(['TAG', 'STATE', 'DIGEST', 'LOCAL ID', 'CREATED'], cells, { header: ctx.style.header })),
    );
  }
}
