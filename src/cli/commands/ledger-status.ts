import { parseDuration } from '../../duration.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { formatTable } from '../render.js';

/** `krill ledger status`: coverage per registry, and instances that went quiet. */
export async function execute(
  ctx: CliContext,
  _args: ArgsOf<'ledgerStatus'>,
  opts: OptionsOf<'ledgerStatus'>,
): Promise<void> {
  const staleMs = parseDuration(opts.staleAfter ?? '1d', '--stale-after');
  const status = await ctx.krill.ledgerStatus();
  const now = Date.now();
  const stale = status.registries.flatMap((r) =>
    r.instances.filter((i) => now - i.lastEvent > staleMs).map((i) => ({ registry: r.registry, ...i })),
  );
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify({ ...status, stale }, null, 2)}\n`);
    return;
  }
  ctx.io.out(`ledger: ${status.ledger}\n`);
  if (status.registries.length === 0) {
    ctx.io.out("no events yet: point a registry's notifications at krill listen (see krill listen --help)\n");
    return;
  }
  const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const rows = status.registries.flatMap((r) =>
    r.instances.map((i) => [r.registry, i.instance || '-', iso(r.since), iso(i.lastEvent), String(i.events)]),
  );
  ctx.io.out(
    formatTable(['REGISTRY', 'INSTANCE', 'SINCE', 'LAST EVENT', 'EVENTS'], rows, { header: ctx.style.header }),
  );
  for (const s of stale)
    ctx.logger.warn(
      `no event from ${s.registry} (instance ${s.instance || '-'}) since ${iso(s.lastEvent)}: is its notifications endpoint still krill listen?`,
    );
}
