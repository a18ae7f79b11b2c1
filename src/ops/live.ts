import { RefusedError, isAbortError } from '../errors.js';
import { kubernetesSource, parseKubernetesSource } from '../live/kubernetes.js';
import type { LiveDigests, LiveSource } from '../live/live-set.js';
import { fileSource, readLiveSet } from '../live/live-set.js';
import type { Plan } from '../plan/plan.js';
import type { RegistryClient } from '../registry/client.js';
import type { Session } from '../session.js';

/** The live set (what runs) at plan time and again right before apply deletes anything. */

/** A live-set source by name: `kubernetes[:CTX,…]`, else a file of image references. */
export function toLiveSource(
  session: Session,
  source: string | LiveSource,
  rollbackDepth: number | undefined,
): LiveSource {
  if (typeof source !== 'string') return source;
  const cluster = parseKubernetesSource(source);
  if (!cluster) return fileSource(source);
  return kubernetesSource(source, cluster.contexts, {
    env: session.env,
    ...(rollbackDepth !== undefined ? { rollbackDepth } : {}),
  });
}

/** What the sources say runs, per repository of `registry`: digest → why (`krill serve`'s marks). */
export async function readInUse(
  session: Session,
  registry: string,
  sources: Array<string | LiveSource>,
): Promise<LiveDigests> {
  const client = await session.client(session.parseRegistry(registry));
  const live = await readLiveSet(
    sources.map((s) => toLiveSource(session, s, undefined)),
    client,
  );
  for (const warning of live.warnings) session.logger.warn(warning);
  return live.digests;
}

/**
 * The live set as the plan records it: source names (apply re-reads them, or the sources the
 * caller passes again) and, per target repository, the digests (for --allow-stale-live-set).
 */
export function liveSetRecord(
  sources: LiveSource[],
  digests: LiveDigests,
  targets: string[],
  rollbackDepth: number | undefined,
): NonNullable<Plan['keepInUse']> {
  return {
    ...(rollbackDepth !== undefined ? { rollbackDepth } : {}),
    sources: sources.map((s) => s.name),
    digests: Object.fromEntries(targets.map((r) => [r, [...(digests.get(r)?.keys() ?? [])].sort()])),
  };
}

/**
 * The live set right before deleting: what the plan kept, plus what its sources list now (an
 * image deployed since the plan is kept too). A source that cannot be read stops the apply.
 */
export async function rereadLiveSet(
  session: Session,
  plan: Plan,
  client: RegistryClient,
  options: { keepInUse?: Array<string | LiveSource>; allowStaleLiveSet?: boolean },
): Promise<Map<string, Set<string>> | undefined> {
  if (!plan.keepInUse) return undefined;
  const live = new Map(Object.entries(plan.keepInUse.digests).map(([repo, digests]) => [repo, new Set(digests)]));
  const sources = (options.keepInUse ?? plan.keepInUse.sources).map((s) =>
    toLiveSource(session, s, plan.keepInUse?.rollbackDepth),
  );
  try {
    const fresh = await readLiveSet(sources, client);
    for (const [repo, digests] of fresh.digests) {
      const set = live.get(repo) ?? new Set<string>();
      for (const digest of digests.keys()) set.add(digest);
      live.set(repo, set);
    }
  } catch (error) {
    if (isAbortError(error) || !options.allowStaleLiveSet)
      throw new RefusedError(
        `cannot re-read the live set (${error instanceof Error ? error.message : String(error)}): nothing was deleted; fix the source or pass --allow-stale-live-set to use the plan's`,
        { cause: error },
      );
    session.logger.warn(`the live set could not be re-read; using the plan's (--allow-stale-live-set)`);
  }
  return live;
}
