import { isAbortError } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import type { RegistryClient } from '../registry/client.js';
import { readPastManifests } from '../registry/past-manifests.js';
import type { RepositorySnapshot } from '../registry/snapshot.js';
import { readRepositorySnapshot } from '../registry/snapshot.js';
import type { ProgressOptions, Session } from '../session.js';
import type { History } from '../state/history.js';

/** Reading repositories whole, for cleanup's plans and du's accounting. */

/** Every repository's snapshot, a few at a time (catalog repositories without tags are empty). */
export async function readSnapshots(
  session: Session,
  client: RegistryClient,
  repositories: string[],
  fromCatalog: boolean,
  progress: ProgressOptions,
): Promise<Map<string, RepositorySnapshot>> {
  let read = 0;
  const snapshots = new Map<string, RepositorySnapshot>();
  // One repository: count its tags instead, or a big one is seconds of silence.
  const perTag =
    repositories.length === 1 && progress.onProgress
      ? { onProgress: (done: number, total: number) => progress.onProgress!(done, total, 'reading tags') }
      : {};
  await mapConcurrent(repositories, session.repositoryConcurrency, async (repository) => {
    // A catalog repository may hold no tags at all (an interrupted push): empty, not an error.
    const options = { concurrency: session.concurrency, emptyIfUnknown: fromCatalog, ...perTag };
    snapshots.set(repository, await readRepositorySnapshot(client, repository, options));
    if (!perTag.onProgress) progress.onProgress?.(++read, repositories.length);
  });
  return snapshots;
}

/**
 * The old manifests of re-pushed tags that the registry still holds, per snapshot, so that their
 * blobs count as staying (registry/past-manifests.ts); and what history knows, updated.
 */
export async function readRetained(
  session: Session,
  client: RegistryClient,
  history: History,
  snapshots: Map<string, RepositorySnapshot>,
  /** More digests the registry may hold untagged (the ledger's pushes): HEADed like history's. */
  alsoKnown?: (repository: string) => Promise<string[]>,
): Promise<void> {
  await mapConcurrent([...snapshots.values()], session.repositoryConcurrency, async (snapshot) => {
    const fromHistory = await history.known(client.host, snapshot.repository);
    const extra = alsoKnown ? await alsoKnown(snapshot.repository) : [];
    const known = fromHistory || extra.length > 0 ? [...new Set([...(fromHistory ?? []), ...extra])] : undefined;
    const unseen = (known ?? []).filter((digest) => !snapshot.manifests[digest]);
    let gone: string[] = [];
    try {
      const past = await readPastManifests(client, snapshot.repository, unseen, session.concurrency);
      if (known) snapshot.retained = past.retained;
      gone = past.gone;
    } catch (error) {
      if (isAbortError(error)) throw error;
      // Accounting only: the plan goes on and its bytes stay "at most".
      const why = error instanceof Error ? error.message : String(error);
      session.logger.warn(
        `${snapshot.repository}: old manifests not read (${why}); reclaimable space is an upper bound`,
      );
    }
    await history.remember(
      client.host,
      snapshot.repository,
      snapshot.tags.map((t) => t.digest),
      gone,
    );
  });
}
