import { DEFAULT_DOCKER_HOST, Engine } from '../../engine/engine.js';
import { formatReference } from '../../ref/reference.js';
import { selectTags } from '../../sync/sync.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';

export async function execute(ctx: CliContext, [specArgs]: ArgsOf<'pull'>, options: OptionsOf<'pull'>): Promise<void> {
  const specs = specArgs.map((s) => ctx.krill.parseSpec(s));
  const engine = new Engine(ctx.io.env.DOCKER_HOST || DEFAULT_DOCKER_HOST);
  try {
    if (!options.dryRun) await engine.ping();
    const pulled: string[] = [];
    for (const spec of specs) {
      const client = await ctx.krill.client(spec.source.registry);
      const { tags } = await selectTags(client, spec);
      const credentials = options.dryRun ? undefined : await ctx.krill.credentials(spec.source.registry);
      for (const tag of tags) {
        const name = formatReference({ ...spec.source, tag });
        if (!options.dryRun) await engine.pull(spec.source, tag, credentials);
        pulled.push(name);
        if (!ctx.options.json) ctx.io.out(`${options.dryRun ? 'would pull' : 'pulled'} ${name}\n`);
      }
    }
    if (ctx.options.json) ctx.io.out(`${JSON.stringify(pulled, null, 2)}\n`);
  } finally {
    await engine.close();
  }
}
