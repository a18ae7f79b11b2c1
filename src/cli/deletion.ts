import { writeFile } from 'node:fs/promises';
import { KrillError, ListingSuspectError, RefusedError, UsageError } from '../errors.js';
import { shortDigest } from '../manifest/manifest.js';
import type { ApplyResult, LiveSource, Plan } from '../krill.js';
import { planRefusal } from '../krill.js';
import type { CliContext } from './context.js';
import { startProgress } from './progress.js';
import { planCounts, renderPlan } from './render-plan.js';
import { hangingWrap, wrapToWidth } from './render.js';
import { escapeControl, listNames } from '../text.js';

/** What rm, cleanup and apply share: showing a plan, asking, applying, reporting. */

export interface DeletionFlags {
  dryRun?: boolean;
  yes?: boolean;
  planOut?: string;
  journal?: string;
  /** List every kept tag instead of a summary past ten per repository. */
  showKept?: boolean;
  /** Apply even when the live set cannot be re-read (with the plan's). */
  allowStaleLiveSet?: boolean;
  /** `wide`: full digests, dates and reasons in the plan table. */
  output?: string;
}

/** Asks on the terminal; without one, only --yes may go ahead (exit 2 otherwise, nothing changed). */
export async function confirm(
  ctx: CliContext,
  question: string,
  yes: boolean | undefined,
  action: 'delete' | 'restore' = 'delete',
): Promise<boolean> {
  if (yes) return true;
  if (!ctx.io.stdinIsTty) {
    throw new UsageError(
      `refusing to ${action} without confirmation: there is no terminal to ask on; pass --yes (or --dry-run to preview)`,
    );
  }
  const answer = await ctx.io.prompt(`${question} [y/N] `);
  return /^y(es)?$/i.test(answer.trim());
}

/**
 * One line: nothing is freed until the collector runs. `registry garbage-collect` is the upstream
 * binary's name (Debian's is `docker-registry`, README); on 2.8 never with --delete-untagged
 * (distribution#3178). Not shown for hosted registries that collect on their own, nor with --quiet.
 */
const GC_HINT =
  'Space is freed when the registry garbage-collects: registry garbage-collect CONFIG (without --delete-untagged on distribution 2.8).';
/** GitLab and Harbor collect with their own tools (told apart by their token realm). */
const GC_HINTS = {
  gitlab: "Space is freed by GitLab's registry garbage collection: gitlab-ctl registry-garbage-collect (or online GC).",
  harbor: "Space is freed when Harbor's garbage collection runs (Administration > Clean Up).",
} as const;
const SELF_COLLECTING = /(^|\.)(docker\.io|ghcr\.io|gitlab\.com|quay\.io|amazonaws\.com|azurecr\.io|pkg\.dev|gcr\.io)$/;

/** Shows the plan, saves it, asks, applies and reports. Nothing to do is success. */
export async function executePlan(
  ctx: CliContext,
  plan: Plan,
  flags: DeletionFlags,
  ask: { question: string; showKept?: boolean; keepInUse?: Array<string | LiveSource> },
): Promise<void> {
  const empty = planCounts(plan).actions === 0;
  await presentPlan(ctx, plan, flags, { showKept: ask.showKept ?? true, empty });
  if (await readyToApply(ctx, flags, { question: ask.question, empty }))
    await applyWithJournal(ctx, plan, flags, ask.keepInUse);
  const suspect = plan.repositories.filter((r) => r.listingSuspect !== undefined).map((r) => r.repository);
  if (suspect.length > 0) {
    throw new ListingSuspectError(
      `${suspect.length} repositor${suspect.length === 1 ? 'y was' : 'ies were'} skipped because the tag listing looks wrong (${escapeControl(listNames(suspect))}); nothing was deleted there: check the registry, then rerun with --accept-listing if the listing is right`,
    );
  }
}

