import type { CopyProgress } from '../../sync/copy.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { sideLogin } from '../logins.js';
import { formatBytes } from '../render.js';
import { startStatusLine } from '../progress.js';

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
  const status = startStatusLine(ctx);
  // With --all-tags the line leads with the image counter (`image 3/40`).
  let images = '';
  const onProgress = (p: CopyProgress) =>
    status.show(
      `copying ${images}${p.blobsDone}/${p.blobsTotal} blobs, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`,
    );
  const onImage = (done: number, total: number) => {
    if (!opts.allTags) return;
    images = `image ${Math.min(done + 1, total)}/${total}, `;
    status.show(`copied ${done}/${total} images`, true);
  };
  let reports;
  try {
    reports = await ctx.krill.copy(source, destination, {
      allTags: opts.allTags === true,
      ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
      sourceLogin: await sideLogin(ctx, 'src', {
        username: opts.srcUsername,
        password: opts.srcPassword,
        passwordStdin: opts.srcPasswordStdin,
      }),
      destinationLogin: await sideLogin(ctx, 'dest', {
        username: opts.destUsername,
        password: opts.destPassword,
        passwordStdin: opts.destPasswordStdin,
      }),
      onProgress,
      onImage,
      referrers: opts.referrers,
      ...(opts.referrersFilter ? { referrerTypes: opts.referrersFilter } : {}),
    });
  } finally {
    status.done();
  }
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify(reports, null, 2)}\n`);
    return;
  }
  for (const r of reports) {
    ctx.io.out(
      `${r.source} → ${r.destination} ${r.digest}: ${r.blobsCopied} blobs copied (${formatBytes(r.bytesCopied)}), ${r.blobsMounted} mounted, ${r.blobsSkipped} already there${referrersNote(r.referrers)}\n`,
    );
  }
}

function referrersNote(r: { copied: number; present: number } | undefined): string {
  if (!r || r.copied + r.present === 0) return '';
  return `; referrers: ${r.copied} copied, ${r.present} already there`;
}
