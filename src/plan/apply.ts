import { randomBytes } from 'node:crypto';
import { AbortedError, AuthError, KrillError, isAbortError, isNotFound } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import { shortDigest } from '../manifest/manifest.js';
import type { FetchedManifest, RegistryClient } from '../registry/client.js';
import { sha256Digest } from '../registry/content-cache.js';
import type { Journal, JournalEntry } from './journal.js';
import type { Plan, PlanAction, RepositoryPlan } from './plan.js';

/**
 * Carries out a plan. Effectful, but it never goes beyond the plan: right before deleting, every
 * planned tag is re-checked to still point at the planned digest (a re-pushed tag is skipped and
 * reported), a manifest a new tag points at is only untagged, and a 404 counts as already done so
 * a rerun after an interruption converges.
 */

export interface ApplyOutcome {
  repository: string;
  status: 'deleted' | 'untagged' | 'already-gone' | 'skipped' | 'failed';
  digest: string;
  tags: string[];
  detail?: string;
}

export interface ApplyResult {
  outcomes: ApplyOutcome[];
  /** Bytes of the throwaway manifests used to untag (the garbage collector frees them too). */
  scratchBytes: number;
}

export interface ApplyOptions {
  journal: Journal;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Errors that make every further request pointless: stop the whole apply. */
function isFatal(error: unknown): boolean {
  return isAbortError(error) || error instanceof AuthError || (error instanceof KrillError && error.code === 'UNSUPPORTED');
}

/**
 * A manifest of the same media type as the original, unique to this operation: it replaces the
 * tag so that deleting it by digest removes exactly that tag (distribution 2.8 has no tag delete).
 * It references only the original's config, which the repository already holds.
 */
export function buildThrowaway(original: Buffer, mediaType: string, tag: string): Buffer {
  const doc = JSON.parse(original.toString('utf8')) as Record<string, unknown>;
  const annotations = { 'io.krill.untag': `${tag} ${randomBytes(8).toString('hex')}` };
  const scratch: Record<string, unknown> = { schemaVersion: 2, mediaType };
  if (Array.isArray(doc.manifests)) scratch.manifests = [];
  else if (doc.config) {
    scratch.config = doc.config;
    scratch.layers = [];
  } else throw new KrillError('UNSUPPORTED', `cannot untag ${tag}: its manifest type ${mediaType || 'unknown'} has no untag method`);
  scratch.annotations = annotations;
  return Buffer.from(JSON.stringify(scratch));
}

export async function applyPlan(client: RegistryClient, plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  const outcomes: ApplyOutcome[] = [];
  const total = plan.repositories.reduce((n, r) => n + r.actions.length, 0);
  let done = 0;
  let scratchBytes = 0;
  let tagDeleteSupported: boolean | undefined;
  const concurrency = options.concurrency ?? 8;
  const tick = () => options.onProgress?.(Math.min(++done, total), total);

  /** `original` is the manifest the tag points at, already fetched for the journal. */
  const untag = async (repository: string, tag: string, original: FetchedManifest): Promise<ApplyOutcome['status']> => {
    if (tagDeleteSupported !== false) {
      const result = await client.deleteTag(repository, tag);
      if (result === 'deleted') {
        tagDeleteSupported = true;
        return 'untagged';
      }
      if (result === 'not-found') return 'already-gone';
      tagDeleteSupported = false;
    }
    const scratch = buildThrowaway(original.bytes, original.mediaType, tag);
    const scratchDigest = sha256Digest(scratch);
    await client.putManifest(repository, tag, scratch, original.mediaType);
    await client.deleteManifest(repository, scratchDigest);
    scratchBytes += scratch.length;
    return 'untagged';
  };

  const applyRepository = async (repo: RepositoryPlan) => {
    if (repo.actions.length === 0) return;
    const { repository } = repo;
    await client.checkDeletesEnabled(repository);
    const checked = await recheckTags(client, repo);

    // 1. Judge every action against the fresh tag state.
    const steps: Step[] = [];
    for (const action of repo.actions) {
      const tags = action.kind === 'untag' ? [action.tag] : action.tags;
      const verdict = checked(action);
      if (verdict.skip) {
        outcomes.push({ repository, status: 'skipped', digest: action.digest, tags, detail: verdict.skip });
        tick();
      } else if (verdict.gone) {
        outcomes.push({ repository, status: 'already-gone', digest: action.digest, tags });
        tick();
      } else if (action.kind === 'delete-manifest' && !verdict.untagInstead) {
        const moved = action.tags.filter((t) => !verdict.tags.includes(t));
        if (moved.length > 0) outcomes.push({ repository, status: 'skipped', digest: action.digest, tags: moved, detail: 'moved to another digest since the plan was made' });
        steps.push({ kind: 'delete-manifest', digest: action.digest, tags: verdict.tags, ...(action.parent ? { parent: action.parent } : {}) });
      } else {
        // Untag: planned as such, or a manifest that a newly pushed tag now points at.
        for (const tag of verdict.tags) steps.push({ kind: 'untag', digest: action.digest, tags: [tag], ...(verdict.untagInstead ? { detail: verdict.untagInstead } : {}) });
        if (verdict.tags.length === 0) tick();
      }
    }

    // 2. Journal everything this repository will remove, synced once, before the first delete.
    const entries: Array<Omit<JournalEntry, 'time'>> = [];
    const ready: Array<Step & { manifest: FetchedManifest }> = [];
    await mapConcurrent(steps, concurrency, async (step) => {
      try {
        const fetched = await client.getManifest(repository, step.digest);
        entries.push({ kind: step.kind, registry: plan.registry, repository, digest: step.digest, mediaType: fetched.mediaType, manifest: fetched.bytes.toString('base64'), tags: step.tags, ...(step.parent ? { parent: step.parent } : {}) });
        ready.push({ ...step, manifest: fetched });
      } catch (error) {
        // Already gone (a rerun after an interruption): nothing to journal, nothing to delete.
        if (!isNotFound(error)) throw error;
        outcomes.push({ repository, status: 'already-gone', digest: step.digest, tags: step.tags });
        tick();
      }
    });
    // Children after their parents in the journal too, so undo restores them first (it reverses them).
    entries.sort((a, b) => Number(Boolean(a.parent)) - Number(Boolean(b.parent)));
    await options.journal.recordAll(entries);

    // 3. Delete: tags and top-level manifests first; platform manifests after their index is
    //    gone, so the registry never holds an index whose children are missing.
    const run = async (step: Step & { manifest: FetchedManifest }) => {
      try {
        if (step.kind === 'delete-manifest') {
          const result = await client.deleteManifest(repository, step.digest);
          outcomes.push({ repository, status: result === 'deleted' ? 'deleted' : 'already-gone', digest: step.digest, tags: step.tags });
        } else {
          const status = await untag(repository, step.tags[0]!, step.manifest);
          outcomes.push({ repository, status, digest: step.digest, tags: step.tags, ...(step.detail ? { detail: step.detail } : {}) });
        }
      } catch (error) {
        if (isFatal(error)) throw error;
        outcomes.push({ repository, status: 'failed', digest: step.digest, tags: step.tags, detail: error instanceof Error ? error.message : String(error) });
      } finally {
        tick();
      }
    };
    await mapConcurrent(ready.filter((st) => !st.parent), concurrency, run);
    await mapConcurrent(ready.filter((st) => st.parent), concurrency, run);
  };

  try {
    await mapConcurrent(plan.repositories, Math.max(1, Math.floor(concurrency / 2)), applyRepository);
  } catch (error) {
    if (isAbortError(error)) throw new AbortedError('interrupted: the journal lists what was deleted; rerun the same command to finish', { cause: error });
    throw error;
  }
  return { outcomes, scratchBytes };
}

/** One registry operation, after the re-check. */
interface Step {
  kind: 'delete-manifest' | 'untag';
  digest: string;
  tags: string[];
  parent?: string;
  detail?: string;
}

interface Verdict {
  /** Why this action must not run at all. */
  skip?: string;
  /** Everything it would remove is already gone. */
  gone?: boolean;
  /** Tags this action still removes. */
  tags: string[];
  /** Set when a manifest delete is downgraded to untagging, and why. */
  untagInstead?: string;
}

/**
 * Re-reads the tag list and the digest of every tag the plan removes, plus every tag the plan has
 * never seen (pushed since). Returns a function judging each action against that fresh state.
 */
async function recheckTags(client: RegistryClient, repo: RepositoryPlan): Promise<(action: PlanAction) => Verdict> {
  const { repository } = repo;
  const current = new Set(await client.listTags(repository));
  const planned = new Set([...repo.keep, ...repo.delete].map((t) => t.tag));
  // Every current tag, kept ones included: a kept tag re-pushed onto a digest this plan deletes
  // would otherwise go with it.
  const now = new Map<string, string>();
  await mapConcurrent([...current], 16, async (tag) => {
    const digest = await client.digestOf(repository, tag);
    if (digest !== undefined) now.set(tag, digest);
  });
  const keptOn = (digest: string) => repo.keep.filter((t) => now.get(t.tag) === digest && t.digest !== digest).map((t) => t.tag);
  const newTagsOn = (digest: string) => [...[...current].filter((t) => !planned.has(t) && now.get(t) === digest), ...keptOn(digest)];

  return (action) => {
    const intruders = newTagsOn(action.digest);
    if (action.kind === 'untag') {
      const at = now.get(action.tag);
      if (at === undefined) return { gone: true, tags: [] };
      if (at !== action.digest) return { skip: `${action.tag} now points at ${shortDigest(at)}, not the planned ${shortDigest(action.digest)}`, tags: [] };
      return { tags: [action.tag] };
    }
    if (action.parent) {
      return intruders.length > 0 ? { skip: `tagged since the plan was made (${intruders.join(', ')})`, tags: [] } : { tags: [] };
    }
    const still = action.tags.filter((t) => now.get(t) === action.digest);
    const moved = action.tags.filter((t) => now.has(t) && now.get(t) !== action.digest);
    if (intruders.length > 0) {
      if (still.length === 0) return { skip: `tagged since the plan was made (${intruders.join(', ')})`, tags: [] };
      return { tags: still, untagInstead: `untag only: ${intruders.join(', ')} was pushed onto this digest since the plan was made` };
    }
    if (action.tags.length > 0 && still.length === 0) {
      return moved.length > 0 ? { skip: `${moved.join(', ')} now point${moved.length === 1 ? 's' : ''} at another digest`, tags: [] } : { gone: true, tags: [] };
    }
    return { tags: still };
  };
}
