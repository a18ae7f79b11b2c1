import type { RepositorySnapshot } from '../registry/snapshot.js';
import type { Rules } from './rules.js';
import { versionInRange } from './rules.js';

/**
 * Decides, tag by tag, what a retention rule keeps and deletes, with the reason for each. Pure.
 * Order of the rules (README "Rules"): candidates are the tags that match the delete filters and are
 * not protected; the N newest candidate images are kept; of the rest, those not older than
 * --older-than are kept; every other candidate is deleted. Signature tags are decided later, by
 * their subject (see plan/build.ts).
 */

export interface TagDecision {
  tag: string;
  digest: string;
  action: 'keep' | 'delete';
  reason: string;
}

/** cosign-style tags that belong to a subject digest: sha256-<hex>.sig / .att / .sbom */
export const SIGNATURE_TAG = /^sha256-([a-f0-9]{64})\.(sig|att|sbom)$/;

export function signatureSubject(tag: string): string | undefined {
  const match = SIGNATURE_TAG.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}

interface CandidateImage {
  digest: string;
  tags: string[];
  created: string | null;
}

/** Newest first; unknown dates count as oldest; ties by the image's first tag name. */
function compareImages(a: CandidateImage, b: CandidateImage): number {
  if (a.created !== b.created) {
    if (a.created === null) return 1;
    if (b.created === null) return -1;
    return a.created < b.created ? 1 : -1;
  }
  return a.tags[0]! < b.tags[0]! ? -1 : a.tags[0]! > b.tags[0]! ? 1 : 0;
}

/** Decisions for every non-signature tag of the snapshot. */
export function evaluateRules(snapshot: RepositorySnapshot, rules: Rules, now: number): TagDecision[] {
  const decisions: TagDecision[] = [];
  const candidates = new Map<string, CandidateImage>();
  for (const { tag, digest } of snapshot.tags) {
    if (SIGNATURE_TAG.test(tag)) continue;
    const keep = (reason: string) => decisions.push({ tag, digest, action: 'keep', reason });
    const keepMatch = rules.keepRegex.find((re) => re.test(tag));
    if (rules.protectLatest && tag === 'latest') keep('protected: latest');
    else if (keepMatch) keep(`matches keep-regex ${keepMatch.source}`);
    else if (rules.deleteRegex.length > 0 && !rules.deleteRegex.some((re) => re.test(tag))) keep('no delete-regex matches');
    else if (rules.version && !versionInRange(tag, rules.version.range)) keep(`not a version in ${rules.version.text}`);
    else {
      let image = candidates.get(digest);
      if (!image) {
        image = { digest, tags: [], created: snapshot.manifests[digest]?.created ?? null };
        candidates.set(digest, image);
      }
      image.tags.push(tag);
    }
  }
  const images = [...candidates.values()];
  for (const image of images) image.tags.sort();
  images.sort(compareImages);
  const cutoff = rules.olderThan ? now - rules.olderThan.ms : undefined;
  images.forEach((image, index) => {
    let action: TagDecision['action'] = 'delete';
    let reason: string;
    if (index < rules.keep) {
      action = 'keep';
      reason = `newest ${rules.keep}`;
    } else if (cutoff !== undefined && image.created === null) {
      // Without a date we cannot prove the image is old enough: keeping it is the safe side.
      action = 'keep';
      reason = 'created date unknown';
    } else if (cutoff !== undefined && Date.parse(image.created!) >= cutoff) {
      action = 'keep';
      reason = `newer than ${rules.olderThan!.text}`;
    } else {
      reason = rules.olderThan ? `older than ${rules.olderThan.text}` : `not among the newest ${rules.keep}`;
    }
    for (const tag of image.tags) decisions.push({ tag, digest: image.digest, action, reason });
  });
  return decisions;
}
