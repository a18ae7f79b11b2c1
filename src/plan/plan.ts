import { RefusedError } from '../errors.js';
import type { TagDecision } from '../policy/evaluate.js';
import { signatureSubject } from '../manifest/signature.js';
import type { RegistryAddress } from '../ref/reference.js';
import type { RepositorySnapshot } from './types.js';
import { reachable } from './judge.js';
import { shortDigest, sumDistinctBlobs } from '../manifest/manifest.js';

/**
 * Turns tag decisions into registry operations, and computes what the garbage collector will free.
 * Pure. The safety rules live here:
 * - a manifest is deleted by digest only when every tag on it goes (otherwise the tags are untagged);
 * - a manifest that a kept index references is never deleted (unless forced, for `krill rm`);
 * - a deleted index takes its platform manifests with it unless something kept uses them;
 * - signature tags (sha256-<digest>.sig/.att/.sbom) follow their subject.
 */

export type PlanAction =
  /** DELETE by digest: removes the manifest and the listed tags (all of its tags). */
  | { kind: 'delete-manifest'; digest: string; tags: string[]; parent?: string; force?: true }
  /** Remove one tag; its manifest stays because something kept still uses it. */
  | { kind: 'untag'; tag: string; digest: string }
  /** Remove a tag that is listed but whose manifest is gone (`krill rm` of a dangling tag). */
  | { kind: 'remove-dangling'; tag: string };

export interface PlannedTag {
  tag: string;
  digest: string;
  reason: string;
  /** The image's created date and size, so a reason like "not among the newest 10" can be checked. */
  created?: string | null;
  size?: number;
}

export interface RepositoryPlan {
  repository: string;
  keep: PlannedTag[];
  delete: PlannedTag[];
  actions: PlanAction[];
  /** Tags listed without a manifest: never decided on by retention (shown, left alone). */
  dangling?: string[];
}

export interface Plan {
  kind: 'krill-plan';
  version: 1;
  registry: RegistryAddress;
  createdAt: string;
  /** Bytes of the distinct blobs that no manifest left in the registry references. */
  reclaimableBytes: number;
  /** What reclaimableBytes assumed, when it could not see the whole registry. */
  assumption: string | null;
  repositories: RepositoryPlan[];
}

export interface BuildOptions {
  /** Digests to delete outright (`krill rm REPO@DIGEST`). */
  deleteDigests?: string[];
  /** Allow deleting a manifest a kept index references (`krill rm --force`). */
  force?: boolean;
  /** Dangling tags to remove (`krill rm REPO:TAG` of a tag without a manifest). */
  removeDangling?: string[];
}

/** Digests reachable from `roots` through index children. */
function closure(snapshot: RepositorySnapshot, roots: Iterable<string>): Set<string> {
  return reachable(roots, (digest) => snapshot.manifests[digest]?.children);
}

