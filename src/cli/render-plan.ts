import type { ListingChanges, Plan } from '../krill.js';
import { shortDigest } from '../manifest/manifest.js';
import type { PlannedTag } from '../plan/plan.js';
import { escapeControl, listNames } from '../text.js';
import { displayTag, formatBytes, formatDate, formatTable, indent, shortDate, wrapToWidth } from './render.js';

/**
 * The plan as people read it: a table per repository, then the counts and the space. It fits the
 * terminal (80 columns when unknown): dates without the time, 12-digit digests, reasons without the
 * rule's pattern, cut with "…" when still too long; `-o wide` and `--json` have everything. Kept
 * tags past ten per repository are summarised on lines of their own.
 */

export interface PlanView {
  showKept?: boolean;
  allKept?: boolean;
  /** Full digests, dates and reasons, whatever the width. */
  wide?: boolean;
  /** The terminal's width (default 80). */
  width?: number;
}

export function planCounts(plan: Plan) {
  let deleteTags = 0;
  let untagTags = 0;
  let manifests = 0;
  let platformManifests = 0;
  let referrers = 0;
  let keepTags = 0;
  for (const repo of plan.repositories) {
    keepTags += repo.keep.length;
    for (const action of repo.actions) {
      if (action.kind === 'untag' || action.kind === 'remove-dangling' || action.kind === 'unlist-referrer')
        untagTags++;
      else if (action.subject && action.tags.length === 0) referrers++;
      else if (action.parent) platformManifests++;
      else {
        manifests++;
        deleteTags += action.tags.length;
      }
    }
  }
  return {
    deleteTags,
    untagTags,
    manifests,
    platformManifests,
    referrers,
    keepTags,
    actions: deleteTags + untagTags + manifests + platformManifests + referrers,
  };
}

/** "newest 10: 10, protected: latest: 1" — why the kept tags are kept, counted. */
function keptSummary(kept: PlannedTag[]): string {
  const counts = new Map<string, number>();
  // "signature of kept sha256:…" is one reason whatever the subject.
  for (const t of kept) {
    const reason = t.reason.replace(/sha256:[0-9a-f]{12}\b/g, 'sha256:…');
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
  }
  return `${[...counts].map(([reason, n]) => `${reason}: ${n}`).join('; ')} (--show-kept lists them)`;
}

/** Kept tags listed one by one up to this many per repository; more are summarised (--show-kept lists them). */
const KEPT_ROWS = 10;

type RepositoryPlan = Plan['repositories'][number];

export function renderPlan(plan: Plan, view: PlanView = {}): string {
  const width = view.width ?? 80;
  let out = '';
  for (const repo of plan.repositories) {
    const rows = planRows(repo, view);
    const summarised = view.showKept !== false && !view.allKept && repo.keep.length > KEPT_ROWS;
    if (rows.length === 0 && !summarised) continue;
    out += `${plan.registry.host}/${repo.repository}\n`;
    if (rows.length > 0) {
      const table = indent(formatTable(['ACTION', 'TAG', 'DIGEST', 'CREATED', 'SIZE', 'REASON'], rows));
      out += view.wide ? table : fitLines(table, width);
    }
    if (summarised) out += `${wrapToWidth(`  kept: ${repo.keep.length} tags, ${keptSummary(repo.keep)}`, width)}\n`;
  }
  const c = planCounts(plan);
  const extra = [
    c.platformManifests ? `${c.platformManifests} platform manifest${c.platformManifests === 1 ? '' : 's'}` : '',
    c.referrers ? `${c.referrers} referrer${c.referrers === 1 ? '' : 's'}` : '',
  ].filter(Boolean);
  const summary = `Plan${plan.shard ? ` (shard ${plan.shard} of the catalog)` : ''}: delete ${c.deleteTags} tag${c.deleteTags === 1 ? '' : 's'} (${c.manifests} manifest${c.manifests === 1 ? '' : 's'}${extra.length ? ` and ${extra.join(' and ')}` : ''}), untag ${c.untagTags}, keep ${c.keepTags}.`;
  // "At most" unless krill knows every old manifest that keeps blobs (plan.reclaimableExact).
  const bound = plan.reclaimableExact ? '' : 'at most ';
  const space = `Space the garbage collector will free: ${bound}${formatBytes(plan.reclaimableBytes)}${plan.assumption ? ` (${plan.assumption})` : ''}.`;
  return `${out}${wrapToWidth(summary, width)}\n${wrapToWidth(space, width)}\n`;
}

/**
 * Fits a plan table to the width: a reason too long for its column continues on the next lines,
 * under the REASON column; when long tags leave that column too narrow to read, the reason goes on
 * lines of its own under the row.
 */
