import { RefusedError } from '../errors.js';
import type { TagDecision } from '../policy/evaluate.js';
import { attachmentSubject, classifyTag, fallbackTag } from '../manifest/referrers.js';
import type { RegistryAddress } from '../ref/reference.js';
import type { RepositorySnapshot } from './types.js';
import type { ListingChanges } from './listing.js';
import { ReferrerIndex, followAll, reachable } from './graph.js';
import { shortDigest, sumDistinctBlobs } from '../manifest/manifest.js';

/**
 * Turns tag decisions into registry operations, and computes what the garbage collector will free.
 * Pure. The safety rules live here:
 * - a manifest is deleted by digest only when every tag on it goes (otherwise the tags are untagged);
 * - a manifest that a kept index references is never deleted (unless forced, for `krill rm`);
 * - a deleted index takes its platform manifests with it unless something kept uses them;
 * - referrers (signatures, SBOMs, attestations: `subject` fields, fallback `sha256-<hex>` indexes and
 *   legacy `sha256-<hex>.sig|.att|.sbom` tags) follow their subject, whatever the rules say.
 */

export type PlanAction =
  /**
   * DELETE by digest: removes the manifest and the listed tags (all of its tags). `parent`: a
   * platform manifest of a deleted index; `subject`: a referrer (or fallback index) of that digest.
   */
  | { kind: 'delete-manifest'; digest: string; tags: string[]; parent?: string; subject?: string; force?: true }
  /** Remove one tag; its manifest stays because something kept still uses it. */
  | { kind: 'untag'; tag: string; digest: string }
  /** Remove a tag that is listed but whose manifest is gone (`krill rm` of a dangling tag). */
  | { kind: 'remove-dangling'; tag: string }
  /**
   * Take one referrer out of a subject's fallback index (tag `sha256-<hex>`, planned at `index`):
   * the index is re-read right before it is rewritten, so a concurrent writer's entries stay.
   */
  | { kind: 'unlist-referrer'; tag: string; index: string; referrer: string };

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
  /** The live set the plan kept (`--keep-in-use`): re-read by apply; `digests` per repository. */
  keepInUse?: { sources: string[]; digests: Record<string, string[]>; rollbackDepth?: number };
  /** Deletion budgets (`--max-delete`, `--max-bytes`) and, when the plan exceeds one, why it is refused. */
  limits?: PlanLimits;
  /** Per repository, what changed since the last recorded run (`cleanup --diff`). */
  changes?: Record<string, ListingChanges>;
  /** Bytes of the distinct blobs that no manifest left in the registry references. */
  reclaimableBytes: number;
  /** What reclaimableBytes assumed, when it could not see the whole registry. */
  assumption: string | null;
  repositories: RepositoryPlan[];
}

export interface PlanLimits {
  /** Tags a plan may remove: a count, or `P%` of the tags in scope. */
  maxDelete?: string;
  maxBytes?: number;
  /** Set when the plan exceeds a budget: nothing of it may be applied. */
  refused?: string;
}

export interface BuildOptions {
  /** Digests to delete outright (`krill rm REPO@DIGEST`). */
  deleteDigests?: string[];
  /** Allow deleting a manifest a kept index references (`krill rm --force`). */
  force?: boolean;
  /** Dangling tags to remove (`krill rm REPO:TAG` of a tag without a manifest). */
  removeDangling?: string[];
  /** Delete referrers whose subject the registry no longer has (`cleanup --delete-orphans`). */
  deleteOrphans?: boolean;
  /** Leave the referrers of deleted manifests in place (`krill rm --keep-referrers`). */
  keepReferrers?: boolean;
  /** Digests workloads run (`--keep-in-use`), with why: kept with all they reach, whatever the rules say. */
  live?: ReadonlyMap<string, string>;
}

/** The words a plan uses for an attachment tag. */
function attachmentWord(tag: string): string {
  const kind = classifyTag(tag);
  if (kind.kind === 'legacy') return { sig: 'signature', att: 'attestation', sbom: 'SBOM' }[kind.suffix];
  return 'referrers';
}

