import type semver from 'semver';
import { compare as compareVersions } from 'semver';
import { classifyTag } from '../manifest/referrers.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
import type { Rules } from './rules.js';
import { tagVersion, versionInRange } from './rules.js';
import { imageUsage } from './usage.js';

/**
 * Decides, tag by tag, what a retention rule keeps and deletes, with the reason for each. Pure.
 * Order of the rules (README "Rules"): candidates are the tags that match the delete filters and are
 * not protected; the N newest candidate images are kept; of the rest, those not older than
 * --older-than are kept; every other candidate is deleted. Attachment tags (signatures, SBOMs,
 * fallback referrer indexes) are never images: they follow their subject (plan/plan.ts).
 *
 * krill deletes only what it can show is older than what it keeps: an image whose order is unknown
 * (no usable date) or equal to a kept one's (a tie) is kept, with the reason.
 */

export interface TagDecision {
  tag: string;
  digest: string;
  action: 'keep' | 'delete';
  reason: string;
}

interface CandidateImage {
  digest: string;
  tags: string[];
  created: string | null;
  /** The image's order key for --keep: a date or a version; null when it has none. */
  order: string | semver.SemVer | null;
}

function compareKeys(a: string | semver.SemVer, b: string | semver.SemVer): number {
  // One run orders by dates (ISO strings) or by versions, never both.
  if (typeof a === 'string') return a < (b as string) ? -1 : a > (b as string) ? 1 : 0;
  return compareVersions(a, b as semver.SemVer);
}

/** Newest first; images without an order key last; ties by the image's first tag name. */
function compareImages(a: CandidateImage, b: CandidateImage): number {
  if (a.order !== null && b.order !== null) {
    const byKey = compareKeys(b.order, a.order);
    if (byKey !== 0) return byKey;
  } else if (a.order !== b.order) {
    return a.order === null ? 1 : -1;
  }
  // Distinct images never share their first tag (a tag names one digest): never equal.
  // Stryker disable next-line EqualityOperator: equivalent, `<=` differs only on equal tags.
  return a.tags[0]! < b.tags[0]! ? -1 : 1;
}

function highestVersion(tags: string[]): semver.SemVer | null {
  let best: semver.SemVer | null = null;
  for (const tag of tags) {
    const v = tagVersion(tag);
    // Stryker disable next-line EqualityOperator: equivalent, an equal version is the same version.
    if (v && (best === null || compareVersions(v, best) > 0)) best = v;
  }
  return best;
}

/** Decisions for every tag of the snapshot except attachment tags. */
export function evaluateRules(snapshot: RepositorySnapshot, rules: Rules, now: number): TagDecision[] {
  const decisions: TagDecision[] = [];
  const candidates = new Map<string, CandidateImage>();
  for (const { tag, digest } of snapshot.tags) {
    if (classifyTag(tag).kind !== 'image') continue; // attachments follow their subject (plan.ts)
    const reason = notCandidate(snapshot, rules, tag, digest);
    if (reason !== undefined) decisions.push(reason);
    else {
      let image = candidates.get(digest);
      if (!image) {
        image = { digest, tags: [], created: snapshot.manifests[digest]?.created ?? null, order: null };
        candidates.set(digest, image);
      }
      image.tags.push(tag);
    }
  }
  const images = [...candidates.values()];
  for (const image of images) {
    image.tags.sort();
    image.order = rules.sort === 'semver' ? highestVersion(image.tags) : image.created;
  }
  images.sort(compareImages);
  images.forEach((image, index) => {
    const decided = decideImage(images, index, rules, now);
    const { action, reason } =
      decided.action === 'delete' && rules.unpulledFor ? decideByUse(snapshot, image, rules, now) : decided;
    for (const tag of image.tags) decisions.push({ tag, digest: image.digest, action, reason });
  });
  return decisions;
}

/** The decision for a tag the filters keep (or an interrupted untag finishes); undefined for a candidate. */
function notCandidate(
  snapshot: RepositorySnapshot,
  rules: Rules,
  tag: string,
  digest: string,
): TagDecision | undefined {
  const keep = (reason: string): TagDecision => ({ tag, digest, action: 'keep', reason });
  const keepMatch = rules.keepRegex.find((re) => re.test(tag));
  // The tag was being removed when an earlier run stopped: finish that, whatever the rules say.
  if (snapshot.manifests[digest]?.throwaway)
    return { tag, digest, action: 'delete', reason: 'finishes an untag an earlier run left half-way' };
  if (rules.protectLatest && tag === 'latest') return keep('protected: latest');
  if (keepMatch) return keep(`matches keep-regex ${keepMatch.source}`);
  if (rules.deleteRegex.length > 0 && !rules.deleteRegex.some((re) => re.test(tag)))
    return keep('no delete-regex matches');
  if (rules.version && !versionInRange(tag, rules.version.range)) return keep(`not a version in ${rules.version.text}`);
  if (rules.sort === 'semver' && rules.deleteRegex.length === 0 && tagVersion(tag) === null)
    return keep('not a version (--sort semver orders versions only)');
  return undefined;
}