function fitLines(text: string, width: number): string {
  const lines = text.split('\n');
  const column = lines[0]!.indexOf('REASON');
  const narrow = width - column < 24;
  const under = 10; // the TAG column's start: reasons on lines of their own begin there
  return lines
    .flatMap((line, i) => {
      if (line === '' || (line.length <= width && !(narrow && i > 0))) return [line];
      if (narrow) {
        if (i === 0) return [line.slice(0, column).trimEnd()];
        const reason = wrapToWidth(line.slice(column), width - under).split('\n');
        return [line.slice(0, column).trimEnd(), ...reason.map((part) => ' '.repeat(under) + part)];
      }
      const parts = wrapToWidth(line.slice(column), width - column).split('\n');
      return [line.slice(0, column) + parts[0]!, ...parts.slice(1).map((part) => ' '.repeat(column) + part)];
    })
    .join('\n');
}

/** The reason as the narrow table shows it: the rule named by its number only. */
function narrowReason(reason: string): string {
  return reason.replace(/^(rule \d+) \(.*?\): /, '$1: ').replace(/sha256:([0-9a-f]{12})[0-9a-f]*/g, '$1');
}

/** A repository's rows: kept tags (up to ten), deleted tags, then tagless actions. */
function planRows(repo: RepositoryPlan, view: PlanView): string[][] {
  const wide = view.wide === true;
  const when = (t: PlannedTag) => (t.created === undefined ? '-' : wide ? formatDate(t.created) : shortDate(t.created));
  const size = (t: PlannedTag) => (t.size === undefined ? '-' : formatBytes(t.size));
  // 12 hex digits, as `docker images` shows an ID: the column has no room for the algorithm.
  const hex = (short: string) => short.replace(/^sha256:/, '');
  const digest = (d: string) => (wide ? d : d ? hex(shortDigest(d)) : '-');
  const reason = (text: string) => (wide ? text : narrowReason(text));
  const tag = (t: string) => (wide ? t : displayTag(t));
  const rows: string[][] = [];
  if (view.showKept !== false && (view.allKept || repo.keep.length <= KEPT_ROWS))
    for (const t of repo.keep) rows.push(['keep', tag(t.tag), digest(t.digest), when(t), size(t), reason(t.reason)]);
  for (const t of repo.delete) {
    const action = t.reason.includes('untag only') ? 'untag' : 'delete';
    rows.push([action, tag(t.tag), digest(t.digest), when(t), size(t), reason(t.reason)]);
  }
  for (const a of repo.actions) {
    const row = actionRow(a);
    if (row) rows.push(wide ? row : [row[0]!, tag(row[1]!), hex(row[2]!), row[3]!, row[4]!, reason(row[5]!)]);
  }
  for (const t of repo.dangling ?? [])
    rows.push(['skip', t, '-', '-', '-', 'dangling: listed, but its manifest is gone (krill rm removes it)']);
  return rows;
}

/** The row of an action no tag row shows (an untagged manifest, an unlisting, a dangling tag). */
function actionRow(a: RepositoryPlan['actions'][number]): string[] | undefined {
  if (a.kind === 'delete-manifest' && a.tags.length === 0) {
    const why = a.subject
      ? `referrer of deleted ${shortDigest(a.subject)}`
      : a.parent
        ? `platform manifest of deleted ${shortDigest(a.parent)}`
        : 'untagged manifest';
    return ['delete', '-', shortDigest(a.digest), '-', '-', why];
  }
  if (a.kind === 'unlist-referrer') {
    const why = `take ${shortDigest(a.referrer)} out of its subject's referrers index`;
    return ['unlist', displayTag(a.tag), shortDigest(a.index), '-', '-', why];
  }
  if (a.kind === 'remove-dangling')
    return ['untag', a.tag, '-', '-', '-', 'dangling: listed, but its manifest is gone'];
  return undefined;
}

/** `--diff`: per repository, what changed since the last recorded run. */
export function renderChanges(changes: Record<string, ListingChanges>): string {
  let out = '';
  for (const [repository, c] of Object.entries(changes)) {
    out += `${repository}: since ${c.since}: ${c.added.length} new tag${c.added.length === 1 ? '' : 's'}`;
    out += `, ${c.vanished.length} gone without krill${c.vanished.length ? ` (${escapeControl(listNames(c.vanished, 5))})` : ''}`;
    out += `, ${c.removedByKrill.length} removed by krill; the plan deletes ${c.plannedNow} (last time ${c.plannedBefore})\n`;
  }
  return out || 'No earlier run recorded for these repositories: nothing to compare with.\n';
}
