import { setTimeout as sleep } from 'node:timers/promises';
import { NotFoundError, isAbortError, isNotFound } from '../errors.js';
import type { RemoteTags } from '../model/remote-tags.js';
import { DEFAULT_CONCURRENCY, Limiter, mapConcurrent } from '../http/limiter.js';
import { formatReference } from '../ref/reference.js';
import type { RegistryApi } from '../registry/api.js';
import { attachmentSubject } from '../manifest/referrers.js';
import type { ReferrerCopyOptions } from './copy-referrers.js';
import { copyReferrers, copyWithReferrers, referrerSubjects } from './copy-referrers.js';
import type { Pattern } from '../pattern.js';
import type { SyncSpec } from './spec.js';

/**
 * lstags-style sync of one spec: for each selected tag, HEAD source and destination and copy only
 * when the destination lacks the tag or has another digest. A second run with nothing new copies
 * nothing.
 */

export type SyncStatus = 'copied' | 'up-to-date' | 'would-copy' | 'failed';

export interface SyncOutcome {
  tag: string;
  source: string;
  destination: string;
  status: SyncStatus;
  digest?: string;
  error?: string;
  /** Referrer manifests copied with (or after) the image. */
  referrersCopied?: number;
  /** For a copied image: blobs uploaded or mounted, and bytes uploaded. */
  blobsCopied?: number;
  bytesCopied?: number;
  /** Up to date because the tag is declared immutable and the destination lists it (no digest read). */
  immutable?: true;
}

export interface SyncOptions {
  dryRun?: boolean;
  /** Go on after a failed tag (the outcome says `failed`); otherwise the first failure throws. */
  continueOnError?: boolean;
  /** Images copied at once (default 2; each runs its own blob transfers). */
  concurrency?: number;
  /**
   * Tags checked at once (default 8): a check is a HEAD on each side, and a warm round is nothing
   * but checks, so they must not queue behind the two-at-a-time copies.
   */
  checkConcurrency?: number;
  onOutcome?: (outcome: SyncOutcome) => void;
  /** Checked before each tag: true stops before starting another image (daemon shutdown). */
  shouldStop?: () => boolean;
  /** Called once per job with the number of tags it will look at (for an overall counter). */
  onSelected?: (count: number) => void;
  /** false: images only (`--no-referrers`); else which referrer types travel (default all). */
  referrers?: false | { types?: string[] };
}

export interface SyncJob {
  spec: SyncSpec;
  source: RegistryApi;
  destination: RegistryApi;
  destinationRepository: string;
  /** Tags that never change once pushed (`--immutable`): one the destination lists is done. */
  immutable?: Pattern;
}

/**
 * The tags a spec selects. `REPO:TAG` and `REPO=TAG1,TAG2` name their tags and nothing else: as in
 * lstags, the tag list is not read at all (so a token without list permission works). Otherwise the
 * tag list, filtered by `~/REGEX/`. `named` says which of the two it was; `listed` is the whole,
 * unfiltered tag list (empty for named specs).
 */
export async function selectTags(
  source: RegistryApi,
  spec: SyncSpec,
): Promise<{ tags: string[]; listed: Set<string>; named: boolean }> {
  if (spec.source.tag !== undefined || spec.assumed.length > 0) {
    const named = [...new Set([...(spec.source.tag !== undefined ? [spec.source.tag] : []), ...spec.assumed])];
    return { tags: named.sort(), listed: new Set(), named: true };
  }
  const listed = new Set(await source.listTags(spec.source.repository));
  const selected = [...listed].filter((t) => !spec.filter || spec.filter.test(t));
  return { tags: selected.sort(), listed, named: false };
}

/**
 * The daemon loop: a round, then the interval, until `stopped()` (a graceful stop lets the current
 * round finish its image) or the signal aborts the wait.
 */
export async function runRounds<T>(
  round: () => Promise<T>,
  options: { intervalMs: number; stopped: () => boolean; signal?: AbortSignal; onRound?: (result: T) => void },
): Promise<void> {
  while (!options.stopped()) {
    options.onRound?.(await round());
    const end = Date.now() + options.intervalMs;
    try {
      // Wakes every second to notice a graceful stop.
      while (!options.stopped() && Date.now() < end) {
        await sleep(
          Math.min(1000, end - Date.now()),
          undefined,
          options.signal ? { signal: options.signal } : undefined,
        );
      }
    } catch {
      return; // aborted while waiting
    }
  }
}

/**
 * Registry side of a spec for compare: tags with digests (`listed`), and named tags the registry
 * does not have (`assumed`, digest null). A named spec compares only the tags it names.
 */
export async function readRemoteTags(client: RegistryApi, spec: SyncSpec, concurrency: number): Promise<RemoteTags> {
  const { tags, named } = await selectTags(client, spec);
  const remote: RemoteTags = { listed: new Map(), assumed: new Map(), namedOnly: named };
  await mapConcurrent(tags, concurrency, async (tag) => {
    const digest = (await client.digestOf(spec.source.repository, tag)) ?? null;
    if (digest !== null) remote.listed.set(tag, digest);
    else remote.assumed.set(tag, null);
  });
  return remote;
}

