import { UsageError } from '../errors.js';
import type { DiskUsage } from '../plan/disk-usage.js';
import { computeDiskUsage } from '../plan/disk-usage.js';
import { inShard, parseShard } from '../plan/shard.js';
import { DOCKER_HUB } from '../ref/reference.js';
import type { ProgressOptions, Session } from '../session.js';
import { readRetained, readSnapshots } from './snapshots.js';

/** `krill du`: read the catalog (or the named repositories) whole, then account (plan/disk-usage.ts). */

export interface DiskUsageRequest extends ProgressOptions {
  /** A registry (its whole catalog); default: the default registry. Not with `repositories`. */
  registry?: string;
  /** Only these repositories (`REPO` or `HOST/REPO`): exclusive bytes then cover only them. */
  repositories?: string[];
  /** `I/N` or `auto`: this job's share of the catalog (exclusive bytes then cover that share). */
  shard?: string;
}

export type { DiskUsage, RepositoryUsage } from '../plan/disk-usage.js';

export async function diskUsage(
  session: Session,
  request: DiskUsageRequest,
): Promise<DiskUsage & { registry: string }> {
  const named = request.repositories ?? [];
  if (named.length > 0 && request.registry !== undefined)
    throw new UsageError('krill du takes a registry or repositories, not both');
  const refs = named.map((r) => session.parseRepository(r));
  const registry =
    refs[0]?.registry ??
    (request.registry !== undefined ? session.parseRegistry(request.registry) : session.defaultRegistry());
  if (registry === undefined || registry.host === DOCKER_HUB)
    throw new UsageError('name the registry: krill du REGISTRY (Docker Hub has no catalog API)');
  if (refs.some((r) => r.registry.host !== registry.host))
    throw new UsageError('krill du reads one registry at a time: run it once per registry');
  const shard = request.shard !== undefined ? parseShard(request.shard, session.env) : undefined;
  if (shard && refs.length > 0) throw new UsageError('--shard splits a catalog: give a registry, not repositories');
  if (session.ledgerConfigured) session.ledgerSpec(); // a bad --ledger fails before any request
  const client = await session.client(registry);
  const repositories =
    refs.length > 0
      ? [...new Set(refs.map((r) => r.repository))]
      : (await client.listRepositories()).filter((r) => inShard(r, shard)).sort();
  const snapshots = await readSnapshots(session, client, repositories, refs.length === 0, request);
  // Untagged manifests the registry still holds keep their blobs, as garbage collection sees them:
  // those krill listed before (its history) and, with a ledger, those pushed and not deleted.
  const store = session.ledgerConfigured ? await session.ledger() : undefined;
  const pushed = store ? (repository: string) => store.pushedDigests(registry.host, repository) : undefined;
  await readRetained(session, client, session.history(), snapshots, pushed);
  const ordered = repositories.map((r) => snapshots.get(r)!);
  return { registry: registry.host, ...computeDiskUsage(ordered, refs.length === 0 && !shard) };
}
