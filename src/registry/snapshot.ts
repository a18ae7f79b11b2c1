import { RegistryError } from '../errors.js';
import { DEFAULT_CONCURRENCY, mapConcurrent } from '../http/limiter.js';
import type { ManifestNode, RepositorySnapshot } from '../model/snapshot.js';
import type { FetchedManifest } from './client.js';
import type { RegistryApi } from './api.js';
import { ImageReader, unusableReason } from './image-reader.js';
import { isThrowaway } from './untag.js';
import { MAX_REFERRER_DEPTH } from './referrers.js';
import { attachmentSubject, referrerFieldsOf } from '../manifest/referrers.js';

export type { ManifestNode, RepositorySnapshot } from '../model/snapshot.js';

/**
 * What a cleanup decides on: every tag of a repository with its digest, and every manifest those
 * tags reach (index children included) with the blobs it references. Read once; everything after
 * (policy, plan, reclaimable bytes) is pure computation over this.
 */

export interface SnapshotOptions {
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Treat an unknown repository as empty. The catalog lists repositories that only ever received
   * blobs (an interrupted push), and distribution answers NAME_UNKNOWN for their tag list.
   */
  emptyIfUnknown?: boolean;
}

/** The snapshot's view of a fetched manifest. */
export function toManifestNode(fetched: FetchedManifest, created: string | null): ManifestNode {
  const m = fetched.manifest;
  return {
    digest: fetched.digest,
    mediaType: fetched.mediaType,
    kind: m.kind,
    size: fetched.size,
    children: m.kind === 'index' ? m.manifests.map((d) => d.digest) : [],
    blobs: m.kind === 'image' ? [m.config, ...m.layers] : [],
    created,
    ...referrerFieldsOf(m),
    ...(isThrowaway(fetched) ? { throwaway: true as const } : {}),
  };
}

async function listTagsOrNone(client: RegistryApi, repository: string, emptyIfUnknown: boolean): Promise<string[]> {
  try {
    return await client.listTags(repository);
  } catch (error) {
    if (emptyIfUnknown && error instanceof RegistryError && error.hasCode('NAME_UNKNOWN')) return [];
    throw error;
  }
}

export async function readRepositorySnapshot(
  client: RegistryApi,
  repository: string,
  options: SnapshotOptions = {},
): Promise<RepositorySnapshot> {
  const reader = new ImageReader(client, repository);
  const names = await listTagsOrNone(client, repository, options.emptyIfUnknown === true);
  const warm = client.cacheIsWarm(repository);
  const manifests: Record<string, ManifestNode> = {};
  const visiting = new Map<string, Promise<void>>();

  const visit = (digest: string): Promise<void> => {
    let pending = visiting.get(digest);
    if (!pending) {
      pending = (async () => {
        const [fetched, summary] = await Promise.all([reader.manifest(digest), reader.summarize(digest)]);
        const node = toManifestNode(fetched, summary.created);
        if (summary.missing) node.missing = summary.missing;
        manifests[digest] = node;
        try {
          await Promise.all(node.children.filter((child) => !summary.missing?.includes(child)).map(visit));
        } catch (error) {
          // Half-read: no node, so nothing reads as an untagged manifest that a plan could delete.
          delete manifests[digest];
          throw error;
        }
      })();
      visiting.set(digest, pending);
    }
    return pending;
  };

  let done = 0;
  const dangling: string[] = [];
  const invalid: Array<{ tag: string; digest: string; reason: string }> = [];
  const resolved = await mapConcurrent(names, (options.concurrency ?? DEFAULT_CONCURRENCY) * 4, async (tag) => {
    let digest: string | undefined;
    try {
      digest = await reader.tagDigest(tag, warm);
      // A dangling tag (listed, manifest gone) never blocks the repository.
      if (digest === undefined) dangling.push(tag);
      else await visit(digest);
    } catch (error) {
      // Nor does an unusable manifest: the tag is kept with the reason, the others are planned.
      const reason = unusableReason(error);
      if (reason === undefined) throw error;
      invalid.push({ tag, digest: digest ?? '', reason });
      digest = undefined;
    }
    options.onProgress?.(++done, names.length);
    return digest === undefined ? undefined : { tag, digest };
  });
  client.markCacheWarm(repository);
  const tags = resolved.filter((t): t is { tag: string; digest: string } => t !== undefined);
  await visitApiReferrers(client, repository, manifests, visit);
  const absentSubjects = await readSubjects(client, repository, tags, manifests, visit);
  return {
    registry: client.host,
    repository,
    tags,
    manifests,
    ...(dangling.length > 0 ? { dangling: dangling.sort() } : {}),
    ...(absentSubjects.length > 0 ? { absentSubjects } : {}),
    ...(invalid.length > 0 ? { invalid: invalid.sort((a, b) => (a.tag < b.tag ? -1 : 1)) } : {}),
  };
}

/**
 * On a registry with the referrers API, referrers need no tag: ask for the referrers of every
 * manifest read (and of theirs, down to MAX_REFERRER_DEPTH) so that deletion can follow them.
 * A registry without the API costs one request (client.listReferrers remembers the 404).
 */
async function visitApiReferrers(
  client: RegistryApi,
  repository: string,
  manifests: Record<string, ManifestNode>,
  visit: (digest: string) => Promise<void>,
): Promise<void> {
  const asked = new Set<string>();
  for (let depth = 0; depth < MAX_REFERRER_DEPTH; depth++) {
    const level = Object.keys(manifests).filter((d) => !asked.has(d));
    if (level.length === 0) return;
    for (const d of level) asked.add(d);
    const first = await client.listReferrers(repository, level[0]!);
    if (first === undefined) return;
    const found = [first, ...(await mapConcurrent(level.slice(1), 8, (d) => client.listReferrers(repository, d)))];
    const fresh = new Set(found.flatMap((list) => (list ?? []).map((r) => r.digest)));
    await Promise.all([...fresh].filter((d) => !manifests[d]).map(visit));
  }
}

/**
 * Subjects of attachments that no tag reaches: read them (an untagged subject is still an image
 * whose signatures stay) or record them as absent (404: the attachments are orphans).
 */
async function readSubjects(
  client: RegistryApi,
  repository: string,
  tags: ReadonlyArray<{ tag: string; digest: string }>,
  manifests: Record<string, ManifestNode>,
  visit: (digest: string) => Promise<void>,
): Promise<string[]> {
  const subjects = new Set<string>();
  for (const { tag } of tags) {
    const subject = attachmentSubject(tag);
    if (subject !== undefined) subjects.add(subject);
  }
  for (const node of Object.values(manifests)) if (node.subject !== undefined) subjects.add(node.subject);
  const absent: string[] = [];
  await mapConcurrent(
    [...subjects].filter((d) => !manifests[d]),
    8,
    async (subject) => {
      if ((await client.digestOf(repository, subject)) === undefined) absent.push(subject);
      else await visit(subject);
    },
  );
  return absent.sort();
}
