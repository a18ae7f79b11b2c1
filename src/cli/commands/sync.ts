import { KrillError, UsageError } from '../../errors.js';
import { parseDuration } from '../../duration.js';
import { parseSyncFile } from '../../sync/sync-file.js';
import type { SyncOutcome } from '../../sync/sync.js';
import { runRounds } from '../../sync/sync.js';
import type { CliContext } from '../context.js';
import { sideLogin } from '../logins.js';
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
  destPasswordStdin?: boolean;
  referrers?: boolean;
  referrersFilter?: string[];
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as SyncFlags;
  let specs = (args[0] as string[] | undefined) ?? [];
  let targetText = opts.to;
  let prefix = opts.prefix;
  if (opts.file !== undefined) {
    const file = parseSyncFile(await readUserFile(opts.file, 'sync file'), opts.file);
    specs = [...specs, ...file.repositories];
    targetText ??= file.target;
    prefix ??= file.prefix;
  }
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
  const print = (o: SyncOutcome) => {
    if (ctx.options.json) return;
    ctx.io.out(
      `${o.status.padEnd(10)} ${o.source} → ${o.destination}${o.digest ? ` ${o.digest}` : ''}${o.referrersCopied ? ` (+${o.referrersCopied} referrers)` : ''}${o.error ? `: ${o.error}` : ''}\n`,
    );
  };
  const round = () =>
    ctx.krill.sync(jobs, {
      dryRun: opts.dryRun === true,
      continueOnError: opts.doNotFail === true || opts.daemon === true,
      daemon: opts.daemon === true,
      onOutcome: print,
      shouldStop: () => stopping,
      referrers:
        opts.referrers === false ? false : { ...(opts.referrersFilter ? { types: opts.referrersFilter } : {}) },
    });

  if (opts.daemon) {
    const summary = (o: SyncOutcome[]) =>
      `${o.filter((x) => x.status === 'copied').length} copied, ${o.filter((x) => x.status === 'failed').length} failed`;
    const onRound = (o: SyncOutcome[]) =>
      ctx.io.err(`krill: sync round done: ${summary(o)}; next in ${opts.interval ?? '5m'}\n`);
    await runRounds(round, { intervalMs, stopped: () => stopping, signal: ctx.signal, onRound });
    return;
  }

  const outcomes = await round();
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(outcomes, null, 2)}\n`);
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (!ctx.options.json) {
    const count = (s: string) => outcomes.filter((o) => o.status === s).length;
    ctx.io.out(
      `Synced: ${count('copied')} copied, ${count('up-to-date')} up to date${opts.dryRun ? `, ${count('would-copy')} would be copied (dry run)` : ''}, ${failed.length} failed.\n`,
    );
  }
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
