import type { Descriptor } from '../manifest/manifest.js';
import type { FetchedManifest } from '../registry/client.js';
import { addToFallbackIndex } from '../registry/fallback-index.js';
import { MAX_REFERRER_DEPTH, discoverReferrers } from '../registry/referrers.js';
import type { CopyEndpoint, CopyOptions, CopyResult } from './copy.js';
import { copyImage } from './copy.js';

/**
 * Carries an image's referrers (signatures, SBOMs, attestations, and theirs) along with it. Each
 * referrer keeps its bytes, so its digest is the same at the destination. A destination with the
 * referrers API indexes them itself; on one without it, krill maintains the fallback index
 * `sha256-<hex>`: merged with what is already there (another writer's entries stay), written only
 * when something is missing, so a second copy writes nothing.
 */

export interface ReferrerCopyOptions {
  /** Only these artifact types (`--referrers-filter`); empty: all. */
  types?: readonly string[];
  /** The source's tag list, when the caller has it (saves the legacy-tag lookups). */
  sourceTags?: readonly string[];
  concurrency?: number;
}

export interface ReferrerCopyResult {
  /** Referrer manifests copied (not already at the destination). */
  copied: number;
  /** Referrer manifests the destination already had. */
  present: number;
}

export async function copyReferrers(
  source: CopyEndpoint,
  destination: CopyEndpoint,
  subjects: readonly string[],
  options: ReferrerCopyOptions = {},
): Promise<ReferrerCopyResult> {
  const result: ReferrerCopyResult = { copied: 0, present: 0 };
  const seen = new Set<string>(subjects);
  const copyOptions: CopyOptions = { concurrency: options.concurrency ?? 4 };
  const walk = async (subject: string, depth: number): Promise<void> => {
    if (depth >= MAX_REFERRER_DEPTH) return;
    const found = await discoverReferrers(source.client, source.repository, subject, {
      ...(options.types ? { types: options.types } : {}),
      ...(options.sourceTags ? { tags: options.sourceTags } : {}),
    });
    const listed: Descriptor[] = [];
    for (const referrer of found) {
      const { digest } = referrer.descriptor;
      if (seen.has(digest)) continue;
      seen.add(digest);
      const there = await destination.client.digestOf(destination.repository, digest);
      if (there === undefined || referrer.via === 'legacy-tag') {
        // Legacy tags are copied as tags (same name: the subject's digest is the same there).
        await copyImage(
          source,
          digest,
          destination,
          referrer.tag && referrer.via === 'legacy-tag' ? [referrer.tag] : [],
          copyOptions,
        );
      }
      if (there === undefined) result.copied++;
      else result.present++;
      if (referrer.via !== 'legacy-tag') listed.push(referrer.descriptor);
      await walk(digest, depth + 1);
    }
    if (listed.length > 0) await addToFallbackIndex(source, destination, subject, listed, found);
  };
  for (const subject of subjects) await walk(subject, 0);
  return result;
}

/** The digests whose referrers travel with an image: the image, and each platform of an index. */
export function referrerSubjects(root: FetchedManifest): string[] {
  return root.manifest.kind === 'index'
    ? [root.digest, ...root.manifest.manifests.map((d) => d.digest)]
    : [root.digest];
}

export interface CopyWithReferrersOptions extends CopyOptions {
  /** false: the image only (`--no-referrers`). */
  referrers?: false | ReferrerCopyOptions;
}

/** copyImage, then the image's referrers (and those of each of its platforms). */
export async function copyWithReferrers(
  source: CopyEndpoint,
  reference: string,
  destination: CopyEndpoint,
  tags: string[],
  options: CopyWithReferrersOptions = {},
): Promise<CopyResult & { referrers?: ReferrerCopyResult }> {
  const { referrers, ...copyOptions } = options;
  const result = await copyImage(source, reference, destination, tags, copyOptions);
  if (referrers === false) return result;
  const root = await source.client.getManifest(source.repository, result.digest);
  const copied = await copyReferrers(source, destination, referrerSubjects(root), {
    concurrency: options.concurrency ?? 4,
    ...referrers,
  });
  return { ...result, referrers: copied };
}
