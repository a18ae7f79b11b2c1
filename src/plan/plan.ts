import { RefusedError } from '../errors.js';
import type { TagDecision } from '../policy/evaluate.js';
import { attachmentSubject, classifyTag, fallbackTag } from '../manifest/referrers.js';
import type { RegistryAddress } from '../ref/reference.js';
import type { RepositorySnapshot } from '../model/snapshot.js';
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
  /** Why the listing check skipped this repository (every tag kept): the run must say so. */
  listingSuspect?: string;
  /** Bytes only this repository's deletions free (make-plan.ts); the plan's total also counts shared ones. */
  reclaimableBytes?: number;
}

export interface Plan {
  kind: 'krill-plan';
  version: 1;
  registry: RegistryAddress;
  createdAt: string;
  /** The live set the plan kept (`--keep-in-use`): re-read by apply; `digests` per repository. */
  keepInUse?: { sources: string[]; digests: Record<string, string[]>; rollbackDepth?: number };
  /**
   * Set when rules judged images by pulls (`--unpulled-for`): when the ledger was read. Apply
   * re-reads the ledger and keeps what was pulled since (ops/ledger.ts pulledSincePlan).
   */
  pullsChecked?: string;
  /** `I/N` when the plan covers one shard of the catalog (`--shard`): its budgets apply to that part. */
  shard?: string;
  /** Deletion budgets (`--max-delete`, `--max-bytes`) and, when the plan exceeds one, why it is refused. */
  limits?: PlanLimits;
  /** Per repository, what changed since the last recorded run (`cleanup --diff`). */
  changes?: Record<string, ListingChanges>;
  /** Bytes of the distinct blobs that no manifest left in the registry references. */
  reclaimableBytes: number;
  /**
   * True when every scanned repository had a listing history, so the untagged manifests krill has
   * seen were counted as keeping their blobs; false means reclaimableBytes is an upper bound.
   */
  reclaimableExact: boolean;
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
 * 1. `kept`: everything a kept tag (or a live digest) reaches through index children and referrers;
 * 2. `going`: manifests all of whose tags go (or named by digest), with everything they reach
 *    that is not kept: platform manifests, referrers, referrers of referrers;
 * 3. nothing that any staying tag (attachment tags included) reaches is deleted.
 */
export function buildRepositoryPlan(
  snapshot: RepositorySnapshot,
  decisions: TagDecision[],
  options: BuildOptions = {},
): RepositoryPlan {
  const planner = new Planner(snapshot, decisions, options);
  const kept = planner.kept();
  planner.refuseBrokenIndexes(kept);
  const { roots, going } = planner.going(kept);
  planner.decideAttachments(going);
  const rows = planner.tagRows(going);
  const removeDangling = new Set(options.removeDangling ?? []);
  const dangling = (snapshot.dangling ?? []).filter((t) => !removeDangling.has(t));
  // A tag whose manifest cannot be used is kept whatever the rules say, with the reason.
  const unusable = (snapshot.invalid ?? []).map((t) => ({
    tag: t.tag,
    digest: t.digest,
    reason: `kept: its manifest cannot be used (${t.reason})`,
  }));
  return {
    repository: snapshot.repository,
    keep: [...rows.keep, ...unusable],
    delete: rows.delete,
    actions: [
      ...rows.untags,
      ...planner.unlist.actions,
      ...planner.manifestActions(going, roots, kept),
      ...[...removeDangling].map((tag): PlanAction => ({ kind: 'remove-dangling', tag })),
    ],
    ...(dangling.length > 0 ? { dangling } : {}),
  };
}

/** The state buildRepositoryPlan's steps share: decisions, the graph, and what was forced or is live. */
class Planner {
  readonly decided: Map<string, TagDecision>;
  readonly tagsByDigest = new Map<string, string[]>();
  readonly forced: ReadonlySet<string>;
  readonly live: ReadonlyMap<string, string>;
  readonly unlist: { removed: Set<string>; actions: PlanAction[] };
  readonly referrers = new ReferrerIndex();
  /** Attachment tags nobody decided on: they follow their subject. */
  readonly attachments: Array<{ tag: string; digest: string }>;
  readonly following: ReadonlySet<string>;
  readonly absent: ReadonlySet<string>;
  readonly edges: (digest: string) => string[];

  readonly #snapshot: RepositorySnapshot;
  readonly #options: BuildOptions;

