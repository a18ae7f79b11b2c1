import { UsageError } from './errors.js';

/**
 * The one duration grammar of krill (--timeout, --older-than, --interval, policy files): units
 * ms, s, m, h, d, w, compound (`1w3d`, `1m30s`). Pure.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION_RE = /^(\d+(ms|s|m|h|d|w))+$/;

export function parseDuration(text: string, where = '--older-than'): number {
  const trimmed = text.trim();
  if (!DURATION_RE.test(trimmed)) {
    throw new UsageError(
      `invalid ${where} "${text}": expected a duration such as 30d, 12h, 2m or 500ms (units ms, s, m, h, d, w)`,
    );
  }
  let total = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(n) * UNIT_MS[unit!]!;
  if (total <= 0) throw new UsageError(`invalid ${where} "${text}": the duration must be greater than zero`);
  return total;
}
