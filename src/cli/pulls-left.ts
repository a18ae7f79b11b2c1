import { formatWindow } from '../text.js';
import type { CliContext } from './context.js';

/** `krill: docker.io: 87 of 100 pulls left in the 6h window` (stderr), after reads that pulled. */
export function reportPullsLeft(ctx: CliContext): void {
  if (ctx.options.quiet) return;
  for (const a of ctx.krill.pullsLeft())
    ctx.io.err(
      `krill: ${a.host}: ${a.remaining} of ${a.limit} pulls left in the ${formatWindow(a.windowSeconds)} window\n`,
    );
}
