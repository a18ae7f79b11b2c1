import { KrillError, UsageError } from '../../errors.js';
import { parseDuration } from '../../duration.js';
import type { SyncOutcome } from '../../sync/sync.js';
import { runRounds } from '../../sync/sync.js';
import type { CliContext } from '../context.js';
import { sideLogin } from '../logins.js';
import { startProgress } from '../progress.js';
import { formatBytes } from '../render.js';
import { executePlan } from '../deletion.js';
import { readSyncSpecs } from '../files.js';

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
  destPasswordStdin?: boolean;
  referrers?: boolean;
  referrersFilter?: string[];
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as SyncFlags;
  const { specs, targetText, prefix } = await readSyncSpecs((args[0] as string[] | undefined) ?? [], opts);
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
  // One line per image that changed (or failed); up-to-date ones only with --verbose; on a
  // terminal an overall counter (`syncing 120/305`) below them.
  const progress = startProgress(ctx, 'syncing');
  let total = 0;
  let seen: SyncOutcome[] = [];
  const print = (o: SyncOutcome) => {
    seen.push(o);
    progress.done();
    if (!ctx.options.json && (o.status !== 'up-to-date' || o.referrersCopied || ctx.options.verbose)) {
      const copied = o.blobsCopied !== undefined ? ` (${o.blobsCopied} blobs, ${formatBytes(o.bytesCopied ?? 0)})` : '';
      const referrers = o.referrersCopied ? ` (+${o.referrersCopied} referrers)` : '';
      ctx.io.out(
        `${o.status.padEnd(10)} ${o.source} → ${o.destination}${o.digest ? ` ${o.digest}` : ''}${copied}${referrers}${o.error ? `: ${o.error}` : ''}\n`,
      );
    }
    progress.update(seen.length, total);
  };
  const round = () => {
    total = 0;
    seen = [];
    return ctx.krill.sync(jobs, {
      dryRun: opts.dryRun === true,
      continueOnError: opts.doNotFail === true || opts.daemon === true,
      daemon: opts.daemon === true,
      onOutcome: print,
      onSelected: (count) => (total += count),
      shouldStop: () => stopping,
      referrers:
        opts.referrers === false ? false : { ...(opts.referrersFilter ? { types: opts.referrersFilter } : {}) },
    });
  };
  const summarize = (outcomes: SyncOutcome[]) => {
    const count = (status: string) => outcomes.filter((o) => o.status === status).length;
    return `${count('copied')} copied, ${count('up-to-date')} up to date${opts.dryRun ? `, ${count('would-copy')} would be copied (dry run)` : ''}, ${count('failed')} failed`;
  };

  if (opts.daemon) {
    const summary = (o: SyncOutcome[]) =>
      `${o.filter((x) => x.status === 'copied').length} copied, ${o.filter((x) => x.status === 'failed').length} failed`;
    const onRound = (o: SyncOutcome[]) =>
      ctx.io.err(
        `krill: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} sync round done: ${summary(o)}; next in ${opts.interval ?? '5m'}\n`,
      );
    await runRounds(round, { intervalMs, stopped: () => stopping, signal: ctx.signal, onRound });
    return;
  }

  let outcomes: SyncOutcome[];
  try {
    outcomes = await round();
  } catch (error) {
    // Interrupted (or stopped by a failure): say what was done before the error is reported.
    progress.done();
    if (!ctx.options.json && seen.length > 0) ctx.io.out(`Synced before stopping: ${summarize(seen)}.\n`);
    throw error;
  } finally {
    progress.done();
  }
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (!ctx.options.json) ctx.io.out(`Synced: ${summarize(outcomes)}.\n`);
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
