import { setTimeout as sleep } from 'node:timers/promises';
import { KrillError, UsageError, isAbortError, isNotFound } from '../../errors.js';
import { makePlan } from '../../plan/make-plan.js';
import { buildRepositoryPlan } from '../../plan/plan.js';
import type { TagDecision } from '../../policy/evaluate.js';
import { parseDuration } from '../../policy/rules.js';
import { readRepositorySnapshot } from '../../registry/snapshot.js';
import type { SyncSpec, SyncTarget } from '../../sync/spec.js';
import { autoPrefix, destinationRepository, parseSyncTarget } from '../../sync/spec.js';
import { parseSyncFile } from '../../sync/sync-file.js';
import type { SyncJob, SyncOutcome } from '../../sync/sync.js';
import { selectTags, syncJob } from '../../sync/sync.js';
import type { CliContext } from '../context.js';
import { executePlan } from '../deletion.js';
import { readUserFile } from '../files.js';

interface SyncFlags {
  to?: string;
  file?: string;
  prefix?: string;
  dryRun?: boolean;
  daemon?: boolean;
  interval?: string;
  doNotFail?: boolean;
  prune?: boolean;
  yes?: boolean;
  destUsername?: string;
  destPassword?: string;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as SyncFlags;
  let specs = (args[0] as string[] | undefined) ?? [];
  let targetText = opts.to;
  let prefixMode = opts.prefix;
  if (opts.file !== undefined) {
    const file = parseSyncFile(await readUserFile(opts.file, 'sync file'), opts.file);
    specs = [...specs, ...file.repositories];
    targetText ??= file.target;
    prefixMode ??= file.prefix;
  }
  if (specs.length === 0) throw new UsageError('name what to sync: krill sync SPEC… --to TARGET, or krill sync -f FILE');
  if (targetText === undefined) throw new UsageError('name the target registry: --to HOST[:PORT][/PREFIX] (or "target:" in the sync file)');
  if (opts.daemon && opts.prune) throw new UsageError('--prune deletes and needs a confirmation: run it as a one-shot sync, not with --daemon');
  const intervalMs = opts.interval !== undefined ? parseDuration(opts.interval, '--interval') : 5 * 60_000;
  const plainHttp = ctx.options.plainHttp ?? false;
  const target: SyncTarget = parseSyncTarget(targetText, { plainHttp });
  const parsed: SyncSpec[] = specs.map((s) => ctx.parseSpec(s));
  const prefixFor = (spec: SyncSpec) => (prefixMode === 'auto' ? [target.prefix, autoPrefix(spec.source.registry)].filter(Boolean).join('/') : [target.prefix, prefixMode].filter(Boolean).join('/'));

  ctx.setDestination(target.registry);
  const destination = await ctx.client(target.registry, { role: 'destination', login: { username: opts.destUsername, password: opts.destPassword } });
  const jobs: SyncJob[] = [];
  for (const spec of parsed) {
    jobs.push({ spec, source: await ctx.client(spec.source.registry, { role: 'source' }), destination, destinationRepository: destinationRepository(target, spec.source.repository, prefixFor(spec)) });
  }

  let stopping = false;
  if (opts.daemon) {
    ctx.interruption.graceful = () => {
      stopping = true;
      ctx.io.err('krill: stopping after the current image (Ctrl-C again to abort now)\n');
    };
  }
  const print = (o: SyncOutcome) => {
    if (ctx.options.json) return;
    ctx.io.out(`${o.status.padEnd(10)} ${o.source} → ${o.destination}${o.digest ? ` ${o.digest}` : ''}${o.error ? `: ${o.error}` : ''}\n`);
  };

  const runOnce = async (): Promise<SyncOutcome[]> => {
    const all: SyncOutcome[] = [];
    for (const job of jobs) {
      if (stopping) break;
      try {
        all.push(...(await syncJob(job, { dryRun: opts.dryRun === true, continueOnError: opts.doNotFail === true || opts.daemon === true, onOutcome: print, shouldStop: () => stopping })));
      } catch (error) {
        if (isAbortError(error) || !opts.daemon) throw error;
        // Daemon mode: a whole spec failing (listing, auth) is logged and the loop goes on.
        ctx.logger.warn(`${job.spec.input}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return all;
  };

  if (opts.daemon) {
    while (!stopping) {
      const outcomes = await runOnce();
      const failed = outcomes.filter((o) => o.status === 'failed').length;
      ctx.io.err(`krill: sync round done: ${outcomes.filter((o) => o.status === 'copied').length} copied, ${failed} failed; next in ${opts.interval ?? '5m'}\n`);
      try {
        await waitOrStop(intervalMs, () => stopping, ctx.signal);
      } catch {
        break;
      }
    }
    return;
  }

  const outcomes = await runOnce();
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (!ctx.options.json) {
    const count = (s: string) => outcomes.filter((o) => o.status === s).length;
    ctx.io.out(`Synced: ${count('copied')} copied, ${count('up-to-date')} up to date${opts.dryRun ? `, ${count('would-copy')} would be copied (dry run)` : ''}, ${failed.length} failed.\n`);
  }
  if (opts.prune) await prune(ctx, jobs, opts);
  if (failed.length > 0) throw new KrillError('REGISTRY', `${failed.length} image${failed.length === 1 ? '' : 's'} failed to sync (listed above)`);
}

/** Sleeps for the interval, waking every second to notice a graceful stop. */
async function waitOrStop(ms: number, stopped: () => boolean, signal: AbortSignal): Promise<void> {
  const end = Date.now() + ms;
  while (!stopped() && Date.now() < end) await sleep(Math.min(1000, end - Date.now()), undefined, { signal });
}

/**
 * --prune: tags at the destination that the source no longer has go, with the same safety as
 * `krill rm` (shared digests untagged, plan shown, confirmation or --yes).
 */
async function prune(ctx: CliContext, jobs: SyncJob[], opts: SyncFlags): Promise<void> {
  const destination = jobs[0]!.destination;
  const byRepo = new Map<string, Set<string>>();
  for (const job of jobs) {
    if (job.spec.source.tag !== undefined) continue; // a single named tag says nothing about the others
    // The source's whole tag list, not the filtered one: ~/REGEX/ narrows what is copied, never
    // what is kept (a tag outside the filter still exists at the source).
    const { tags, listed } = await selectTags(job.source, job.spec);
    const wanted = byRepo.get(job.destinationRepository) ?? new Set<string>();
    for (const t of [...listed, ...tags]) wanted.add(t);
    byRepo.set(job.destinationRepository, wanted);
  }
  const snapshots = [];
  const plans = [];
  for (const [repository, wanted] of byRepo) {
    let snapshot;
    try {
      snapshot = await readRepositorySnapshot(destination, repository, { concurrency: ctx.options.concurrency });
    } catch (error) {
      if (isNotFound(error)) continue;
      throw error;
    }
    const decisions: TagDecision[] = snapshot.tags.map(({ tag, digest }) =>
      wanted.has(tag) ? { tag, digest, action: 'keep', reason: 'at the source' } : { tag, digest, action: 'delete', reason: 'no longer at the source' },
    );
    snapshots.push(snapshot);
    plans.push(buildRepositoryPlan(snapshot, decisions));
  }
  const plan = makePlan(destination.address, plans, snapshots, false);
  await executePlan(ctx, destination, plan, { dryRun: opts.dryRun === true, yes: opts.yes === true }, { question: `Prune these tags on ${destination.host}?`, showKept: false });
}