/**
 * The plan of one repository. Tags the rules decided on are `decisions`; attachment tags nobody
 * decided on follow their subject, and untagged manifests follow what reaches them:
 * 1. `kept`: everything a kept tag reaches through index children and referrers;
 * 2. `going`: manifests all of whose tags go (or named by digest), with everything they reach
 *    that is not kept: platform manifests, referrers, referrers of referrers;
 * 3. nothing that any staying tag (attachment tags included) reaches is deleted.
 */
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

  // What runs is kept whatever the rules say (its tags, and below everything it reaches).
  const live = options.live ?? new Map<string, string>();
  for (const { tag, digest } of snapshot.tags) {
    const why = live.get(digest);
    if (why !== undefined && attachmentSubject(tag) === undefined && !forced.has(digest))
      decided.set(tag, { tag, digest, action: 'keep', reason: why });
  }

  // `krill rm` of a referrer held in a fallback index: take it out of that index, then delete it.
  const unlist = planUnlisting(snapshot, forced);
  const children = (digest: string) => snapshot.manifests[digest]?.children.filter((c) => !unlist.removed.has(c));
  const referrers = new ReferrerIndex();
  for (const node of Object.values(snapshot.manifests))
    // A referrer named by digest goes because the user named it, not with (or despite) its subject.
    if (node.subject !== undefined && !forced.has(node.digest)) referrers.add(node.subject, node.digest);
  // Attachment tags nobody decided on follow their subject (decided below).
  const attachments = snapshot.tags.filter((t) => referrers.addTag(t.tag, t.digest) && !decided.has(t.tag));
  const following = new Set(attachments.map((t) => t.tag));
  const edges = followAll(children, referrers);

  const keptRoots = [
    ...snapshot.tags.filter((t) => decided.get(t.tag)?.action === 'keep').map((t) => t.digest),
    ...live.keys(),
  ];
  const kept = reachable(keptRoots, edges);
  const mayGo = (digest: string) => !kept.has(digest) || (forced.has(digest) && options.force === true);
  for (const digest of forced) {
    if (mayGo(digest)) continue;
    const parents = Object.values(snapshot.manifests).filter((m) => m.children.includes(digest) && kept.has(m.digest));
    const names = parents.map(
      (p) =>
        `${shortDigest(p.digest)}${tagsByDigest.get(p.digest) ? ` (${tagsByDigest.get(p.digest)!.join(', ')})` : ''}`,
    );
    throw new RefusedError(
      `${snapshot.repository}@${digest} is referenced by ${names.join(', ') || 'a kept image'}; deleting it would break that image: pass --force to delete it anyway`,
    );
  }
  const roots = new Set(forced);
  for (const [digest, tags] of tagsByDigest) {
    const own = tags.filter((t) => !following.has(t));
    if (own.length > 0 && own.every((t) => decided.get(t)?.action === 'delete') && mayGo(digest)) roots.add(digest);
  }
  // Orphans: attachments whose subject the registry answered 404 for go only when asked to.
  const absent = new Set(snapshot.absentSubjects ?? []);
  const orphanTags = attachments.filter((t) => absent.has(attachmentSubject(t.tag)!));
  if (options.deleteOrphans) for (const t of orphanTags) if (!kept.has(t.digest)) roots.add(t.digest);
  const follow = options.keepReferrers ? children : edges;
  const goingFirst = new Set([...reachable(roots, follow)].filter((d) => roots.has(d) || !kept.has(d)));

  // Attachment tags go exactly when what they hold goes; then nothing a staying tag reaches goes.
  const goesWith = (t: { tag: string; digest: string }) => goingFirst.has(t.digest);
  const staying = snapshot.tags.filter((t) =>
    following.has(t.tag) ? !goesWith(t) : decided.get(t.tag)?.action !== 'delete',
  );
  const keptReach = reachable([...staying.map((t) => t.digest), ...live.keys()], edges);
  const going = new Set(
    [...goingFirst].filter((d) => !keptReach.has(d) || (forced.has(d) && options.force === true && roots.has(d))),
  );
  for (const t of attachments) {
    const subject = attachmentSubject(t.tag)!;
    const word = attachmentWord(t.tag);
    let reason: string;
    if (going.has(t.digest))
      reason = absent.has(subject) ? 'orphan: subject gone' : `${word} of deleted ${shortDigest(subject)}`;
    else if (absent.has(subject)) reason = 'orphan: subject gone (--delete-orphans deletes it)';
    else if (snapshot.manifests[subject] !== undefined) reason = `${word} of kept ${shortDigest(subject)}`;
    else reason = `${word} of a subject not in this repository`;
    decided.set(t.tag, { tag: t.tag, digest: t.digest, action: going.has(t.digest) ? 'delete' : 'keep', reason });
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
      const why = siblings.length > 0 ? `digest shared with ${siblings.join(', ')}` : `used by a kept image`;
      del.push({ tag, digest, reason: `${d.reason}; untag only: ${why}`, ...facts(digest) });
      actions.push({ kind: 'untag', tag, digest });
    }
  }
  for (const u of unlist.actions) actions.push(u);
  // Why each untagged manifest goes: the index it belongs to, or the subject it refers to.
  const parentOf = new Map<string, string>();
  const subjectOf = new Map<string, string>();
  for (const digest of going) {
    for (const child of children(digest) ?? []) if (!parentOf.has(child)) parentOf.set(child, digest);
    for (const r of referrers.of(digest)) if (!subjectOf.has(r)) subjectOf.set(r, digest);
  }
  for (const digest of [...going].sort()) {
    const tags = (tagsByDigest.get(digest) ?? []).slice().sort();
    // --force: the user accepted breaking an index that references it (apply must not undo that choice).
    const forcedHere = options.force === true && forced.has(digest) && kept.has(digest);
    const subject = forced.has(digest) ? undefined : (subjectOf.get(digest) ?? snapshot.manifests[digest]?.subject);
    const parent = roots.has(digest) && tags.length > 0 ? undefined : parentOf.get(digest);
    actions.push({
      kind: 'delete-manifest',
      digest,
      tags,
      ...(parent !== undefined && subject === undefined ? { parent } : {}),
      ...(subject !== undefined ? { subject } : {}),
      ...(forcedHere ? { force: true as const } : {}),
    });
  }
  const removeDangling = new Set(options.removeDangling ?? []);
  for (const tag of removeDangling) actions.push({ kind: 'remove-dangling', tag });
  const dangling = (snapshot.dangling ?? []).filter((t) => !removeDangling.has(t));
  return { repository: snapshot.repository, keep, delete: del, actions, ...(dangling.length > 0 ? { dangling } : {}) };
}

/**
 * Referrers named by digest (`krill rm REPO@DIGEST`) that a fallback index lists: they leave that
 * index (rewritten at apply, or deleted when it becomes empty) instead of being refused as "used".
 */
function planUnlisting(
  snapshot: RepositorySnapshot,
  forced: ReadonlySet<string>,
): { removed: Set<string>; actions: PlanAction[] } {
  const removed = new Set<string>();
  const actions: PlanAction[] = [];
  for (const digest of forced) {
    const subject = snapshot.manifests[digest]?.subject;
    if (subject === undefined) continue;
    const tag = fallbackTag(subject);
    const index = snapshot.tags.find((t) => t.tag === tag)?.digest;
    if (index === undefined || !snapshot.manifests[index]?.children.includes(digest)) continue;
    removed.add(digest);
    actions.push({ kind: 'unlist-referrer', tag, index, referrer: digest });
  }
  return { removed, actions };
}

/** Bytes of the distinct blobs an image (or every platform of an index) references. */
function imageSize(snapshot: RepositorySnapshot, digest: string): number {
  const platforms = reachable([digest], (d) => snapshot.manifests[d]?.children);
  return sumDistinctBlobs([...platforms].flatMap((d) => snapshot.manifests[d]?.blobs ?? []));
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
