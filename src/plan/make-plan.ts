import type { RegistryAddress } from '../ref/reference.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
import type { Plan, RepositoryPlan } from './plan.js';
import { computeReclaimable } from './plan.js';

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
    repositories,
  };
}
