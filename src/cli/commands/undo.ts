import { KrillError } from '../../errors.js';
import { escapeControl } from '../../text.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { confirm } from '../deletion.js';
import { displayTag, hangingWrap } from '../render.js';
import { shortDigest } from '../../manifest/manifest.js';
import type { UndoOutcome } from '../../krill.js';

interface UndoRow {
  repository: string;
  digest: string;
  tags: string[];
  verb?: string;
  detail?: string;
}

/**
 * One line per tag, tag first, sorted by repository and tag (`restored apps/web:v1.2 → sha256:…`);
 * an untagged manifest (a platform of an index, a referrer) is one line by digest.
 */
function undoLines(verb: string | undefined, rows: UndoRow[], width: number): string[] {
  // Past the width, what the tag points at goes on the next line (the reference is never cut).
  const fit = (head: string, tail: string) =>
    `${head}${tail}`.length <= width ? `${head}${tail}` : `${head}\n  ${hangingWrap(tail.trimStart(), width)}`;
  const lines = rows.flatMap((r) => {
    const what = r.verb ?? verb ?? '';
    const detail = r.detail ? `: ${escapeControl(r.detail)}` : '';
    if (r.tags.length === 0)
      return [
        { key: `${r.repository}@~${r.digest}`, text: fit(`${what} ${r.repository}@${shortDigest(r.digest)}…`, detail) },
      ];
    return r.tags.map((tag) => ({
      key: `${r.repository}:${tag}`,
      text: fit(`${what} ${r.repository}:${displayTag(tag)}`, ` → ${shortDigest(r.digest)}…${detail}`),
    }));
  });
  return lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((l) => l.text);
}

/** The count at the end: what came back, what was back already, what was left alone or failed. */
function undoSummary(outcomes: UndoOutcome[]): string {
  const count = (status: UndoOutcome['status'], tagged: boolean) =>
    outcomes
      .filter((o) => o.status === status && o.tags.length > 0 === tagged)
      .reduce((n, o) => n + (tagged ? o.tags.length : 1), 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const parts = [`Restored ${plural(count('restored', true), 'tag')}`];
  const manifests = count('restored', false);
  if (manifests > 0) parts[0] += ` and ${plural(manifests, 'untagged manifest')}`;
  const already = count('already', true) + count('already', false);
  if (already > 0) parts.push(`${already} already present`);
  const skipped = count('skipped', true);
  if (skipped > 0) parts.push(`${skipped} skipped`);
  const failed = count('failed', true) + count('failed', false);
  if (failed > 0) parts.push(`${failed} failed`);
  return `${parts.join('; ')}.`;
}

export async function execute(ctx: CliContext, [path]: ArgsOf<'undo'>, opts: OptionsOf<'undo'>): Promise<void> {
  const entries = await ctx.krill.readJournal(path);
  const width = ctx.io.columns ?? 80;
  const lines = undoLines(
    'restore',
    entries.map((e) => ({ repository: e.repository, digest: e.digest, tags: e.tags })),
    width,
  );
  // The preview goes with a question or a dry run; with --yes the result lines say it all.
  if (opts.dryRun || (!ctx.options.json && (!opts.yes || lines.length === 0)))
    ctx.io.out(lines.length > 0 ? `${lines.join('\n')}\n` : 'Nothing to restore.\n');
  if (opts.dryRun) {
    if (!ctx.options.json) ctx.io.out('Dry run: nothing was changed.\n');
    return;
  }
  if (entries.length === 0) return;
  const hosts = [...new Set(entries.map((e) => e.registry.host))].join(', ');
  if (
    !(await confirm(
      ctx,
      `Restore ${entries.length} manifest${entries.length === 1 ? '' : 's'} on ${hosts}?`,
      opts.yes,
      'restore',
    ))
  ) {
    ctx.io.err('krill: cancelled; nothing was changed\n');
    return;
  }
  const outcomes = await ctx.krill.undo(entries, { force: opts.force === true });
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  else {
    const rows = outcomes.map((o) => ({ ...o, verb: o.status === 'already' ? 'already present' : o.status }));
    ctx.io.out(`${undoLines(undefined, rows, width).join('\n')}\n${undoSummary(outcomes)}\n`);
  }
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  if (failed > 0)
    throw new KrillError('REGISTRY', `${failed} of ${outcomes.length} entries could not be restored (listed above)`);
}
