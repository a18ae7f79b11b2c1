/**
 * Does a repository's tag listing look wrong? Registries have answered with lists that silently
 * drop entries (paginated listings, replicas lagging behind); a dropped tag makes its digest look
 * unreferenced, and a delete by digest then takes the dropped tag with it. So krill compares each
 * listing with the one it recorded last time, minus what it removed itself, and stops for a
 * repository that lost too much. Pure.
 */

/** Losing more than this share of the tags since the last run (not by krill) looks wrong. */
export const LOST_SHARE = 0.3;
/** Below this many tags last time, only an empty listing looks wrong (small repositories churn). */
export const MIN_TAGS = 10;

/** Why the listing looks wrong, or undefined when it looks plausible. */
export function checkListing(
  previous: readonly string[],
  removedByKrill: readonly string[],
  current: ReadonlySet<string>,
): string | undefined {
  const removed = new Set(removedByKrill);
  const expected = previous.filter((t) => !removed.has(t));
  if (expected.length === 0) return undefined;
  const lost = expected.filter((t) => !current.has(t));
  if (current.size === 0)
    return `listing looks wrong: no tags, ${expected.length} last time (--accept-listing if that is right)`;
  if (expected.length >= MIN_TAGS && lost.length / expected.length > LOST_SHARE)
    return `listing looks wrong: ${lost.length} of ${expected.length} tags listed last time are gone, not deleted by krill (e.g. ${lost.slice(0, 3).join(', ')}; --accept-listing if that is right)`;
  return undefined;
}

/** What changed in a repository since the last recorded run (`cleanup --diff`). */
export interface ListingChanges {
  since: string;
  /** Tags listed now that were not listed last time. */
  added: string[];
  /** Tags listed last time that are gone, not removed by krill. */
  vanished: string[];
  /** Tags removed by krill since. */
  removedByKrill: string[];
  /** Tags the last plan deleted, and this one. */
  plannedBefore: number;
  plannedNow: number;
}

export function diffListing(
  last: { time: string; tags: Readonly<Record<string, string>>; removed: readonly string[]; planned: number },
  current: ReadonlySet<string>,
  plannedNow: number,
): ListingChanges {
  const before = new Set(Object.keys(last.tags));
  const removed = new Set(last.removed);
  return {
    since: last.time,
    added: [...current].filter((t) => !before.has(t)).sort(),
    vanished: [...before].filter((t) => !current.has(t) && !removed.has(t)).sort(),
    removedByKrill: [...removed].sort(),
    plannedBefore: last.planned,
    plannedNow,
  };
}