  constructor(snapshot: RepositorySnapshot, decisions: TagDecision[], options: BuildOptions) {
    this.#snapshot = snapshot;
    this.#options = options;
    this.decided = new Map(decisions.map((d) => [d.tag, d]));
    for (const { tag, digest } of snapshot.tags)
      this.tagsByDigest.set(digest, [...(this.tagsByDigest.get(digest) ?? []), tag]);
    this.forced = new Set(options.deleteDigests ?? []);
    for (const digest of this.forced)
      for (const tag of this.tagsByDigest.get(digest) ?? [])
        this.decided.set(tag, { tag, digest, action: 'delete', reason: `tag of ${shortDigest(digest)}` });
    // What runs is kept whatever the rules say (its tags, and below everything it reaches).
    this.live = options.live ?? new Map<string, string>();
    for (const { tag, digest } of snapshot.tags) {
      const why = this.live.get(digest);
      if (why !== undefined && attachmentSubject(tag) === undefined && !this.forced.has(digest))
        this.decided.set(tag, { tag, digest, action: 'keep', reason: why });
    }
    // `krill rm` of a referrer held in a fallback index: take it out of that index, then delete it.
    this.unlist = planUnlisting(snapshot, this.forced);
    for (const node of Object.values(snapshot.manifests))
      // A referrer named by digest goes because the user named it, not with (or despite) its subject.
      if (node.subject !== undefined && !this.forced.has(node.digest)) this.referrers.add(node.subject, node.digest);
    this.attachments = snapshot.tags.filter((t) => this.referrers.addTag(t.tag, t.digest) && !this.decided.has(t.tag));
    this.following = new Set(this.attachments.map((t) => t.tag));
    this.absent = new Set(snapshot.absentSubjects ?? []);
    this.edges = followAll(this.children, this.referrers);
  }

  readonly children = (digest: string): string[] | undefined =>
    this.#snapshot.manifests[digest]?.children.filter((c) => !this.unlist.removed.has(c));

  #mayGo(digest: string, kept: ReadonlySet<string>): boolean {
    return !kept.has(digest) || (this.forced.has(digest) && this.#options.force === true);
  }

  /** Everything a kept tag or a live digest reaches. */
  kept(): Set<string> {
    const roots = this.#snapshot.tags.filter((t) => this.decided.get(t.tag)?.action === 'keep').map((t) => t.digest);
    return reachable([...roots, ...this.live.keys()], this.edges);
  }

