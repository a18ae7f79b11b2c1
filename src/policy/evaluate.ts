import type semver from 'semver';
import { compare as compareVersions } from 'semver';
import { classifyTag } from '../manifest/referrers.js';
import type { RepositorySnapshot } from '../plan/types.js';
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
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return compareVersions(a as semver.SemVer, b as semver.SemVer);
}

/** Newest first; images without an order key last; ties by the image's first tag name. */
function compareImages(a: CandidateImage, b: CandidateImage): number {
  if (a.order !== null && b.order !== null) {
    const byKey = compareKeys(b.order, a.order);
    if (byKey !== 0) return byKey;
  } else if (a.order !== b.order) {
    return a.order === null ? 1 : -1;
  }
  return a.tags[0]! < b.tags[0]! ? -1 : a.tags[0]! > b.tags[0]! ? 1 : 0;
}

function highestVersion(tags: string[]): semver.SemVer | null {
  let best: semver.SemVer | null = null;
  for (const tag of tags) {
    const v = tagVersion(tag);
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
    const keep = (reason: string) => decisions.push({ tag, digest, action: 'keep', reason });
    const keepMatch = rules.keepRegex.find((re) => re.test(tag));
    // The tag was being removed when an earlier run stopped: finish that, whatever the rules say.
    if (snapshot.manifests[digest]?.throwaway)
      decisions.push({ tag, digest, action: 'delete', reason: 'finishes an untag an earlier run left half-way' });
    else if (rules.protectLatest && tag === 'latest') keep('protected: latest');
    else if (keepMatch) keep(`matches keep-regex ${keepMatch.source}`);
    else if (rules.deleteRegex.length > 0 && !rules.deleteRegex.some((re) => re.test(tag)))
      keep('no delete-regex matches');
    else if (rules.version && !versionInRange(tag, rules.version.range)) keep(`not a version in ${rules.version.text}`);
    else if (rules.sort === 'semver' && rules.deleteRegex.length === 0 && tagVersion(tag) === null)
      keep('not a version (--sort semver orders versions only)');
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
  const cutoff = rules.olderThan ? (rules.olderThan.before ?? now - rules.olderThan.ms) : undefined;
  const boundary = rules.keep > 0 ? images[Math.min(rules.keep, images.length) - 1] : undefined;
  const newest = rules.sort === 'semver' ? `highest ${rules.keep} versions` : `newest ${rules.keep}`;
  images.forEach((image, index) => {
    let action: TagDecision['action'] = 'keep';
    let reason: string;
    if (rules.keep > 0 && image.order === null && rules.sort === 'date') {
      // Without a date krill cannot tell whether it is among the newest: keeping it is the safe side.
      reason = 'created date unknown: cannot tell whether it is among the newest (--sort semver orders by version)';
    } else if (index < rules.keep) {
      reason = newest;
    } else if (
      boundary &&
      image.order !== null &&
      boundary.order !== null &&
      compareKeys(image.order, boundary.order) === 0
    ) {
      reason = `${rules.sort === 'semver' ? 'version' : 'created date'} ties with a kept image`;
    } else if (cutoff !== undefined && image.created === null) {
      reason = 'created date unknown';
    } else if (cutoff !== undefined && Date.parse(image.created!) >= cutoff) {
      reason =
        rules.olderThan!.before !== undefined
          ? `created since ${rules.olderThan!.text}`
          : `newer than ${rules.olderThan!.text}`;
    } else {
      action = 'delete';
      const before = rules.olderThan?.before !== undefined;
      reason = rules.olderThan
        ? `${before ? 'created before' : 'older than'} ${rules.olderThan.text}`
        : `not among the ${newest}`;
    }
    for (const tag of image.tags) decisions.push({ tag, digest: image.digest, action, reason });
  });
  return decisions;
}
