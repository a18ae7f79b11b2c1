import type { CopyProgress } from '../krill.js';
import type { CliContext } from './context.js';
import { startStatusLine } from './progress.js';
import { displayReference, formatBytes, shortDigest, transferLines } from './render.js';

/** The status line of a copy: blobs and bytes, led by the image counter with --all-tags. */
export function startCopyStatus(ctx: CliContext, allTags: boolean) {
  const status = startStatusLine(ctx);
  let images = '';
  return {
    onProgress: (p: CopyProgress) =>
      status.show(
        `copying ${images}${p.blobsDone}/${p.blobsTotal} blobs, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}`,
      ),
    onImage: (done: number, total: number) => {
      if (!allTags) return;
      images = `image ${Math.min(done + 1, total)}/${total}, `;
      status.show(`copied ${done}/${total} images`, true);
    },
    done: () => status.done(),
  };
}

interface CopyReportLine {
  source: string;
  destination: string;
  digest: string;
  blobsCopied: number;
  bytesCopied: number;
  blobsMounted: number;
  blobsSkipped: number;
  referrers?: { copied: number; present: number } | undefined;
}

/** One line per image copied when it fits the width, else the destination and counts under it. */
export function renderCopyReports(reports: readonly CopyReportLine[], width = 80): string {
  return reports
    .map((r) =>
      transferLines(
        'copied',
        displayReference(r.source),
        displayReference(r.destination),
        `${shortDigest(r.digest)}: ${r.blobsCopied} blobs copied (${formatBytes(r.bytesCopied)}), ${r.blobsMounted} mounted, ${r.blobsSkipped} already there${referrersNote(r.referrers)}`,
        width,
      ),
    )
    .join('');
}

function referrersNote(r: { copied: number; present: number } | undefined): string {
  if (!r || r.copied + r.present === 0) return '';
  return `; referrers: ${r.copied} copied, ${r.present} already there`;
}
