import { mapConcurrent } from '../http/limiter.js';
import type { ManifestNode } from '../model/snapshot.js';
import type { RegistryApi } from './api.js';
import { toManifestNode } from './snapshot.js';

/**
 * Old manifests that still hold blobs. Re-pushing a tag leaves its old manifest in the repository:
 * distribution keeps every revision until it is deleted by digest, and `garbage-collect` (without
 * --delete-untagged) marks each revision and what it references (registry/storage/garbagecollect.go,
 * MarkAndSweep). No listing shows them, so krill asks for the digests its history saw under a tag.
 */

export interface PastManifests {
  /** The ones the registry still holds, index children included, keyed by digest. */
  retained: Record<string, ManifestNode>;
  /** The ones it answered 404 for: gone for good, history can forget them. */
  gone: string[];
}

/** An index nests one or two levels; deeper is refused like everywhere else (image-reader.ts). */
const MAX_DEPTH = 8;

/**
 * HEADs each digest and reads the ones still there (children too, as the collector marks them).
 * Digest-addressed reads come from the content cache when it has them.
 */
export async function readPastManifests(
  client: RegistryApi,
  repository: string,
  digests: readonly string[],
  concurrency: number,
): Promise<PastManifests> {
  const retained: Record<string, ManifestNode> = {};
  const gone: string[] = [];
  const read = async (digest: string, depth: number): Promise<void> => {
    if (retained[digest] || depth > MAX_DEPTH) return;
    const fetched = await client.getManifest(repository, digest);
    const node = toManifestNode(fetched, null);
    retained[digest] = node;
    for (const child of node.children)
      if ((await client.digestOf(repository, child)) !== undefined) await read(child, depth + 1);
  };
  await mapConcurrent(digests, concurrency, async (digest) => {
    if ((await client.digestOf(repository, digest)) === undefined) gone.push(digest);
    else await read(digest, 0);
  });
  return { retained, gone: gone.sort() };
}
