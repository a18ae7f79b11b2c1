import { SHAPES, checkOptions } from '../check-options.js';
import { UsageError } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import { validatePlatform } from '../manifest/manifest.js';
import { attachmentSubject } from '../manifest/referrers.js';
import type { Reference } from '../ref/reference.js';
import { formatReference } from '../ref/reference.js';
import type { Login, Session } from '../session.js';
import type { CopyProgress, CopyResult } from '../sync/copy.js';
import type { ReferrerCopyResult } from '../sync/copy-referrers.js';
import { copyWithReferrers } from '../sync/copy-referrers.js';

export interface CopyRequest {
  platform?: string;
  /** Copy every tag of the source repository (the destination is then a repository). */
  allTags?: boolean;
  sourceLogin?: Login;
  destinationLogin?: Login;
  onProgress?: (progress: CopyProgress) => void;
  /** Copy signatures, SBOMs and attestations with the image (default true; `--no-referrers`). */
  referrers?: boolean;
  /** Only referrers of these artifact types (`--referrers-filter`). */
  referrerTypes?: string[];
  /** After each image (with `allTags`, an overall counter): images done and in all. */
  onImage?: (done: number, total: number, report: CopyReport) => void;
}

export interface CopyReport extends CopyResult {
  source: string;
  destination: string;
  /** The referrers carried along (absent with `referrers: false`). */
  referrers?: ReferrerCopyResult;
}

/** Copies an image (or, with `allTags`, a repository) keeping digests; credentials per side. */
export async function copyImages(
  session: Session,
  source: string,
  destination: string,
  request: CopyRequest,
): Promise<CopyReport[]> {
  checkOptions(request.sourceLogin, 'copy options.sourceLogin', SHAPES.login);
  checkOptions(request.destinationLogin, 'copy options.destinationLogin', SHAPES.login);
  const src = request.allTags ? session.parseRepository(source) : session.parseReference(source);
  const dst = session.parseReference(destination);
  if (request.allTags && (dst.tag !== undefined || dst.digest !== undefined))
    throw new UsageError('with --all-tags, DST is a repository: drop its :TAG');
  if (dst.digest !== undefined)
    throw new UsageError(`"${destination}": a destination names a tag, not a digest (the digest is kept as it is)`);
  if (request.platform !== undefined) validatePlatform(request.platform);
  session.setDestination(dst.registry);
  const from = await session.client(src.registry, {
    role: 'source',
    ...(request.sourceLogin ? { login: request.sourceLogin } : {}),
  });
  const to = await session.client(dst.registry, {
    role: 'destination',
    ...(request.destinationLogin ? { login: request.destinationLogin } : {}),
  });
  const jobs = request.allTags
    ? (await from.listTags(src.repository)).sort().map((tag) => ({ reference: tag, tags: [tag] }))
    : [singleCopyJob(src, dst)];
  const reports: CopyReport[] = [];
  const sourceTags = request.allTags ? jobs.map((j) => j.reference) : undefined;
  await mapConcurrent(jobs, request.allTags ? 2 : 1, async (job) => {
    // With --all-tags, attachment tags are copied as tags like any other; their images take the rest.
    const withReferrers = request.referrers !== false && attachmentSubject(job.reference) === undefined;
    const result = await copyWithReferrers(
      { client: from, repository: src.repository },
      job.reference,
      { client: to, repository: dst.repository },
      job.tags,
      {
        ...(request.platform !== undefined ? { platform: request.platform } : {}),
        concurrency: session.outerConcurrency,
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
        referrers: withReferrers
          ? {
              ...(request.referrerTypes ? { types: request.referrerTypes } : {}),
              ...(sourceTags ? { sourceTags } : {}),
            }
          : false,
      },
    );
    const source = formatReference({
      ...src,
      ...(job.reference.includes(':') ? { digest: job.reference } : { tag: job.reference }),
    });
    const destination = formatReference({
      ...dst,
      ...(job.tags[0] ? { tag: job.tags[0] } : { digest: result.digest }),
    });
    const report: CopyReport = { ...result, source, destination };
    reports.push(report);
    request.onImage?.(reports.length, jobs.length, report);
  });
  return reports;
}

/** One image to copy: the source's digest or tag (default latest), under the destination's tag or the source's. */
function singleCopyJob(src: Reference, dst: Reference): { reference: string; tags: string[] } {
  const reference = src.digest ?? src.tag ?? 'latest';
  const tag = dst.tag ?? (src.digest === undefined ? (src.tag ?? 'latest') : undefined);
  return { reference, tags: tag === undefined ? [] : [tag] };
}