/** Saves (--plan-out) and prints the plan; a plan beyond its budget is refused here, also with --dry-run. */
async function presentPlan(
  ctx: CliContext,
  plan: Plan,
  flags: DeletionFlags,
  { showKept, empty }: { showKept: boolean; empty: boolean },
): Promise<void> {
  if (flags.planOut) {
    try {
      await writeFile(flags.planOut, `${JSON.stringify(plan, null, 2)}\n`);
    } catch (error) {
      throw new UsageError(
        `cannot write --plan-out ${flags.planOut}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        { cause: error },
      );
    }
  }
  if (ctx.options.json && (flags.dryRun || empty)) {
    ctx.io.out(`${JSON.stringify({ ...plan, dryRun: flags.dryRun === true }, null, 2)}\n`);
  } else if (!ctx.options.json) {
    ctx.io.out(
      renderPlan(plan, {
        showKept,
        allKept: flags.showKept === true,
        wide: flags.output === 'wide',
        ...(ctx.io.columns ? { width: ctx.io.columns } : {}),
      }),
    );
  }
  if (plan.limits?.refused !== undefined) throw new RefusedError(planRefusal(plan.limits.refused));
  // Applied right away (--yes), the line comes after the result (applyWithJournal): this one would read
  // as "nothing was done" in a CI log.
  const applying = flags.yes === true && flags.dryRun !== true;
  if (flags.planOut && !applying)
    ctx.io.err(`krill: plan saved to ${flags.planOut}; apply it with: krill apply ${flags.planOut}\n`);
}

/** Whether to go on: not after --plan-out alone, nothing to do, a dry run, or a "no". */
async function readyToApply(
  ctx: CliContext,
  flags: DeletionFlags,
  { question, empty }: { question: string; empty: boolean },
): Promise<boolean> {
  // Like `terraform plan -out`: saving the plan is the whole job unless --yes asks to apply it too.
  if (flags.planOut && !flags.yes) return false;
  if (empty) {
    if (!ctx.options.json) ctx.io.out('Nothing to delete.\n');
    return false;
  }
  if (flags.dryRun) {
    if (!ctx.options.json) ctx.io.out('Dry run: nothing was changed.\n');
    return false;
  }
  if (await confirm(ctx, question, flags.yes)) return true;
  ctx.io.err('krill: cancelled; nothing was changed\n');
  return false;
}

/** Applies with an undo journal; stopped midway, says how to undo and how to finish. */
async function applyWithJournal(
  ctx: CliContext,
  plan: Plan,
  flags: DeletionFlags,
  keepInUse: Array<string | LiveSource> | undefined,
): Promise<void> {
  const journal = await ctx.krill.openJournal(plan, flags.journal);
  const progress = startProgress(ctx, 'deleting');
  const done = { changes: 0, of: 0 };
  let result: ApplyResult;
  try {
    result = await ctx.krill.apply(plan, {
      journal,
      onProgress: (changes, of) => {
        Object.assign(done, { changes, of });
        progress.update(changes, of);
      },
      allowStaleLiveSet: flags.allowStaleLiveSet === true,
      ...(keepInUse ? { keepInUse } : {}),
    });
  } catch (error) {
    progress.done();
    if (journal.entries > 0) {
      // One instruction: the same plan finishes the job (it re-checks everything) and appends to
      // the same journal, so one `krill undo` still puts back the whole run.
      const planFile = flags.planOut ?? (await savePlanBeside(plan, journal.path));
      ctx.io.err(
        `krill: stopped after ${done.changes} of ${done.of} changes (each in the undo journal ${journal.path}); to finish, run: krill apply ${planFile} --journal ${journal.path}\n`,
      );
    }
    throw error;
  } finally {
    await journal.close();
  }
  progress.done();
  const failed = result.outcomes.some((o) => o.status === 'failed');
  const planFile = failed ? (flags.planOut ?? (await savePlanBeside(plan, journal.path))) : undefined;
  await reportResult(ctx, plan, result, journal.kept ? journal.path : undefined, planFile);
  if (flags.planOut && !failed) ctx.io.err(`krill: applied; plan saved to ${flags.planOut}\n`);
}

/** Saves the plan next to its journal, so an interrupted or failed run can be finished with `krill apply`. */
async function savePlanBeside(plan: Plan, journalPath: string): Promise<string> {
  const path = `${journalPath.replace(/\.jsonl$/, '')}.plan.json`;
  await writeFile(path, `${JSON.stringify(plan, null, 2)}\n`, { mode: 0o600 });
  return path;
}

async function reportResult(
  ctx: CliContext,
  plan: Plan,
  result: ApplyResult,
  journalPath: string | undefined,
  planFile: string | undefined,
): Promise<void> {
  const failed = result.outcomes.filter((o) => o.status === 'failed');
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify({ ...plan, result: { ...result, journal: journalPath ?? null } }, null, 2)}\n`);
  } else {
    const count = (status: string) =>
      result.outcomes.filter((o) => o.status === status).reduce((n, o) => n + Math.max(1, o.tags.length), 0);
    const width = ctx.io.columns ?? 80;
    for (const o of result.outcomes.filter((x) => x.status === 'skipped' || x.status === 'failed')) {
      const what = o.tags.join(', ') || (o.digest ? shortDigest(o.digest) : '(repository)');
      const line = `${o.status}: ${plan.registry.host}/${o.repository} ${what}: ${escapeControl(o.detail ?? '')}`;
      ctx.io.out(`${hangingWrap(line, width)}\n`);
    }
    ctx.io.out(
      `Deleted ${count('deleted')}, untagged ${count('untagged')}, already gone ${count('already-gone')}, skipped ${count('skipped')}, failed ${count('failed')}.\n`,
    );
    if (journalPath) {
      // The command stays whole on its line, to be copied.
      const undo = `Undo (until garbage collection): krill undo ${journalPath}`;
      ctx.io.out(
        undo.length <= width ? `${undo}\n` : `Undo (until garbage collection):\n  krill undo ${journalPath}\n`,
      );
    }
    const host = plan.registry.host.replace(/:\d+$/, '');
    const flavor = await ctx.krill.registryFlavor(plan.registry);
    if (!ctx.options.quiet && !SELF_COLLECTING.test(host))
      ctx.io.out(`${wrapToWidth(flavor ? GC_HINTS[flavor] : GC_HINT, width)}\n`);
  }
  if (failed.length > 0) {
    const retry = planFile ? `krill apply ${planFile} retries them` : 'rerun the same command to retry them';
    throw new KrillError(
      'REGISTRY',
      `${failed.length} deletion${failed.length === 1 ? '' : 's'} failed (listed above); ${retry}`,
    );
  }
}
