import { KrillError, UsageError } from '../../errors.js';
import { parseDuration } from '../../duration.js';
import type { SyncOutcome } from '../../krill.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { sideLogin } from '../logins.js';
import { SyncReporter } from '../render-sync.js';
import { executePlan } from '../deletion.js';
import { readSyncSpecs } from '../files.js';

type Options = OptionsOf<'sync'>;

export async function execute(ctx: CliContext, [specArgs]: ArgsOf<'sync'>, opts: Options): Promise<void> {
  const { specs, targetText, prefix, immutable, immutableBySpec } = await readSyncSpecs(specArgs, opts);
  if (specs.length > 0 && targetText === undefined)
    throw new UsageError('name the target registry: --to HOST[:PORT][/PREFIX] (or "target:" in the sync file)');
  if (opts.daemon && opts.prune)
    throw new UsageError('--prune deletes and needs a confirmation: run it as a one-shot sync, not with --daemon');
  const intervalMs = opts.interval !== undefined ? parseDuration(opts.interval, '--interval') : 5 * 60_000;
  const destinationLogin = await sideLogin(ctx, 'dest', {
    username: opts.destUsername,
    password: opts.destPassword,
    passwordStdin: opts.destPasswordStdin,
  });
  const jobs = await ctx.krill.syncJobs(specs, {
    to: targetText ?? '',
    prefix,
    destinationLogin,
    ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
    ...(immutable !== undefined ? { immutable } : {}),
    ...(immutableBySpec ? { immutableBySpec } : {}),
  });

  let stopping = false;
  const report = new SyncReporter(ctx, opts.dryRun === true);
  const options = {
    dryRun: opts.dryRun === true,
    continueOnError: opts.doNotFail === true || opts.daemon === true,
    onOutcome: report.outcome,
    onSelected: report.selected,
    referrers: opts.referrers && { ...(opts.referrersFilter ? { types: opts.referrersFilter } : {}) },
  };
  if (opts.daemon) {
    ctx.interruption.graceful = () => {
      stopping = true;
      ctx.io.err('krill: stopping after the current image (Ctrl-C again to abort now)\n');
    };
    await ctx.krill.syncDaemon(jobs, {
      ...options,
      intervalMs,
      stopped: () => stopping,
      onRoundStart: () => report.reset(),
      onRound: (o: SyncOutcome[]) => report.roundDone(o, opts.interval ?? '5m'),
    });
    return;
  }

  const outcomes = await report.once(() => {
    report.reset();
    return ctx.krill.sync(jobs, options);
  });
  if (opts.prune) {
    const plan = await ctx.krill.planPrune(jobs);
    const flags = { dryRun: opts.dryRun === true, yes: opts.yes === true };
    await executePlan(ctx, plan, flags, { question: `Prune these tags on ${plan.registry.host}?`, showKept: false });
  }
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  if (failed > 0)
    throw new KrillError('REGISTRY', `${failed} image${failed === 1 ? '' : 's'} failed to sync (listed above)`);
}
