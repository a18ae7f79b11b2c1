import { shortDigest } from '../manifest/manifest.js';
import { listNames } from '../text.js';
import { attachmentSubject } from '../manifest/referrers.js';
import { ReferrerIndex, followAll, reachable } from './graph.js';
import type { RepositoryPlan } from './plan.js';

/**
 * Apply's verdicts: what each planned action may still do, judged against the repository as it is
 * right now. Pure, so every race (a tag re-pushed, a new tag or a new index on a planned digest, an
 * untag interrupted half-way) is a table test, not a registry scenario. The I/O layer (apply.ts)
 * only reads the fresh state, journals and executes.
 *
 * The rule: a digest is deleted only when no tag that stays reaches it, directly, through the
 * children of an index that stays (one pushed after the plan included) or as a referrer of a digest
 * that stays. A tag "stays" unless the plan removes it and it still points where the plan saw it;
 * an attachment tag (`sha256-<hex>`, `sha256-<hex>.sig`) also stays while its subject stays.
 */

export interface FreshState {
  /** Every tag listed now that resolves, with its digest (a dangling tag is absent). */
  tags: ReadonlyMap<string, string>;
  /** Child digests of the indexes reachable from the current tags. */
  children: ReadonlyMap<string, readonly string[]>;
  /** Digests known to be krill's own throwaway manifests (an untag interrupted half-way). */
  throwaways: ReadonlySet<string>;
  /** Tags listed whose manifest is gone. */
  dangling?: ReadonlySet<string>;
  /** Digests workloads run, re-read right before applying (`--keep-in-use`). */
  live?: ReadonlySet<string>;
  /** Digests pulled since the plan was made (the ledger re-read, `--unpulled-for`), with why. */
  pulled?: ReadonlyMap<string, string>;
}

export type Verdict =
  /** Remove one tag; its manifest stays. */
  | { kind: 'untag'; tag: string; digest: string; detail?: string }
  /** DELETE by digest: removes the manifest and `tags` (those still on it). */
  | { kind: 'delete-manifest'; digest: string; tags: string[]; parent?: string; subject?: string }
  /** Take a referrer out of the fallback index under `tag` (re-read right before the rewrite). */
  | { kind: 'unlist-referrer'; tag: string; index: string; referrer: string }
  /** The tag holds krill's throwaway from an interrupted untag: delete the throwaway. */
  | { kind: 'finish-untag'; tag: string; digest: string }
  /** The tag is still listed without a manifest: remove it (see registry/untag.ts). */
  | { kind: 'remove-dangling'; tag: string }
  | { kind: 'skip'; digest: string; tags: string[]; detail: string }
  | { kind: 'gone'; digest: string; tags: string[] };

/** Tags the plan removes that still point where the plan saw them: only these may go. */
function removableTags(plan: RepositoryPlan, fresh: FreshState): Set<string> {
  const out = new Set<string>();
  for (const action of plan.actions) {
    if (action.kind === 'remove-dangling' || action.kind === 'unlist-referrer') continue;
    const tags = action.kind === 'untag' ? [action.tag] : action.tags;
    for (const tag of tags) if (fresh.tags.get(tag) === action.digest) out.add(tag);
  }
  return out;
}

/** subject → referrers: the current attachment tags, and the subjects the plan recorded. */
function referrerIndex(plan: RepositoryPlan, fresh: FreshState): ReferrerIndex {
  const index = new ReferrerIndex();
  for (const [tag, digest] of fresh.tags) index.addTag(tag, digest);
  for (const action of plan.actions)
    if (action.kind === 'delete-manifest' && action.subject !== undefined) index.add(action.subject, action.digest);
  return index;
}

/** What stays now: tags, and per digest the staying tags (or workloads) that reach it. */
interface Staying {
  removable: Set<string>;
  tags: Array<[string, string]>;
  users: Map<string, string[]>;
}

function judgeStaying(plan: RepositoryPlan, fresh: FreshState, held: ReadonlyMap<string, string>): Staying {
  const removable = removableTags(plan, fresh);
  // A referrer the plan takes out of a fallback index no longer counts as that index's child.
  // Stryker disable next-line ArrayDeclaration: equivalent, a stray entry names no digest.
  const unlisted = new Set(plan.actions.flatMap((a) => (a.kind === 'unlist-referrer' ? [a.referrer] : [])));
  const children = (d: string) => fresh.children.get(d)?.filter((c) => !unlisted.has(c));
  const edges = followAll(children, referrerIndex(plan, fresh));
  // Stryker disable next-line ArrayDeclaration: equivalent, a stray root names no digest.
  const live = [...(fresh.live ?? []), ...held.keys()];
  const stayingTags = () =>
    [...fresh.tags].filter(([tag, digest]) => !removable.has(tag) && !fresh.throwaways.has(digest));
  let tags = stayingTags();
  // An attachment whose subject stays (it gained a tag since the plan) stays with it. Each round
  // keeps at least one more tag, so this ends.
  for (;;) {
    const reach = reachable([...tags.map(([, digest]) => digest), ...live], edges);
    // Stryker disable next-line StringLiteral: equivalent, no digest is named by the fallback.
    const held = [...removable].filter((tag) => reach.has(attachmentSubject(tag) ?? ''));
    if (held.length === 0) break;
    for (const tag of held) removable.delete(tag);
    tags = stayingTags();
  }
  // Which staying tags reach each digest, for the reason shown when a delete is held back.
  const users = new Map<string, string[]>();
  const use = (roots: string[], who: string) => {
    for (const reached of reachable(roots, edges)) users.set(reached, [...(users.get(reached) ?? []), who]);
  };
  for (const [tag, digest] of tags) use([digest], tag);
  use([...(fresh.live ?? [])], 'a workload');
  use([...held.keys()], 'a recent pull');
  return { removable, tags, users };
}

