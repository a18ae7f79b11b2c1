import { NotFoundError, UsageError } from '../../errors.js';
import { makePlan } from '../../plan/make-plan.js';
import { buildRepositoryPlan } from '../../plan/plan.js';
import type { TagDecision } from '../../policy/evaluate.js';
import { formatReference } from '../../ref/reference.js';
import type { Reference } from '../../ref/reference.js';
import { readRepositorySnapshot, toManifestNode } from '../../registry/snapshot.js';
import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';

interface RmOptions extends DeletionFlags {
  force?: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as RmOptions;
  const refs = (args[0] as string[]).map((input) => {
    const ref = ctx.parseReference(input);
    if (ref.tag === undefined && ref.digest === undefined) throw new UsageError(`"${input}" names no tag or digest: write REPO:TAG or REPO@DIGEST (krill never guesses :latest for a delete)`);
    if (ref.tag !== undefined && ref.digest !== undefined) throw new UsageError(`"${input}" names both a tag and a digest: give REPO:TAG to remove a tag, or REPO@DIGEST to delete a manifest`);
    return ref;
  });
  const registry = refs[0]!.registry;
  if (refs.some((r) => r.registry.host !== registry.host)) throw new UsageError('krill rm works on one registry at a time: run it once per registry');
  const byRepo = new Map<string, Reference[]>();
  for (const ref of refs) byRepo.set(ref.repository, [...(byRepo.get(ref.repository) ?? []), ref]);

  const client = await ctx.client(registry);
  const snapshots = [];
  const plans = [];
  for (const [repository, repoRefs] of byRepo) {
    const snapshot = await readRepositorySnapshot(client, repository, { concurrency: ctx.options.concurrency });
    const current = new Map(snapshot.tags.map((t) => [t.tag, t.digest]));
    const decisions: TagDecision[] = [];
    const digests: string[] = [];
    const dangling: string[] = [];
    for (const ref of repoRefs) {
      if (ref.tag !== undefined && snapshot.dangling?.includes(ref.tag)) {
        dangling.push(ref.tag);
      } else if (ref.tag !== undefined) {
        const digest = current.get(ref.tag);
        if (digest === undefined) throw new NotFoundError(`${formatReference(ref)} not found: ${repository} has no tag ${ref.tag}; nothing was changed`);
        decisions.push({ tag: ref.tag, digest, action: 'delete', reason: 'requested' });
      } else {
        if (!snapshot.manifests[ref.digest!]) {
          // An untagged manifest: read it so its platform manifests are known too.
          snapshot.manifests[ref.digest!] = toManifestNode(await client.getManifest(repository, ref.digest!), null);
        }
        digests.push(ref.digest!);
      }
    }
    for (const { tag, digest } of snapshot.tags) if (!decisions.some((d) => d.tag === tag)) decisions.push({ tag, digest, action: 'keep', reason: 'not requested' });
    const plan = buildRepositoryPlan(snapshot, decisions, { deleteDigests: digests, force: opts.force === true, removeDangling: dangling });
    snapshots.push(snapshot);
    plans.push(plan);
  }
  const plan = makePlan(registry, plans, snapshots, false);
  const going = plan.repositories.flatMap((r) => [
    ...r.delete.map((t) => `${r.repository}:${t.tag}`),
    ...r.actions.flatMap((a) => (a.kind === 'delete-manifest' && a.tags.length === 0 && !a.parent ? [`${r.repository}@${a.digest}`] : [])),
    ...r.actions.flatMap((a) => (a.kind === 'remove-dangling' ? [`${r.repository}:${a.tag}`] : [])),
  ]);
  await executePlan(ctx, client, plan, opts, { question: `Delete ${going.join(', ')} on ${registry.host}?`, showKept: false });
}
