import { RegistryError } from '../errors.js';
import type { CliContext } from './context.js';

/** How long a suggestion may take: it is a courtesy on an error path, never a second wait. */
const SUGGEST_TIMEOUT_MS = 5_000;

/**
 * `apps/wbe` → "did you mean apps/web?": the closest name of the registry's catalog to a repository
 * the registry does not know (NAME_UNKNOWN), when the catalog is readable at all. Any failure
 * (no catalog permission, a timeout) means no suggestion.
 */
export async function suggestRepository(ctx: CliContext, error: unknown): Promise<string | undefined> {
  if (!(error instanceof RegistryError) || !error.hasCode('NAME_UNKNOWN') || error.url === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(error.url);
  } catch {
    return undefined;
  }
  const target = /^\/v2\/(.+)\/(?:manifests|tags)\/[^/]+$/.exec(url.pathname);
  if (!target) return undefined;
  const name = decodeURIComponent(target[1]!);
  const registry = `${url.protocol === 'http:' ? 'http://' : ''}${url.host}`;
  const names = await ctx.krill
    .repositories(registry, { signal: AbortSignal.timeout(SUGGEST_TIMEOUT_MS) })
    .catch(() => [] as string[]);
  const best = closestName(name, names);
  return best === undefined ? undefined : `did you mean ${best}?`;
}

/** The name within a small edit distance (a third of its length, at most 3), if exactly one is closest. */
export function closestName(name: string, names: readonly string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(name.length / 3)));
  let best: string | undefined;
  let bestDistance = limit + 1;
  let tie = false;
  for (const candidate of names) {
    if (candidate === name || Math.abs(candidate.length - name.length) > limit) continue;
    const d = editDistance(name, candidate, limit);
    if (d < bestDistance) [best, bestDistance, tie] = [candidate, d, false];
    else if (d === bestDistance) tie = true;
  }
  return tie ? undefined : best;
}

/** Damerau-Levenshtein (adjacent swaps count one: `wbe` → `web`), stopping early past `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row.push(d);
    }
    if (Math.min(...row) > limit) return limit + 1;
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