/** A planned tag that points elsewhere now: skipped, or finished when krill's throwaway holds it. */
function moved(fresh: FreshState, tag: string, planned: string): Verdict {
  const at = fresh.tags.get(tag)!;
  if (fresh.throwaways.has(at)) return { kind: 'finish-untag', tag, digest: at };
  return {
    kind: 'skip',
    digest: planned,
    tags: [tag],
    detail: `${tag} now points at ${shortDigest(at)}, not the planned ${shortDigest(planned)}`,
  };
}

const IN_USE = 'kept: in use (live set re-read)';

/**
 * Digests a pull since the plan keeps: the pulled ones, and every index reaching one (a platform
 * pulled keeps its multi-platform image, the ledger's rule: policy/usage.ts).
 */
function heldByPulls(fresh: FreshState): Map<string, string> {
  const held = new Map(fresh.pulled ?? []);
  if (held.size === 0) return held;
  // Each round adds at least one index; an index is added once: this ends.
  for (let added = true; added;) {
    added = false;
    for (const [index, kids] of fresh.children) {
      const child = held.has(index) ? undefined : kids.find((kid) => held.has(kid));
      if (child === undefined) continue;
      held.set(index, held.get(child)!.replace(/^pulled/, 'a platform pulled'));
      added = true;
    }
  }
  return held;
}

/** Why a digest stays whatever the plan says (a workload runs it, someone pulled it), if it does. */
function keptBecause(fresh: FreshState, held: ReadonlyMap<string, string>, digest: string): string | undefined {
  if (fresh.live?.has(digest)) return IN_USE;
  const pulled = held.get(digest);
  return pulled === undefined ? undefined : `kept: ${pulled}`;
}

export function judgeRepository(plan: RepositoryPlan, fresh: FreshState): Verdict[] {
  const held = heldByPulls(fresh);
  const staying = judgeStaying(plan, fresh, held);
  return plan.actions.flatMap((action): Verdict[] => {
    switch (action.kind) {
      case 'remove-dangling':
        if (fresh.dangling?.has(action.tag)) return [action];
        if (fresh.tags.has(action.tag)) {
          const detail = 'the tag resolves again since the plan was made';
          return [{ kind: 'skip', digest: fresh.tags.get(action.tag)!, tags: [action.tag], detail }];
        }
        return [{ kind: 'gone', digest: '', tags: [action.tag] }];
      case 'unlist-referrer':
        // The index may have changed (another writer added a referrer): the executor edits what it finds.
        return fresh.tags.has(action.tag) ? [action] : [{ kind: 'gone', digest: action.index, tags: [action.tag] }];
      case 'untag': {
        const at = fresh.tags.get(action.tag);
        if (fresh.dangling?.has(action.tag)) return [{ kind: 'remove-dangling', tag: action.tag }];
        if (at === undefined) return [{ kind: 'gone', digest: action.digest, tags: [action.tag] }];
        if (at !== action.digest) return [moved(fresh, action.tag, action.digest)];
        const kept = keptBecause(fresh, held, at);
        if (kept !== undefined) return [{ kind: 'skip', digest: at, tags: [action.tag], detail: kept }];
        if (!staying.removable.has(action.tag))
          return [{ kind: 'skip', digest: at, tags: [action.tag], detail: 'kept: its subject stays' }];
        return [{ kind: 'untag', tag: action.tag, digest: action.digest }];
      }
      case 'delete-manifest':
        // A planned tag still listed whose manifest is gone (a run stopped mid-delete: distribution 3
        // can leave the tags of a deleted manifest listed) goes as a dangling tag.
        return [
          ...action.tags
            .filter((tag) => fresh.dangling?.has(tag))
            .map((tag): Verdict => ({ kind: 'remove-dangling', tag })),
          ...judgeDelete(action, fresh, staying, held),
        ];
    }
  });
}

function judgeDelete(
  action: Extract<RepositoryPlan['actions'][number], { kind: 'delete-manifest' }>,
  fresh: FreshState,
  staying: Staying,
  held: ReadonlyMap<string, string>,
): Verdict[] {
  const { digest } = action;
  // Deployed (or pulled) since the plan: its tags stay too (a pod may pull it by tag again).
  const kept = keptBecause(fresh, held, digest);
  if (kept !== undefined) return [{ kind: 'skip', digest, tags: action.tags, detail: kept }];
  // Removable means still on the planned digest (removableTags).
  const still = action.tags.filter((t) => staying.removable.has(t));
  const elsewhere = action.tags.filter((t) => fresh.tags.has(t) && fresh.tags.get(t) !== digest);
  const verdicts = elsewhere.map((tag) => moved(fresh, tag, digest));
  // A forced delete (rm --force) may break an index; only a tag pointing straight at it holds it.
  const holders = action.force
    ? staying.tags.filter(([, at]) => at === digest).map(([tag]) => tag)
    : (staying.users.get(digest) ?? []);
  if (holders.length > 0) {
    // Something that stays uses this digest now: never delete it, only remove the planned tags.
    const why = `${listNames(holders)} ${holders.length === 1 ? 'uses' : 'use'} this digest since the plan was made`;
    for (const tag of still) verdicts.push({ kind: 'untag', tag, digest, detail: `untag only: ${why}` });
    if (still.length === 0) verdicts.push({ kind: 'skip', digest, tags: [], detail: `kept: ${why}` });
    return verdicts;
  }
  if (still.length === 0 && elsewhere.length > 0) return verdicts; // every tag moved
  verdicts.push({
    kind: 'delete-manifest',
    digest,
    tags: still,
    ...(action.parent ? { parent: action.parent } : {}),
    ...(action.subject ? { subject: action.subject } : {}),
  });
  return verdicts;
}