/** The digests of a second registry's tags that a spec (or the first registry) names. */
export async function readTagDigests(
  client: RegistryApi,
  repository: string,
  spec: SyncSpec,
  remote: RemoteTags,
  concurrency: number,
): Promise<Map<string, string>> {
  const there = new Map<string, string>();
  let tags: string[] = [];
  try {
    tags = await client.listTags(repository);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const wanted = tags.filter(
    (t) => !spec.filter || spec.filter.test(t) || remote.listed.has(t) || remote.assumed.has(t),
  );
  await mapConcurrent(wanted, concurrency, async (tag) => {
    const digest = await client.digestOf(repository, tag);
    if (digest) there.set(tag, digest);
  });
  return there;
}

export async function syncJob(job: SyncJob, options: SyncOptions = {}): Promise<SyncOutcome[]> {
  const { spec } = job;
  const { tags, listed } = await selectTags(job.source, spec);
  options.onSelected?.(tags.length);
  const referrers: ReferrerCopyOptions | false =
    options.referrers === false
      ? false
      : {
          ...(options.referrers?.types ? { types: options.referrers.types } : {}),
          ...(listed.size > 0 ? { sourceTags: [...listed] } : {}),
        };
  const outcomes: SyncOutcome[] = [];
  // Declared-immutable tags the destination already lists are done: one tag list instead of a
  // HEAD pair per tag (a warm mirror round costs one request per repository on each side).
  const present = job.immutable ? await destinationTags(job) : new Set<string>();
  const copies = new Limiter(options.concurrency ?? 2);
  await mapConcurrent(tags, options.checkConcurrency ?? DEFAULT_CONCURRENCY, async (tag) => {
    if (options.shouldStop?.()) return;
    const names = {
      tag,
      source: formatReference({ ...spec.source, tag }),
      destination: formatReference({ registry: job.destination.address, repository: job.destinationRepository, tag }),
    };
    let outcome: SyncOutcome | undefined;
    try {
      // Attachment tags are synced as tags like any other; their images carry the rest.
      outcome =
        job.immutable?.test(tag) && present.has(tag)
          ? { ...names, status: 'up-to-date', immutable: true }
          : await syncTag(job, names, attachmentSubject(tag) === undefined ? referrers : false, options, copies);
    } catch (error) {
      if (isAbortError(error) || !options.continueOnError) throw error;
      outcome = { ...names, status: 'failed', error: error instanceof Error ? error.message : String(error) };
    }
    if (outcome === undefined) return; // stopped before copying
    outcomes.push(outcome);
    options.onOutcome?.(outcome);
  });
  return outcomes.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

/** The destination's tags (none when the repository does not exist there yet). */
async function destinationTags(job: SyncJob): Promise<Set<string>> {
  try {
    return new Set(await job.destination.listTags(job.destinationRepository));
  } catch (error) {
    if (isNotFound(error)) return new Set();
    throw error;
  }
}

/** One tag: copied when the destination lacks it or has another digest; its referrers follow. */
async function syncTag(
  job: SyncJob,
  names: { tag: string; source: string; destination: string },
  carry: ReferrerCopyOptions | false,
  options: SyncOptions,
  copies: Limiter,
): Promise<SyncOutcome | undefined> {
  const { spec } = job;
  const { tag } = names;
  const sourceEnd = { client: job.source, repository: spec.source.repository };
  const destinationEnd = { client: job.destination, repository: job.destinationRepository };
  const [from, to] = await Promise.all([
    job.source.digestOf(spec.source.repository, tag),
    job.destination.digestOf(job.destinationRepository, tag),
  ]);
  if (from === undefined)
    throw new NotFoundError(
      `${names.source} not found at the source${spec.assumed.includes(tag) ? ' (a tag named with =)' : ''}`,
    );
  if (from === to) {
    const outcome: SyncOutcome = { ...names, status: 'up-to-date', digest: from };
    // A signature pushed after the image was synced still arrives (nothing is written otherwise).
    if (carry !== false && !options.dryRun) {
      const root = await job.source.getManifest(spec.source.repository, from);
      const copied = await copyReferrers(sourceEnd, destinationEnd, referrerSubjects(root), carry);
      if (copied.copied > 0) outcome.referrersCopied = copied.copied;
    }
    return outcome;
  }
  if (options.dryRun) return { ...names, status: 'would-copy', digest: from };
  // A stop asked for while this image waited for a copy slot (daemon shutdown): it is not started.
  const result = await copies.run(async () =>
    options.shouldStop?.()
      ? undefined
      : copyWithReferrers(sourceEnd, tag, destinationEnd, [tag], { concurrency: 4, referrers: carry }),
  );
  if (result === undefined) return undefined;
  return {
    ...names,
    status: 'copied',
    digest: result.digest,
    blobsCopied: result.blobsCopied + result.blobsMounted,
    bytesCopied: result.bytesCopied,
    ...(result.referrers && result.referrers.copied > 0 ? { referrersCopied: result.referrers.copied } : {}),
  };
}
