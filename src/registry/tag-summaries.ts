import { DEFAULT_CONCURRENCY, mapConcurrent } from '../http/limiter.js';
import { LEGACY_TYPES, classifyTag, summarizeLabels } from '../manifest/referrers.js';
import type { RegistryApi } from './api.js';
import type { ListTagsOptions, TagSummary } from './image-reader.js';
import { ImageReader, unusableReason } from './image-reader.js';

/** The rows of `krill tags`: every tag summarized, attachments described, newest first. */

/** Newest first; ties by tag name; unknown dates last. Deterministic whatever the registry's order. */
export function compareTagSummaries(a: TagSummary, b: TagSummary): number {
  if (a.created !== b.created) {
    if (a.created === null) return 1;
    if (b.created === null) return -1;
    return a.created < b.created ? 1 : -1;
  }
  return a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0;
}

/** Summaries of the given tags of a repository, newest first. */
export async function summarizeTags(
  client: RegistryApi,
  repository: string,
  tags: string[],
  options: ListTagsOptions = {},
): Promise<TagSummary[]> {
  const reader = new ImageReader(client, repository);
  const warm = client.cacheIsWarm(repository);
  let done = 0;
  // More workers than connections keeps the pool busy while some wait on the cache or a config.
  const rows = await mapConcurrent(
    tags,
    (options.concurrency ?? DEFAULT_CONCURRENCY) * 4,
    async (tag): Promise<TagSummary> => {
      let digest: string | undefined;
      let row: TagSummary;
      try {
        digest = await reader.tagDigest(tag, warm);
        row =
          digest === undefined
            ? { tag, digest: '', mediaType: '', created: null, size: 0, platforms: [], dangling: true }
            : await describeAttachment(reader, { tag, ...(await reader.summarize(digest)) });
      } catch (error) {
        // One unusable manifest is one invalid row: it never hides the other tags of the repository.
        const invalid = unusableReason(error);
        if (invalid === undefined) throw error;
        row = { tag, digest: digest ?? '', mediaType: '', created: null, size: 0, platforms: [], invalid };
      }
      options.onProgress?.(++done, tags.length);
      return row;
    },
  );
  client.markCacheWarm(repository);
  countReferrers(rows);
  return rows.sort(compareTagSummaries);
}

/** Marks an attachment tag's row with its subject and the types of what it holds. */
async function describeAttachment(reader: ImageReader, row: TagSummary): Promise<TagSummary> {
  const kind = classifyTag(row.tag);
  if (kind.kind === 'image') return row;
  const { manifest } = await reader.manifest(row.digest);
  if (kind.kind === 'fallback' && manifest.kind === 'index') {
    const types = manifest.manifests.map((d) => d.artifactType ?? d.mediaType);
    return { ...row, attachment: 'fallback', subject: kind.subject, artifactTypes: types, platforms: [] };
  }
  // Legacy cosign manifests carry an image config: the tag's suffix says what they hold.
  const artifactType = row.artifactType ?? (kind.kind === 'legacy' ? LEGACY_TYPES[kind.suffix] : undefined);
  return {
    ...row,
    attachment: kind.kind === 'legacy' ? 'legacy' : 'fallback',
    subject: kind.subject,
    ...(artifactType !== undefined ? { artifactType } : {}),
    platforms: [],
  };
}

/** Summarises on each image's row what its attachment tags hold: `2 (sbom, sig)`. */
function countReferrers(rows: TagSummary[]): void {
  const bySubject = new Map<string, Array<string | undefined>>();
  for (const row of rows) {
    if (!row.attachment || !row.subject) continue;
    const types = row.attachment === 'fallback' ? (row.artifactTypes ?? []) : [row.artifactType];
    bySubject.set(row.subject, [...(bySubject.get(row.subject) ?? []), ...types]);
  }
  for (const row of rows) {
    const types = row.attachment ? undefined : bySubject.get(row.digest);
    if (types && types.length > 0) row.referrers = { count: types.length, types: summarizeLabels(types) };
  }
}
