import { UsageError } from '../../errors.js';
import { DOCKER_HUB, parseRegistryAddress } from '../../ref/reference.js';
import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext, args: unknown[]): Promise<void> {
  const [registryArg] = args as [string | undefined];
  const address = registryArg !== undefined ? parseRegistryAddress(registryArg, { plainHttp: ctx.options.plainHttp ?? false }) : ctx.defaultRegistry();
  if (address === undefined || address.host === DOCKER_HUB) {
    throw new UsageError('Docker Hub does not offer the catalog API: name a registry, e.g. krill repos registry.example.com');
  }
  const client = await ctx.client(address);
  const repositories = (await client.listRepositories()).sort();
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(repositories, null, 2)}\n`);
  else if (repositories.length > 0) ctx.io.out(`${repositories.join('\n')}\n`);
}
