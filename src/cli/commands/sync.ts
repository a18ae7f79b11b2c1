import { KrillError, UsageError } from '../../errors.js';
import { parseDuration } from '../../duration.js';
import type { SyncOutcome } from '../../sync/sync.js';
import { runRounds } from '../../sync/sync.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { sideLogin } from '../logins.js';
import { SyncReporter } from '../render-sync.js';
import { executePlan } from '../deletion.js';
import { readSyncSpecs } from '../files.js';

export async function execute(ctx: CliContext, [specArgs]: ArgsOf<'sync'>, opts: OptionsOf<'sync'>): Promise<void> {
  const { specs, targetText, prefix } = await readSyncSpecs(specArgs, opts);
  if (specs.length > 0 && targetText === undefined)
    throw new UsageError('name the target registry: --to HOST[:PORT][/PREFIX] (or "target:" in the sync file)');
  if (opts.daemon && opts.prune)
    throw new UsageError('--prune deletes and needs a confirmation: run it as a one-shot sync, not with --daemon');
  const intervalMs = opts.interval !== undefined ? parseDuration(opts.interval, '--interval') : 5 * 60_000;
  const jobs = await ctx.krill.syncJobs(specs, {
    to: targetText ?? '',
    prefix,
    destinationLogin: await sideLogin(ctx, 'dest', {
      username: opts.destUsername,
      password: opts.destPassword,
      passwordStdin: opts.destPasswordStdin,
    }),
  });

  let stopping = false;
  if (opts.daemon) {
    ctx.interruption.graceful = () => {
      stopping = true;
      ctx.io.err('krill: stopping after the current image (Ctrl-C again to abort now)\n');
    };
  }
  const report = new SyncReporter(ctx, opts.dryRun === true);
  const round = () => {
    report.reset();
    return ctx.krill.sync(jobs, {
      dryRun: opts.dryRun === true,
      continueOnError: opts.doNotFail === true || opts.daemon === true,
      daemon: opts.daemon === true,
      onOutcome: report.outcome,
      onSelected: report.selected,
      shouldStop: () => stopping,
      referrers:
        opts.referrers === false ? false : { ...(opts.referrersFilter ? { types: opts.referrersFilter } : {}) },
    });
  };
  if (opts.daemon) {
    const onRound = (o: SyncOutcome[]) => report.roundDone(o, opts.interval ?? '5m');
    await runRounds(round, { intervalMs, stopped: () => stopping, signal: ctx.signal, onRound });
    return;
  }

  let outcomes: SyncOutcome[];
  try {
    outcomes = await round();
  } catch (error) {
    // Interrupted (or stopped by a failure): say what was done before the error is reported.
    report.done();
    if (!ctx.options.json && report.seen.length > 0)
      ctx.io.out(`Synced before stopping: ${report.summary(report.seen)}.\n`);
    throw error;
  } finally {
    report.done();
  }
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (!ctx.options.json) ctx.io.out(`Synced: ${report.summary(outcomes)}.\n`);
  if (opts.prune) {
    const plan = await ctx.krill.planPrune(jobs);
    await executePlan(
      ctx,
      plan,
      { dryRun: opts.dryRun === true, yes: opts.yes === true },
      { question: `Prune these tags on ${plan.registry.host}?`, showKept: false },
    );
  }
  if (failed.length > 0)
    throw new KrillError(
      'REGISTRY',
      `${failed.length} image${failed.length === 1 ? '' : 's'} failed to sync (listed above)`,
    );
}
