import { KrillError } from '../../errors.js';
import { readJournal } from '../../plan/journal.js';
import { escapeControl } from '../../text.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { confirm } from '../deletion.js';

export async function execute(ctx: CliContext, [path]: ArgsOf<'undo'>, opts: OptionsOf<'undo'>): Promise<void> {
  const journal = await readJournal(path);
  for (const warning of journal.warnings) ctx.logger.warn(warning);
  const { entries } = journal;
  const lines = entries.map(
    (e) => `restore ${e.registry.host}/${e.repository}@${e.digest}${e.tags.length ? ` as ${e.tags.join(', ')}` : ''}`,
  );
  if (opts.dryRun || !ctx.options.json)
    ctx.io.out(lines.length > 0 ? `${lines.join('\n')}\n` : 'Nothing to restore.\n');
  if (opts.dryRun) {
    if (!ctx.options.json) ctx.io.out('Dry run: nothing was changed.\n');
    return;
  }
  if (entries.length === 0) return;
  const hosts = [...new Set(entries.map((e) => e.registry.host))].join(', ');
  if (
    !(await confirm(ctx, `Restore ${entries.length} manifest${entries.length === 1 ? '' : 's'} on ${hosts}?`, opts.yes))
  ) {
    ctx.io.err('krill: cancelled; nothing was changed\n');
    return;
  }
  const outcomes = await ctx.krill.undo(entries, { force: opts.force === true });
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  else {
    for (const o of outcomes) {
      ctx.io.out(
        `${o.status}: ${o.repository}@${o.digest}${o.tags.length ? ` (${o.tags.join(', ')})` : ''}${o.detail ? `: ${escapeControl(o.detail)}` : ''}\n`,
      );
    }
  }
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  if (failed > 0)
    throw new KrillError('REGISTRY', `${failed} of ${outcomes.length} entries could not be restored (listed above)`);
}
