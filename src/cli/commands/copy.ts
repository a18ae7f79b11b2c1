import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { sideLogin } from '../logins.js';
import { renderCopyReports, startCopyStatus } from '../render-copy.js';

export async function execute(
  ctx: CliContext,
  [source, destination]: ArgsOf<'copy'>,
  opts: OptionsOf<'copy'>,
): Promise<void> {
  if ((opts.srcPassword !== undefined || opts.destPassword !== undefined) && !ctx.options.json) {
    ctx.logger.warn(
      '--src-password/--dest-password on the command line are visible in shell history and process lists',
    );
  }
  const sourceLogin = await sideLogin(ctx, 'src', {
    username: opts.srcUsername,
    password: opts.srcPassword,
    passwordStdin: opts.srcPasswordStdin,
  });
  const destinationLogin = await sideLogin(ctx, 'dest', {
    username: opts.destUsername,
    password: opts.destPassword,
    passwordStdin: opts.destPasswordStdin,
  });
  const status = startCopyStatus(ctx, opts.allTags === true);
  let reports;
  try {
    reports = await ctx.krill.copy(source, destination, {
      allTags: opts.allTags === true,
      ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
      sourceLogin,
      destinationLogin,
      onProgress: status.onProgress,
      onImage: status.onImage,
      referrers: opts.referrers,
      ...(opts.referrersFilter ? { referrerTypes: opts.referrersFilter } : {}),
    });
  } finally {
    status.done();
  }
  ctx.io.out(ctx.options.json ? `${JSON.stringify(reports, null, 2)}\n` : renderCopyReports(reports, ctx.io.columns));
}
