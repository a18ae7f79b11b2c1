import semver from 'semver';
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';
import type { Pattern } from '../pattern.js';
import { compilePattern } from '../pattern.js';

/** A retention rule for one repository, validated and compiled. Pure: no I/O. */
export interface Rules {
  /** Keep the N newest candidate images. */
  keep: number;
  /** Only tags matching one of these are candidates (empty: every tag). */
  deleteRegex: Pattern[];
  /** Tags matching one of these are always kept. */
  keepRegex: Pattern[];
  protectLatest: boolean;
  /** Only images created before now minus this are deleted. */
  olderThan?: { ms: number; text: string; before?: number };
  /** Only images nobody pulled (by the ledger) for this long are deleted (policy/usage.ts). */
  unpulledFor?: { ms: number; text: string };
  /** With unpulledFor: images pushed before the ledger's coverage may go (default: kept). */
  allowBeforeLedger: boolean;
  /** Only tags that are semantic versions inside this range are candidates. */
  version?: { range: semver.Range; text: string };
  /** What "newest" means for --keep: the `created` date (default) or the highest semantic version. */
  sort: 'date' | 'semver';
  /** The most tags a plan may remove from one repository under this rule. */
  maxDelete?: Budget;
  /** The most bytes a plan may free in one repository under this rule. */
  maxBytes?: number;
}

/** A deletion budget: a number of tags, or a share of the tags in scope. */
export interface Budget {
  count?: number;
  percent?: number;
  text: string;
}

/** Rules as written by a user (flags or a policy file entry), before validation. */
export interface RuleInput {
  /** Only in a list of rules (`cleanup --rule`): the tags this rule decides (policy/rule-set.ts). */
  tags?: string | undefined;
  keep?: number | undefined;
  deleteRegex?: string[] | undefined;
  keepRegex?: string[] | undefined;
  protectLatest?: boolean | undefined;
  olderThan?: string | undefined;
  unpulledFor?: string | undefined;
  allowBeforeLedger?: boolean | undefined;
  version?: string | undefined;
  sort?: string | undefined;
  maxDelete?: string | number | undefined;
  maxBytes?: string | number | undefined;
}

export const DEFAULT_KEEP = 3;
const MAX_KEEP = 100_000;

export { parseDuration } from '../duration.js';

/**
 * `--older-than` also takes a point in time, as cleanreg's `-s` does: `YYYYMMDD`, `YYYY-MM-DD`,
 * `YYYY-MM-DDThh:mm:ss`, or ISO 8601 with a zone. Without a zone the time is UTC.
 */
export function parseAbsoluteDate(text: string): number | undefined {
  const compact = /^(\d{4})(\d{2})(\d{2})$/.exec(text);
  const iso = compact ? `${compact[1]}-${compact[2]}-${compact[3]}` : text;
  const match = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(iso);
  if (!match) return undefined;
  const zoned = match[4] !== undefined ? iso : match[1] !== undefined ? `${iso}Z` : `${iso}T00:00:00Z`;
  const time = Date.parse(zoned);
  if (Number.isNaN(time))
    throw new UsageError(`invalid date "${text}": expected YYYY-MM-DD, YYYYMMDD or an ISO 8601 date-time`);
  return time;
}

export type { Pattern } from '../pattern.js';
export { compilePattern } from '../pattern.js';

/** Validates and compiles rules. `keep` defaults to 3 only when no rule at all is given. */
export function compileRules(input: RuleInput, where = ''): Rules {
  const prefix = where ? `${where}: ` : '';
  const noRule =
    input.keep === undefined &&
    !input.deleteRegex?.length &&
    !input.keepRegex?.length &&
    input.olderThan === undefined &&
    input.unpulledFor === undefined &&
    input.version === undefined;
  const keep = input.keep ?? (noRule ? DEFAULT_KEEP : 0);
  if (!Number.isInteger(keep) || keep < 0 || keep > MAX_KEEP) {
    throw new UsageError(`${prefix}invalid keep ${keep}: expected a whole number from 0 to ${MAX_KEEP}`);
  }
  const rules: Rules = {
    keep,
    deleteRegex: (input.deleteRegex ?? []).map((p) => compilePattern(p, `${prefix}delete-regex`)),
    keepRegex: (input.keepRegex ?? []).map((p) => compilePattern(p, `${prefix}keep-regex`)),
    protectLatest: input.protectLatest ?? true,
    allowBeforeLedger: input.allowBeforeLedger ?? false,
    sort: 'date',
  };
  if (input.sort !== undefined) {
    if (input.sort !== 'date' && input.sort !== 'semver')
      throw new UsageError(`${prefix}invalid sort "${input.sort}": expected date or semver`);
    rules.sort = input.sort;
  }
  if (input.olderThan !== undefined) {
    const text = input.olderThan.trim();
    const before = parseAbsoluteDate(text);
    rules.olderThan =
      before === undefined ? { ms: parseDuration(text, `${prefix}older-than`), text } : { ms: 0, text, before };
  }
  if (input.unpulledFor !== undefined) {
    const text = input.unpulledFor.trim();
    rules.unpulledFor = { ms: parseDuration(text, `${prefix}unpulled-for`), text };
  }
  if (input.version !== undefined) {
    const range = semver.validRange(input.version, { loose: false }) === null ? null : new semver.Range(input.version);
    if (!range)
      throw new UsageError(
        `${prefix}invalid version range "${input.version}": expected a semver range such as '<1.4' or '>=1.0.0 <2.0.0'`,
      );
    rules.version = { range, text: input.version.trim() };
  }
  if (input.maxDelete !== undefined) rules.maxDelete = parseBudget(input.maxDelete, `${prefix}max-delete`);
  if (input.maxBytes !== undefined) rules.maxBytes = parseSize(input.maxBytes, `${prefix}max-bytes`);
  return rules;
}

/** `--max-delete`: `N` tags or `P%` of the tags in scope. */
export function parseBudget(input: string | number, what = '--max-delete'): Budget {
  const text = String(input).trim();
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (percent && Number(percent[1]) <= 100) return { percent: Number(percent[1]), text };
  if (/^\d+$/.test(text) && Number(text) <= 100_000_000) return { count: Number(text), text };
  throw new UsageError(`invalid ${what} "${text}": expected a number of tags (50) or a percentage of them (25%)`);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** `--max-bytes`: bytes, or a size with a unit (`500MB`, `10GiB`). */
export function parseSize(input: string | number, what = '--max-bytes'): number {
  const text = String(input).trim();
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text);
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!Number.isSafeInteger(bytes))
    throw new UsageError(`invalid ${what} "${text}": expected a size such as 500MB, 10GiB or a number of bytes`);
  return bytes;
}

/** A tag as a semantic version (an optional leading `v` allowed), or null. */
export function tagVersion(tag: string): semver.SemVer | null {
  return semver.parse(tag.startsWith('v') ? tag.slice(1) : tag);
}

/** Pre-releases sort before their release, and inside the range only when the range allows them by ordering. */
export function versionInRange(tag: string, range: semver.Range): boolean {
  const version = tagVersion(tag);
  return version !== null && semver.satisfies(version, range, { includePrerelease: true });
}
