import type semver from 'semver';
import { compare as compareVersions } from 'semver';
import { classifyTag } from '../manifest/referrers.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
import type { Rules } from './rules.js';
import { tagVersion, versionInRange } from './rules.js';

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
    const { action, reason } = decideImage(images, index, rules, now);
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
