import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';

/**
 * `krill listen`: runs until SIGTERM or Ctrl-C, then stops accepting, stores the events in flight
 * and exits 0 (a service manager's stop is not a failure).
 */
export async function execute(ctx: CliContext, _args: ArgsOf<'listen'>, opts: OptionsOf<'listen'>): Promise<void> {
  const { listener, address, ledger } = await ctx.krill.listen({
    ...(opts.addr !== undefined ? { addr: opts.addr } : {}),
    ...(opts.secretFile !== undefined ? { secretFile: opts.secretFile } : {}),
    ...(opts.registryName !== undefined ? { registry: opts.registryName } : {}),
    countHead: opts.countHead === true,
    ...(opts.ignoreAgent ? { ignoreAgents: opts.ignoreAgent } : {}),
  });
  ctx.io.err(`krill: listening on http://${address}/events, ledger ${ledger}\n`);
  await ctx.untilInterrupted();
  await listener.close();
  const c = listener.counts;
  ctx.io.err(
    `krill: stopped: ${c.requests} requests, ${c.stored} events stored, ${c.duplicates} repeated, ${c.rejected} dropped, ${c.refused} refused\n`,
  );
}
