import type { TagRow } from '../krill.js';
import { artifactLabel, summarizeLabels } from '../manifest/referrers.js';
import { displayTag, formatBytes, formatDate, formatTable, shortDate, shortDigest } from './render.js';

/**
 * The `krill tags` table: 80 columns by default (short digests, the first platform and a count),
 * every platform and full digests with `wide`. Attachment tags (signatures, SBOMs) are summarised in
 * a REFERRERS column on their image's row unless `all`; `hidden` says how many were left out.
 */
export function renderTagTable(
  rows: TagRow[],
  options: { wide: boolean; trunc: boolean; all: boolean; header?: (text: string) => string },
): { table: string; hidden: number } {
  const { wide } = options;
  const listed = options.all ? rows : rows.filter((r) => !r.attachment);
  const withReferrers = listed.some((r) => r.referrers);
  // A ledger is configured: PUSHED and LAST PULLED; in 80 columns they take the place of CREATED
  // and PLATFORMS (-o wide shows every column).
  const ledger = listed.some((r) => r.lastPulled !== undefined);
  const cells = listed.map((r) => {
    const referrers = withReferrers
      ? [r.referrers ? `${r.referrers.count} (${r.referrers.types.join(', ')})` : '-']
      : [];
    if (r.dangling)
      return [r.tag, '-', '-', '-', 'dangling: listed, manifest gone (krill rm removes it)', ...referrers];
    if (r.invalid !== undefined)
      return [
        r.tag,
        r.digest ? shortDigest(r.digest) : '-',
        '-',
        '-',
        'invalid manifest (--json says why)',
        ...referrers,
      ];
    const short = options.trunc && !wide;
    const date = short ? shortDate : formatDate;
    const usage = ledger ? [date(r.pushed ?? null), date(r.lastPulled ?? null)] : [];
    if (ledger && wide) usage.push(String(r.pulls ?? 0));
    return [
      short ? displayTag(r.tag) : r.tag,
      short ? shortDigest(r.digest!) : r.digest!,
      ...(ledger && !wide ? [] : [date(r.created)]),
      ...usage,
      formatBytes(r.size),
      ...(ledger && !wide ? [] : [platformsCell(r, wide)]),
      ...referrers,
    ];
  });
  const headers = [
    'TAG',
    'DIGEST',
    ...(ledger && !wide ? [] : ['CREATED']),
    ...(ledger ? ['PUSHED', 'LAST PULLED', ...(wide ? ['PULLS'] : [])] : []),
    'SIZE',
    ...(ledger && !wide ? [] : ['PLATFORMS']),
    ...(withReferrers ? ['REFERRERS'] : []),
  ];
  const table = formatTable(headers, cells, options.header ? { header: options.header } : {});
  return { table, hidden: rows.length - listed.length };
}

/** Platforms; for an artifact its type; for an attachment tag what it holds. */
function platformsCell(r: TagRow, wide: boolean): string {
  if (r.attachment === 'fallback') return `referrers: ${summarizeLabels(r.artifactTypes ?? []).join(', ')}`;
  if (r.artifactType !== undefined) return wide ? r.artifactType : artifactLabel(r.artifactType);
  const shown =
    wide || r.platforms.length <= 1 ? r.platforms.join(',') : `${r.platforms[0]} +${r.platforms.length - 1}`;
  // A damaged index says so first: in 80 columns the platforms give way (-o wide shows both).
  if (r.missing && !wide) return `damaged: ${r.missing.length} missing`;
  return (shown || '-') + (r.missing ? ` (damaged: ${r.missing.length} missing)` : '');
}