/** Keep or delete the candidate image at `index` of `images` (sorted newest first), with the reason. */
function decideImage(
  images: CandidateImage[],
  index: number,
  rules: Rules,
  now: number,
): { action: TagDecision['action']; reason: string } {
  const image = images[index]!;
  const keep = (reason: string) => ({ action: 'keep' as const, reason });
  const newest = rules.sort === 'semver' ? `highest ${rules.keep} versions` : `newest ${rules.keep}`;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent, keep 0 gives images[-1], undefined too.
  const boundary = rules.keep > 0 ? images[Math.min(rules.keep, images.length) - 1] : undefined;
  const cutoff = rules.olderThan ? (rules.olderThan.before ?? now - rules.olderThan.ms) : undefined;
  // Without a date krill cannot tell whether it is among the newest: keeping it is the safe side.
  if (rules.keep > 0 && image.order === null && rules.sort === 'date')
    return keep('created date unknown: cannot tell whether it is among the newest (--sort semver orders by version)');
  if (index < rules.keep) return keep(newest);
  if (boundary && image.order !== null && boundary.order !== null && compareKeys(image.order, boundary.order) === 0)
    return keep(`${rules.sort === 'semver' ? 'version' : 'created date'} ties with a kept image`);
  if (cutoff !== undefined && image.created === null) return keep('created date unknown');
  if (cutoff !== undefined && Date.parse(image.created!) >= cutoff)
    return keep(
      rules.olderThan!.before !== undefined
        ? `created since ${rules.olderThan!.text}`
        : `newer than ${rules.olderThan!.text}`,
    );
  const before = rules.olderThan?.before !== undefined;
  const reason = rules.olderThan
    ? `${before ? 'created before' : 'older than'} ${rules.olderThan.text}`
    : `not among the ${newest}`;
  return { action: 'delete', reason };
}

/** Show a ledger time as the rule's scale needs: the day for days, the second for shorter rules. */
function when(time: number, rules: Rules): string {
  const iso = new Date(time).toISOString();
  return rules.unpulledFor!.ms >= 86_400_000 ? iso.slice(0, 10) : `${iso.slice(0, 19)}Z`;
}

/**
 * `--unpulled-for`, applied to an image the other rules would delete. Use is the last counted pull
 * (policy/usage.ts: a platform's pull counts for its index) or, never pulled, the push: a fresh
 * push is not "unpulled" (Harbor's pull time 0 deleted those, goharbor/harbor#10295). What the
 * ledger cannot know is kept: no coverage at all, or an image pushed before coverage began and not
 * pulled since (unless --allow-before-ledger).
 */
function decideByUse(
  snapshot: RepositorySnapshot,
  image: CandidateImage,
  rules: Rules,
  now: number,
): { action: TagDecision['action']; reason: string } {
  const keep = (reason: string) => ({ action: 'keep' as const, reason });
  const since = snapshot.usage?.since;
  if (since === undefined) return keep('no pull data: the ledger has no events from this registry (krill listen)');
  const cutoff = now - rules.unpulledFor!.ms;
  const usage = imageUsage(snapshot, image.digest);
  const agent = agentOf(usage?.lastPullAgent);
  if (usage?.lastPush !== undefined && usage.lastPush >= cutoff && (usage.lastPull ?? 0) < usage.lastPush)
    return keep(
      `${usage.lastPull === undefined ? 'never pulled; ' : ''}pushed ${when(usage.lastPush, rules)}, within ${rules.unpulledFor!.text}`,
    );
  if (usage?.lastPull !== undefined) {
    if (usage.lastPull >= cutoff) return keep(`pulled ${when(usage.lastPull, rules)} by ${agent}`);
    return { action: 'delete', reason: `last pulled ${when(usage.lastPull, rules)} by ${agent}` };
  }
  const created = image.created === null ? NaN : Date.parse(image.created);
  const pushed = usage?.lastPush ?? (Number.isNaN(created) ? undefined : created);
  if (pushed === undefined) return keep('never pulled, and its push and created dates are unknown');
  if (pushed >= cutoff) return keep(`never pulled; pushed ${when(pushed, rules)}, within ${rules.unpulledFor!.text}`);
  if (pushed < since && !rules.allowBeforeLedger)
    return keep(`no pull data before ${when(since, rules)} (--allow-before-ledger)`);
  return { action: 'delete', reason: `never pulled since ${when(Math.max(since, pushed), rules)}` };
}

/** A user agent's first product token (`containerd/1.7.2 …` → `containerd`), already printable. */
function agentOf(userAgent: string | undefined): string {
  return (userAgent && /^[^\s/()]+/.exec(userAgent)?.[0]) || 'an unknown client';
}
