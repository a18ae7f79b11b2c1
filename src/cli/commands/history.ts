import { shortDigest } from '../../manifest/manifest.js';
import type { CliContext } from '../context.js';
import type { ArgsOf } from '../program.js';
import { displayTag, formatDate, formatTable } from '../render.js';

const SOURCE: Record<string, string> = { push: 'pushed', delete: 'deleted', krill: 'seen by krill' };

/** `krill history REPO[:TAG]`: the moves, oldest first. */
export async function execute(ctx: CliContext, [reference]: ArgsOf<'history'>): Promise<void> {
  const moves = await ctx.krill.history(reference);
  if (ctx.options.json) {
    ctx.io.out(
      `${JSON.stringify(
        moves.map(({ time: _time, ...m }) => m),
        null,
        2,
      )}\n`,
    );
    return;
  }
  if (moves.length === 0) {
    ctx.io.out("No moves known: the ledger (krill listen) and krill's listings saw none.\n");
    return;
  }
  const digest = (d: string) => (d === '' ? '-' : shortDigest(d));
  const rows = moves.map((m) => [
    formatDate(m.at),
    displayTag(m.tag),
    digest(m.from),
    digest(m.to),
    SOURCE[m.source] ?? m.source,
  ]);
  ctx.io.out(formatTable(['WHEN', 'TAG', 'FROM', 'TO', 'HOW'], rows, { header: ctx.style.header }));
}
