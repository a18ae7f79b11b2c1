import { KrillError } from '../../errors.js';
import { readJournal } from '../../plan/journal.js';
import { undoJournal } from '../../plan/undo.js';
import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const entries = await readJournal(args[0] as string);
  if (options.dryRun) {
    for (const e of entries) ctx.io.out(`restore ${e.registry.host}/${e.repository}@${e.digest}${e.tags.length ? ` as ${e.tags.join(', ')}` : ''}\n`);
    return;
  }
  const outcomes = await undoJournal((entry) => ctx.client(entry.registry), entries);
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  else {
    for (const o of outcomes) ctx.io.out(`${o.status}: ${o.repository}@${o.digest}${o.tags.length ? ` (${o.tags.join(', ')})` : ''}${o.detail ? `: ${o.detail}` : ''}\n`);
  }
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  if (failed > 0) throw new KrillError('REGISTRY', `${failed} of ${outcomes.length} entries could not be restored (listed above)`);
}
