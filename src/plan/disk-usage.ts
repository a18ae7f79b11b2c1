import type { ManifestNode, RepositorySnapshot } from '../model/snapshot.js';

/**
 * `krill du`: what each repository really costs in the registry's storage. Pure.
 *
 * distribution stores every blob once per registry, whatever the number of repositories linking it
 * (cross-repository mounts make that common), and stores manifests as blobs too. So a blob's
 * identity is its digest, and the bytes that deleting a repository frees — its *exclusive* bytes —
 * are those of the blobs no other repository references, which only the whole catalog can tell.
 * What references a blob is what garbage collection marks: every manifest a tag reaches, and the
 * untagged manifests the registry still holds (`snapshot.retained`: distribution's MarkAndSweep
 * marks every revision of a repository, tagged or not).
 */

export interface RepositoryUsage {
  repository: string;
  tags: number;
  manifests: number;
  /** Distinct blobs (layers, configs, manifests) the repository references. */
  totalBytes: number;
  /** Bytes of blobs no other repository read references: what deleting this repository frees. */
  exclusiveBytes: number;
  sharedBytes: number;
  /** The biggest images by their own distinct blobs, with one tag each. */
  biggest: Array<{ tag: string; digest: string; bytes: number }>;
}

export interface DiskUsage {
  repositories: RepositoryUsage[];
  /** Every distinct blob of the repositories read, counted once. */
  totalBytes: number;
  /** False when only some repositories of the catalog were read: exclusive bytes may be too high. */
  complete: boolean;
}

const BIGGEST = 3;

/** The blobs a manifest stands for in storage: itself, and for an image its config and layers. */
function ownBlobs(node: ManifestNode): Array<[string, number]> {
  return [[node.digest, node.size], ...node.blobs.map((b): [string, number] => [b.digest, b.size])];
}

function repositoryBlobs(snapshot: RepositorySnapshot): Map<string, number> {
  const blobs = new Map<string, number>();
  for (const node of [...Object.values(snapshot.manifests), ...Object.values(snapshot.retained ?? {})])
    for (const [digest, size] of ownBlobs(node)) blobs.set(digest, size);
  return blobs;
}

/** An image's distinct bytes: its manifest and everything its index children hold. */
function imageBytes(snapshot: RepositorySnapshot, digest: string): number {
  const seen = new Map<string, number>();
  const visit = (at: string, depth: number) => {
    const node = snapshot.manifests[at];
    // Stryker disable next-line ConditionalExpression: the depth bound only guards a hostile cycle.
    if (!node || depth > 8) return;
    for (const [d, size] of ownBlobs(node)) seen.set(d, size);
    for (const child of node.children) visit(child, depth + 1);
  };
  visit(digest, 0);
  let total = 0;
  for (const size of seen.values()) total += size;
  return total;
}

export function computeDiskUsage(snapshots: readonly RepositorySnapshot[], complete: boolean): DiskUsage {
  const perRepository = snapshots.map((s) => ({ snapshot: s, blobs: repositoryBlobs(s) }));
  // How many repositories reference each blob.
  const holders = new Map<string, number>();
  const everything = new Map<string, number>();
  for (const { blobs } of perRepository)
    for (const [digest, size] of blobs) {
      holders.set(digest, (holders.get(digest) ?? 0) + 1);
      everything.set(digest, size);
    }
  const repositories = perRepository.map(({ snapshot, blobs }): RepositoryUsage => {
    let totalBytes = 0;
    let exclusiveBytes = 0;
    for (const [digest, size] of blobs) {
      totalBytes += size;
      if (holders.get(digest) === 1) exclusiveBytes += size;
    }
    const images = new Map<string, string>(); // digest → its first tag
    for (const { tag, digest } of [...snapshot.tags].sort((a, b) => (a.tag < b.tag ? -1 : 1)))
      if (!images.has(digest)) images.set(digest, tag);
    const biggest = [...images]
      .map(([digest, tag]) => ({ tag, digest, bytes: imageBytes(snapshot, digest) }))
      .sort((a, b) => b.bytes - a.bytes || (a.tag < b.tag ? -1 : 1))
      .slice(0, BIGGEST);
    return {
      repository: snapshot.repository,
      tags: snapshot.tags.length,
      manifests: Object.keys(snapshot.manifests).length + Object.keys(snapshot.retained ?? {}).length,
      totalBytes,
      exclusiveBytes,
      sharedBytes: totalBytes - exclusiveBytes,
      biggest,
    };
  });
  repositories.sort(
    (a, b) =>
      b.exclusiveBytes - a.exclusiveBytes || b.totalBytes - a.totalBytes || (a.repository < b.repository ? -1 : 1),
  );
  let totalBytes = 0;
  for (const size of everything.values()) totalBytes += size;
  return { repositories, totalBytes, complete };
}
