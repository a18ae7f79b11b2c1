import { DEFAULT_DOCKER_HOST, Engine } from '../../engine/engine.js';
import { parseSyncTarget } from '../../sync/spec.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { formatDate, formatTable, indent, shortDigest } from '../render.js';

export async function execute(
  ctx: CliContext,
  [specs]: ArgsOf<'compare'>,
  options: OptionsOf<'compare'>,
): Promise<void> {
  const withRegistry = options.with;
  // Bad input fails before the engine is contacted.
  for (const spec of specs) ctx.krill.parseSpec(spec);
  if (withRegistry !== undefined) parseSyncTarget(withRegistry, { plainHttp: ctx.options.plainHttp ?? false });
  const engine = withRegistry === undefined ? new Engine(ctx.io.env.DOCKER_HOST || DEFAULT_DOCKER_HOST) : undefined;
  try {
    const local = engine ? (await engine.ping(), await engine.listImages()) : [];
    const results = await ctx.krill.compare(specs, {
      ...(withRegistry !== undefined ? { with: withRegistry } : { local }),
    });
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
  } finally {
    await engine?.close();
  }
}
