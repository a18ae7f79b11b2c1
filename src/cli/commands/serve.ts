import { UsageError } from '../../errors.js';
import { parseListenAddress } from '../../ref/listen-address.js';
import { WebServer } from '../../web/server.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';

/** `krill serve`: until Ctrl-C or SIGTERM. Prints the URL with its token once, like Jupyter. */
export async function execute(
  ctx: CliContext,
  [registryArg]: ArgsOf<'serve'>,
  opts: OptionsOf<'serve'>,
): Promise<void> {
  const address = registryArg !== undefined ? ctx.krill.parseRegistry(registryArg) : ctx.krill.defaultRegistry();
  if (address === undefined || address.host === 'docker.io')
    throw new UsageError('name the registry: krill serve REGISTRY (Docker Hub has no catalog API)');
  const { host, port } = parseListenAddress(opts.addr ?? '127.0.0.1:8080', '127.0.0.1:8080');
  const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
  if (!loopback && !opts.allowRemote)
    throw new UsageError(
      `--addr ${host} is reachable from other machines: add --allow-remote (every page then needs the token)`,
    );
  const server = new WebServer({
    krill: ctx.krill,
    registry: address.host,
    readOnly: opts.readOnly === true,
    remote: !loopback,
    logger: ctx.logger,
    ...(opts.keepInUse ? { keepInUse: opts.keepInUse } : {}),
  });
  const bound = await server.listen(host, port).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot listen on ${host}:${port}: ${error.code ?? error.message}; pick another --addr`);
  });
  const shown = host.includes(':') ? `[${host}]` : host;
  ctx.io.err(
    `krill: serving ${address.host}${opts.readOnly ? ' read-only' : ''} on http://${shown}:${bound.port}/\n` +
      `krill: open http://${shown}:${bound.port}/?token=${server.token} to be able to apply plans\n`,
  );
  await ctx.untilInterrupted();
  await server.close();
}
