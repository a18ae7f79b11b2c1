import type { RegistryAddress } from '../ref/reference.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
import type { Plan, RepositoryPlan } from './plan.js';
import { computeReclaimable, deletedManifests } from './plan.js';

/**
 * Assembles a plan. `others` are snapshots read only for accounting (repositories outside the
 * cleanup that may share blobs); `sawWholeRegistry` says whether every repository was read.
 */
export function makePlan(
  registry: RegistryAddress,
  repositories: RepositoryPlan[],
  snapshots: RepositorySnapshot[],
  sawWholeRegistry: boolean,
  now = new Date(),
): Plan {
  return {
    kind: 'krill-plan',
    version: 1,
    registry,
    createdAt: now.toISOString(),
    reclaimableBytes: computeReclaimable(snapshots, repositories),
    // Exact only when no unseen repository and no unknown old manifest can hold a blob.
    reclaimableExact: sawWholeRegistry && snapshots.every((s) => s.retained !== undefined),
    assumption: sawWholeRegistry
      ? null
      : 'assumes no other repository shares these blobs; --scan-all checks the whole catalog',
    repositories: withReclaimable(snapshots, repositories),
  };
}

/**
 * Each repository's part of the space: the blobs only its own deleted manifests reference (a blob
 * that two repositories' deletions share is freed by both together, so it counts in neither).
 * One pass over every manifest, whatever the number of repositories.
 */
function withReclaimable(snapshots: RepositorySnapshot[], plans: RepositoryPlan[]): RepositoryPlan[] {
  const deletedBy = new Map(plans.map((p) => [p.repository, deletedManifests(p)]));
  const size = new Map<string, number>();
  /** blob → the one repository whose deletions alone reference it; null: something else does too. */
  const owner = new Map<string, string | null>();
  for (const snapshot of snapshots) {
    const deleted = deletedBy.get(snapshot.repository);
    for (const node of [...Object.values(snapshot.manifests), ...Object.values(snapshot.retained ?? {})]) {
      const by = deleted?.has(node.digest) ? snapshot.repository : null;
      for (const [digest, bytes] of [
        [node.digest, node.size] as const,
        ...node.blobs.map((b) => [b.digest, b.size] as const),
      ]) {
        size.set(digest, bytes);
        owner.set(digest, owner.has(digest) && owner.get(digest) !== by ? null : by);
      }
    }
  }
  const freed = new Map<string, number>();
  for (const [digest, by] of owner) if (by !== null) freed.set(by, (freed.get(by) ?? 0) + size.get(digest)!);
  return plans.map((p) => ({ ...p, reclaimableBytes: freed.get(p.repository) ?? 0 }));
}
