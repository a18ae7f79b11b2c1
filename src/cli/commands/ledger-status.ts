import { parseDuration } from '../../duration.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { formatDate, formatTable } from '../render.js';

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
    ctx.io.out('no events yet: krill listen --help shows how to connect a registry\n');
    return;
  }
  const iso = (t: number) => formatDate(new Date(t).toISOString());
  // 80 columns: minutes, and the instance's first 8 characters (a UUID on distribution; --json has it all).
  const minute = (t: number) => `${iso(t).slice(0, 10)} ${iso(t).slice(11, 16)}`;
  const rows = status.registries.flatMap((r) =>
    r.instances.map((i) => [
      r.registry,
      i.instance.slice(0, 8) || '-',
      minute(r.since),
      minute(i.lastEvent),
      String(i.events),
    ]),
  );
  ctx.io.out(
    formatTable(['REGISTRY', 'INSTANCE', 'SINCE (UTC)', 'LAST EVENT', 'EVENTS'], rows, { header: ctx.style.header }),
  );
  for (const s of stale)
    ctx.logger.warn(
      `no event from ${s.registry} (instance ${s.instance || '-'}) since ${iso(s.lastEvent)}: is its notifications endpoint still krill listen?`,
    );
}