  /** `krill rm REPO@DIGEST` of a manifest a kept index uses is refused unless --force. */
  refuseBrokenIndexes(kept: ReadonlySet<string>): void {
    for (const digest of this.forced) {
      if (this.#mayGo(digest, kept)) continue;
      const parents = Object.values(this.#snapshot.manifests).filter(
        (m) => m.children.includes(digest) && kept.has(m.digest),
      );
      const names = parents.map((p) => {
        const tags = this.tagsByDigest.get(p.digest);
        return `${shortDigest(p.digest)}${tags ? ` (${tags.join(', ')})` : ''}`;
      });
      throw new RefusedError(
        `${this.#snapshot.repository}@${digest} is referenced by ${names.join(', ') || 'a kept image'}; deleting it would break that image: pass --force to delete it anyway`,
      );
    }
  }

  /** What is deleted by digest: roots, and what they reach that nothing staying reaches. */
  going(kept: ReadonlySet<string>): { roots: Set<string>; going: Set<string> } {
    const roots = new Set(this.forced);
    for (const [digest, tags] of this.tagsByDigest) {
      const own = tags.filter((t) => !this.following.has(t));
      const allGo = own.length > 0 && own.every((t) => this.decided.get(t)?.action === 'delete');
      if (allGo && this.#mayGo(digest, kept)) roots.add(digest);
    }
    // Orphans: attachments whose subject the registry answered 404 for go only when asked to.
    if (this.#options.deleteOrphans)
      for (const t of this.attachments)
        if (this.absent.has(attachmentSubject(t.tag)!) && !kept.has(t.digest)) roots.add(t.digest);
    const follow = this.#options.keepReferrers ? this.children : this.edges;
    const first = new Set([...reachable(roots, follow)].filter((d) => roots.has(d) || !kept.has(d)));
    // Attachment tags go exactly when what they hold goes; then nothing a staying tag reaches goes.
    const staying = this.#snapshot.tags.filter((t) =>
      this.following.has(t.tag) ? !first.has(t.digest) : this.decided.get(t.tag)?.action !== 'delete',
    );
    const stayingReach = reachable([...staying.map((t) => t.digest), ...this.live.keys()], this.edges);
    const forcedAnyway = (d: string) => this.forced.has(d) && this.#options.force === true && roots.has(d);
    return { roots, going: new Set([...first].filter((d) => !stayingReach.has(d) || forcedAnyway(d))) };
  }

  /** Each attachment tag nobody decided on goes with what it holds, with the reason. */
  decideAttachments(going: ReadonlySet<string>): void {
    for (const t of this.attachments) {
      const subject = attachmentSubject(t.tag)!;
      const word = attachmentWord(t.tag);
      let reason: string;
      if (going.has(t.digest))
        reason = this.absent.has(subject) ? 'orphan: subject gone' : `${word} of deleted ${shortDigest(subject)}`;
      else if (this.absent.has(subject)) reason = 'orphan: subject gone (--delete-orphans deletes it)';
      else if (this.#snapshot.manifests[subject] !== undefined) reason = `${word} of kept ${shortDigest(subject)}`;
      else reason = `${word} of a subject not in this repository`;
      const action = going.has(t.digest) ? 'delete' : 'keep';
      this.decided.set(t.tag, { tag: t.tag, digest: t.digest, action, reason });
    }
  }

  /** One row per tag (kept, deleted, or only untagged because its digest stays), in tag order. */
  tagRows(going: ReadonlySet<string>): { keep: PlannedTag[]; delete: PlannedTag[]; untags: PlanAction[] } {
    const keep: PlannedTag[] = [];
    const del: PlannedTag[] = [];
    const untags: PlanAction[] = [];
    const facts = (digest: string) => ({
      created: this.#snapshot.manifests[digest]?.created ?? null,
      size: imageSize(this.#snapshot, digest),
    });
    for (const { tag, digest } of [...this.#snapshot.tags].sort((a, b) => (a.tag < b.tag ? -1 : 1))) {
      const d = this.decided.get(tag) ?? { tag, digest, action: 'keep' as const, reason: 'not requested' };
      if (d.action === 'keep') keep.push({ tag, digest, reason: d.reason, ...facts(digest) });
      else if (going.has(digest)) del.push({ tag, digest, reason: d.reason, ...facts(digest) });
      else {
        const siblings = (this.tagsByDigest.get(digest) ?? []).filter((t) => this.decided.get(t)?.action !== 'delete');
        const why = siblings.length > 0 ? `digest shared with ${siblings.join(', ')}` : `used by a kept image`;
        del.push({ tag, digest, reason: `${d.reason}; untag only: ${why}`, ...facts(digest) });
        untags.push({ kind: 'untag', tag, digest });
      }
    }
    return { keep, delete: del, untags };
  }

  /** DELETE by digest for each going manifest, with the index it belongs to or the subject it refers to. */
  manifestActions(going: ReadonlySet<string>, roots: ReadonlySet<string>, kept: ReadonlySet<string>): PlanAction[] {
    const parentOf = new Map<string, string>();
    const subjectOf = new Map<string, string>();
    for (const digest of going) {
      for (const child of this.children(digest) ?? []) if (!parentOf.has(child)) parentOf.set(child, digest);
      for (const r of this.referrers.of(digest)) if (!subjectOf.has(r)) subjectOf.set(r, digest);
    }
    return [...going].sort().map((digest): PlanAction => {
      const tags = (this.tagsByDigest.get(digest) ?? []).slice().sort();
      const forced = this.forced.has(digest);
      // --force: the user accepted breaking an index that references it (apply must not undo that choice).
      const forcedHere = this.#options.force === true && forced && kept.has(digest);
      const subject = forced ? undefined : (subjectOf.get(digest) ?? this.#snapshot.manifests[digest]?.subject);
      const parent = roots.has(digest) && tags.length > 0 ? undefined : parentOf.get(digest);
      return {
        kind: 'delete-manifest',
        digest,
        tags,
        ...(parent !== undefined && subject === undefined ? { parent } : {}),
        ...(subject !== undefined ? { subject } : {}),
        ...(forcedHere ? { force: true as const } : {}),
      };
    });
  }
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
 * Retained manifests (the old digest of a re-pushed tag) count as remaining: distribution's
 * garbage collector marks every manifest revision a repository still holds, tagged or not, unless
 * it runs with --delete-untagged (registry/storage/garbagecollect.go, MarkAndSweep).
 */
export function computeReclaimable(snapshots: RepositorySnapshot[], plans: RepositoryPlan[]): number {
  const byRepo = new Map(plans.map((p) => [p.repository, deletedManifests(p)]));
  const remaining = new Set<string>();
  const candidates = new Map<string, number>();
  for (const snapshot of snapshots) {
    const deleted = byRepo.get(snapshot.repository) ?? new Set<string>();
    for (const node of [...Object.values(snapshot.manifests), ...Object.values(snapshot.retained ?? {})]) {
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

/**
 * Every tag a plan may remove, per repository: what apply records as krill's own before its first
 * change, so an interrupted run's deletions are never taken for a registry that lost tags.
 */
export function plannedRemovals(plan: { repositories: readonly RepositoryPlan[] }): Map<string, string[]> {
  const byRepository = new Map<string, string[]>();
  for (const p of plan.repositories) {
    const tags = p.actions.flatMap((a) => (a.kind === 'delete-manifest' ? a.tags : [a.tag]));
    if (tags.length > 0) byRepository.set(p.repository, [...new Set(tags)].sort());
  }
  return byRepository;
}