export function buildRepositoryPlan(
  snapshot: RepositorySnapshot,
  decisions: TagDecision[],
  options: BuildOptions = {},
): RepositoryPlan {
  const decided = new Map(decisions.map((d) => [d.tag, d]));
  const tagsByDigest = new Map<string, string[]>();
  for (const { tag, digest } of snapshot.tags) tagsByDigest.set(digest, [...(tagsByDigest.get(digest) ?? []), tag]);
  const forced = new Set(options.deleteDigests ?? []);
  for (const digest of forced) {
    for (const tag of tagsByDigest.get(digest) ?? [])
      decided.set(tag, { tag, digest, action: 'delete', reason: `tag of ${shortDigest(digest)}` });
  }

  // Which digests go: every tag on them goes, and nothing kept reaches them.
  const deletedDigests = (): Set<string> => {
    const keptRoots = snapshot.tags.filter((t) => decided.get(t.tag)?.action === 'keep').map((t) => t.digest);
    const kept = closure(snapshot, keptRoots);
    const out = new Set<string>();
    for (const [digest, tags] of tagsByDigest) {
      if (!tags.every((t) => decided.get(t)?.action === 'delete')) continue;
      if (kept.has(digest) && !(forced.has(digest) && options.force)) continue;
      out.add(digest);
    }
    for (const digest of forced) {
      if (kept.has(digest) && !options.force) {
        const parents = Object.values(snapshot.manifests).filter(
          (m) => m.children.includes(digest) && kept.has(m.digest),
        );
        const names = parents.map(
          (p) =>
            `${shortDigest(p.digest)}${tagsByDigest.get(p.digest) ? ` (${tagsByDigest.get(p.digest)!.join(', ')})` : ''}`,
        );
        throw new RefusedError(
          `${snapshot.repository}@${digest} is referenced by ${names.join(', ') || 'a kept image'}; deleting it would break that image: pass --force to delete it anyway`,
        );
      }
      out.add(digest);
    }
    return out;
  };

  // Signature tags follow their subject: decide them once the subjects' fate is known.
  const signatures = snapshot.tags.filter((t) => signatureSubject(t.tag) !== undefined && !decided.has(t.tag));
  const goingBeforeSignatures = deletedDigests();
  for (const { tag, digest } of signatures) {
    const subject = signatureSubject(tag)!;
    const subjectTagged = tagsByDigest.has(subject) || snapshot.manifests[subject] !== undefined;
    if (goingBeforeSignatures.has(subject))
      decided.set(tag, { tag, digest, action: 'delete', reason: `signature of deleted ${shortDigest(subject)}` });
    else
      decided.set(tag, {
        tag,
        digest,
        action: 'keep',
        reason: subjectTagged
          ? `signature of kept ${shortDigest(subject)}`
          : 'signature of a subject not in this repository',
      });
  }
  const going = deletedDigests();

  // Platform manifests of deleted indexes go too, unless a kept image still uses them.
  const keptReach = closure(
    snapshot,
    snapshot.tags.filter((t) => decided.get(t.tag)?.action === 'keep').map((t) => t.digest),
  );
  const children: Array<{ digest: string; parent: string }> = [];
  const queue = [...going];
  const childSeen = new Set<string>(going);
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const child of snapshot.manifests[parent]?.children ?? []) {
      if (childSeen.has(child) || keptReach.has(child)) continue;
      childSeen.add(child);
      children.push({ digest: child, parent });
      queue.push(child);
    }
  }

  const keep: PlannedTag[] = [];
  const del: PlannedTag[] = [];
  const facts = (digest: string) => ({
    created: snapshot.manifests[digest]?.created ?? null,
    size: imageSize(snapshot, digest),
  });
  const actions: PlanAction[] = [];
  for (const { tag, digest } of [...snapshot.tags].sort((a, b) => (a.tag < b.tag ? -1 : 1))) {
    const d = decided.get(tag) ?? { tag, digest, action: 'keep' as const, reason: 'not requested' };
    if (d.action === 'keep') {
      keep.push({ tag, digest, reason: d.reason, ...facts(digest) });
    } else if (going.has(digest)) {
      del.push({ tag, digest, reason: d.reason, ...facts(digest) });
    } else {
      const siblings = (tagsByDigest.get(digest) ?? []).filter((t) => decided.get(t)?.action !== 'delete');
      const why = siblings.length > 0 ? `digest shared with ${siblings.join(', ')}` : `used by a kept index`;
      del.push({ tag, digest, reason: `${d.reason}; untag only: ${why}`, ...facts(digest) });
      actions.push({ kind: 'untag', tag, digest });
    }
  }
  for (const digest of [...going].sort()) {
    // --force: the user accepted breaking an index that references it (apply must not undo that choice).
    const forcedHere = options.force === true && forced.has(digest) && keptReach.has(digest);
    actions.push({
      kind: 'delete-manifest',
      digest,
      tags: (tagsByDigest.get(digest) ?? []).slice().sort(),
      ...(forcedHere ? { force: true as const } : {}),
    });
  }
  for (const { digest, parent } of children) actions.push({ kind: 'delete-manifest', digest, tags: [], parent });
  const removeDangling = new Set(options.removeDangling ?? []);
  for (const tag of removeDangling) actions.push({ kind: 'remove-dangling', tag });
  const dangling = (snapshot.dangling ?? []).filter((t) => !removeDangling.has(t));
  return { repository: snapshot.repository, keep, delete: del, actions, ...(dangling.length > 0 ? { dangling } : {}) };
}

/** Bytes of the distinct blobs an image (or every platform of an index) references. */
function imageSize(snapshot: RepositorySnapshot, digest: string): number {
  return sumDistinctBlobs([...closure(snapshot, [digest])].flatMap((d) => snapshot.manifests[d]?.blobs ?? []));
}

/** Digests a repository plan deletes by digest. */
export function deletedManifests(plan: RepositoryPlan): Set<string> {
  return new Set(plan.actions.filter((a) => a.kind === 'delete-manifest').map((a) => a.digest));
}

/**
 * Bytes the registry's garbage collector frees after the plan: the distinct blobs (manifests,
 * configs, layers) of deleted manifests that no remaining manifest of the scanned repositories
 * references. Blob storage is global, so a layer shared with another repository is not freed.
 */
export function computeReclaimable(snapshots: RepositorySnapshot[], plans: RepositoryPlan[]): number {
  const byRepo = new Map(plans.map((p) => [p.repository, deletedManifests(p)]));
  const remaining = new Set<string>();
  const candidates = new Map<string, number>();
  for (const snapshot of snapshots) {
    const deleted = byRepo.get(snapshot.repository) ?? new Set<string>();
    for (const node of Object.values(snapshot.manifests)) {
      if (deleted.has(node.digest)) {
        candidates.set(node.digest, node.size);
        for (const b of node.blobs) candidates.set(b.digest, b.size);
      } else {
        remaining.add(node.digest);
        for (const b of node.blobs) remaining.add(b.digest);
      }
    }
  }
  let total = 0;
  for (const [digest, size] of candidates) if (!remaining.has(digest)) total += size;
  return total;
}
