import { RefusedError } from '../errors.js';
import type { LiveSource } from '../live/live-set.js';
import type { ApplyResult } from '../plan/apply.js';
import { applyPlan } from '../plan/apply.js';
import type { JournalEntry } from '../plan/journal.js';
import { Journal, defaultJournalPath, readJournal } from '../plan/journal.js';
import type { Plan } from '../plan/plan.js';
import { plannedRemovals } from '../plan/plan.js';
import type { UndoOutcome } from '../plan/undo.js';
import { undoJournal } from '../plan/undo.js';
import type { RegistryAddress } from '../ref/reference.js';
import type { ProgressOptions, Session } from '../session.js';
import { pulledSincePlan } from './ledger.js';
import { rereadLiveSet } from './live.js';

/** Apply (with every re-check) and undo, and the journal between them. */

export interface ApplyOptions extends ProgressOptions {
  /** The undo journal: a path, or a journal opened by `openJournal`. Default: the state directory. */
  journal?: string | Journal;
  /**
   * Where to re-read the plan's live set from (default: the plan's sources, as files). Sources read
   * by the caller (stdin, an object given to planCleanup) must be given again here.
   */
  keepInUse?: Array<string | LiveSource>;
  /** A live set that cannot be re-read falls back to the plan's instead of stopping the apply. */
  allowStaleLiveSet?: boolean;
}

/** The one message of a plan over its budget: the CLI shows it with the plan, apply refuses with it. */
export function planRefusal(why: string): string {
  return `${why}: the plan is refused and nothing was deleted; review it, then raise the budget (--max-delete, --max-bytes) or narrow the rules`;
}

/** Opens the undo journal for a run on `registry`: `path`, else a new file in the state directory. */
export function openJournal(session: Session, registry: RegistryAddress, path?: string): Promise<Journal> {
  return Journal.open(path ?? defaultJournalPath(session.env, registry.host));
}

/**
 * Carries out a plan with every re-check `krill apply` performs, journaling before each change.
 * Returns the outcomes and the journal path (undefined when nothing was journaled).
 */
export async function apply(
  session: Session,
  plan: Plan,
  options: ApplyOptions,
): Promise<ApplyResult & { journal: string | undefined }> {
  if (plan.limits?.refused !== undefined) throw new RefusedError(planRefusal(plan.limits.refused));
  const client = await session.client(plan.registry);
  const live = await rereadLiveSet(session, plan, client, options);
  // Rules that judged by pulls: what was pulled since the plan stays (the ledger re-read now).
  const pulled = plan.pullsChecked !== undefined ? await pulledSincePlan(session, plan) : undefined;
  const given = options.journal;
  const journal = given instanceof Journal ? given : await openJournal(session, plan.registry, given);
  // Before the first change, not after: a run killed mid-way (SIGKILL, OOM, a cancelled CI job)
  // must not leave its own deletions to be blamed on the registry by the next listing check.
  await recordRemovals(session, plan);
  try {
    const signal = session.signal();
    const result = await applyPlan(client, plan, {
      journal,
      concurrency: session.concurrency,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(signal ? { signal } : {}),
      ...(live ? { live } : {}),
      ...(pulled ? { pulled } : {}),
    });
    await forgetDeleted(session, plan, result);
    return { ...result, journal: given instanceof Journal || journal.kept ? journal.path : undefined };
  } finally {
    if (!(given instanceof Journal)) await journal.close();
  }
}

/** Puts back what a journal says was removed; tags pushed again since are skipped unless `force`. */
export async function undo(
  session: Session,
  journal: string | JournalEntry[],
  options: { force?: boolean },
): Promise<UndoOutcome[]> {
  const entries = typeof journal === 'string' ? await readJournalEntries(session, journal) : journal;
  return undoJournal((entry) => session.client(entry.registry), entries, { force: options.force === true });
}

/** A journal's entries, validated; a line cut by a crash is a warning. */
export async function readJournalEntries(session: Session, path: string): Promise<JournalEntry[]> {
  const read = await readJournal(path);
  for (const warning of read.warnings) session.logger.warn(warning);
  return read.entries;
}

/** Tags krill removes (or may have removed) never count as "lost" by the next listing check. */
async function recordRemovals(session: Session, plan: Plan): Promise<void> {
  const history = session.history();
  for (const [repository, tags] of plannedRemovals(plan)) {
    await history.markRemoved(plan.registry.host, repository, tags).catch((error: unknown) => {
      session.logger.warn(`could not record the removed tags of ${repository}: ${String(error)}`);
    });
  }
}

/** Digests apply deleted need no HEAD on the next plan (history's known digests, past-manifests.ts). */
async function forgetDeleted(session: Session, plan: Plan, result: ApplyResult): Promise<void> {
  const history = session.history();
  const gone = new Map<string, string[]>();
  for (const o of result.outcomes)
    if (o.status === 'deleted' || o.status === 'already-gone')
      gone.set(o.repository, [...(gone.get(o.repository) ?? []), o.digest]);
  for (const [repository, digests] of gone)
    await history.forget(plan.registry.host, repository, digests).catch(() => undefined); // only saves HEADs
}
