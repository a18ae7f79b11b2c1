import { NotFoundError, UsageError } from '../errors.js';
import { attachmentSubject } from '../manifest/referrers.js';
import { makePlan } from '../plan/make-plan.js';
import type { Plan, RepositoryPlan } from '../plan/plan.js';
import { buildRepositoryPlan } from '../plan/plan.js';
import type { TagDecision } from '../policy/evaluate.js';
import type { Reference } from '../ref/reference.js';
import { formatReference } from '../ref/reference.js';
import type { RegistryClient } from '../registry/client.js';
import type { RepositorySnapshot } from '../registry/snapshot.js';
import { readRepositorySnapshot, toManifestNode } from '../registry/snapshot.js';
import type { Session } from '../session.js';
import { resolveReference } from './read.js';

export interface RemovalOptions {
  /** Delete a digest an index still lists (never one a tag points at directly). */
  force?: boolean;
  /** Keep the referrers (signatures, SBOMs) of what is deleted. */
  keepReferrers?: boolean;
}

/** The plan of `krill rm`: exactly the named tags and digests, shared digests only untagged. */
export async function planRemoval(session: Session, references: string[], options: RemovalOptions): Promise<Plan> {
  const parsed = references.map((input) => parseRemoval(session, input));
  const registry = parsed[0]!.registry;
  if (parsed.some((r) => r.registry.host !== registry.host))
    throw new UsageError('krill rm works on one registry at a time: run it once per registry');
  // A short digest copied from a table deletes only when it names exactly one digest.
  const refs: Reference[] = [];
  for (const ref of parsed) refs.push(await resolveReference(session, ref));
  const byRepo = new Map<string, Reference[]>();
  for (const ref of refs) byRepo.set(ref.repository, [...(byRepo.get(ref.repository) ?? []), ref]);
  const client = await session.client(registry);
  const snapshots: RepositorySnapshot[] = [];
  const plans: RepositoryPlan[] = [];
  for (const [repository, repoRefs] of byRepo) {
    const { snapshot, plan } = await planRepositoryRemoval(session, client, repository, repoRefs, options);
    snapshots.push(snapshot);
    plans.push(plan);
  }
  return makePlan(registry, plans, snapshots, false);
}

/** `REPO:TAG` or `REPO@DIGEST` (short digests allowed), validated before any request. */
function parseRemoval(session: Session, input: string): Reference {
  const ref = session.parseReference(input, { shortDigest: true });
  const digest = ref.digest ?? ref.digestPrefix;
  if (ref.tag === undefined && digest === undefined)
    throw new UsageError(
      `"${input}" names no tag or digest: write REPO:TAG or REPO@DIGEST (krill never guesses :latest for a delete)`,
    );
  if (ref.tag !== undefined && digest !== undefined)
    throw new UsageError(
      `"${input}" names both a tag and a digest: give REPO:TAG to remove a tag, or REPO@DIGEST to delete a manifest`,
    );
  return ref;
}

/** The removal plan of one repository: exactly the named tags and digests. */
async function planRepositoryRemoval(
  session: Session,
  client: RegistryClient,
  repository: string,
  refs: Reference[],
  options: RemovalOptions,
): Promise<{ snapshot: RepositorySnapshot; plan: RepositoryPlan }> {
  const snapshot = await readRepositorySnapshot(client, repository, { concurrency: session.concurrency });
  const current = new Map(snapshot.tags.map((t) => [t.tag, t.digest]));
  const decisions: TagDecision[] = [];
  const digests: string[] = [];
  const dangling: string[] = [];
  for (const ref of refs) {
    if (ref.tag === undefined) digests.push(ref.digest!);
    else if (snapshot.dangling?.includes(ref.tag)) dangling.push(ref.tag);
    else {
      const digest = current.get(ref.tag);
      if (digest === undefined)
        throw new NotFoundError(
          `${formatReference(ref)} not found: ${repository} has no tag ${ref.tag}; nothing was changed`,
        );
      decisions.push({ tag: ref.tag, digest, action: 'delete', reason: 'requested' });
    }
  }
  // An untagged manifest named by digest: read it so its platform manifests are known too.
  const extra = await Promise.all(
    digests.filter((d) => !snapshot.manifests[d]).map((d) => client.getManifest(repository, d)),
  );
  const withExtra: RepositorySnapshot = {
    ...snapshot,
    manifests: { ...snapshot.manifests, ...Object.fromEntries(extra.map((f) => [f.digest, toManifestNode(f, null)])) },
  };
  // Attachment tags not named follow their subject: an image's signatures go with it.
  for (const { tag, digest } of snapshot.tags)
    if (!decisions.some((d) => d.tag === tag) && attachmentSubject(tag) === undefined)
      decisions.push({ tag, digest, action: 'keep', reason: 'not requested' });
  const plan = buildRepositoryPlan(withExtra, decisions, {
    deleteDigests: digests,
    force: options.force === true,
    removeDangling: dangling,
    keepReferrers: options.keepReferrers === true,
  });
  return { snapshot: withExtra, plan };
}
