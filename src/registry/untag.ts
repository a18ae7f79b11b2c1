import { randomBytes } from 'node:crypto';
import { InvalidResponseError, UnsupportedError } from '../errors.js';
import { computeDigest } from '../manifest/digest.js';
import { OCI_INDEX } from '../manifest/media-types.js';
import type { FetchedManifest, RequestFlags } from './client.js';
import type { RegistryApi } from './api.js';

/**
 * Removing one tag without touching its manifest or the manifest's other tags. OCI distribution 1.1
 * has `DELETE /v2/<repo>/manifests/<tag>`, used only where a probe showed it removes just the tag;
 * distribution 2.8 answers it 400 DIGEST_INVALID, so the fallback is regclient's and crane's: push a
 * throwaway manifest onto the tag, then delete the throwaway by digest (which removes exactly that
 * tag). The throwaway carries the annotation THROWAWAY_ANNOTATION, so an untag interrupted between
 * the two steps is recognised and finished.
 */

export const THROWAWAY_ANNOTATION = 'io.krill.untag';

export type UntagResult = 'untagged' | 'already-gone' | 'moved';

/**
 * A manifest of the same media type as the original, unique to this operation. It references only
 * the original's config, which the repository already holds; an index gets no children.
 */
export function buildThrowaway(original: Buffer, mediaType: string, tag: string): Buffer {
  const doc = JSON.parse(original.toString('utf8')) as Record<string, unknown>;
  const annotations = { [THROWAWAY_ANNOTATION]: `${tag} ${randomBytes(8).toString('hex')}` };
  const scratch: Record<string, unknown> = { schemaVersion: 2, mediaType };
  if (Array.isArray(doc.manifests)) scratch.manifests = [];
  else if (doc.config) {
    scratch.config = doc.config;
    scratch.layers = [];
  } else
    throw new UnsupportedError(`cannot untag ${tag}: its manifest type ${mediaType || 'unknown'} has no untag method`);
  scratch.annotations = annotations;
  return Buffer.from(JSON.stringify(scratch));
}

/** A throwaway for a tag whose manifest is gone (a dangling tag): an empty OCI index needs no blob. */
export function buildEmptyThrowaway(tag: string): Buffer {
  return buildThrowaway(Buffer.from('{"manifests":[]}'), OCI_INDEX, tag);
}

/** Whether manifest bytes are one of krill's throwaways. */
export function isThrowaway(fetched: FetchedManifest): boolean {
  return fetched.manifest.annotations?.[THROWAWAY_ANNOTATION] !== undefined;
}

/**
 * Every request of an untag ignores Ctrl-C (timeouts still apply): once the throwaway is pushed,
 * stopping before its DELETE would leave the tag on a layerless placeholder. The caller checks the
 * signal before starting the next untag.
 */
const STEP: RequestFlags = { uninterruptible: true };

export class Untagger {
  /** Shown by the probe before the first untag: does a tag delete remove exactly the tag here? */
  #tagDelete: boolean | undefined;
  /** Bytes of the throwaway manifests pushed (the garbage collector frees them too). */
  scratchBytes = 0;

  readonly #client: RegistryApi;

  constructor(client: RegistryApi) {
    this.#client = client;
  }

  /**
   * Removes `tag`, which must point at `expected` (the manifest already fetched for the journal).
   * Right before changing anything the tag is read again: if it moved, nothing is done ('moved').
   */
  async untag(repository: string, tag: string, expected: FetchedManifest): Promise<UntagResult> {
    this.#tagDelete ??= await this.#probeTagDelete(repository, expected);
    const now = await this.#client.digestOf(repository, tag, STEP);
    if (now === undefined) return 'already-gone';
    if (now !== expected.digest) return 'moved';
    if (this.#tagDelete) {
      const result = await this.#client.deleteTag(repository, tag, STEP);
      if (result !== 'unsupported') return result === 'deleted' ? 'untagged' : 'already-gone';
      this.#tagDelete = false;
    }
    return this.#replaceAndDelete(
      repository,
      tag,
      buildThrowaway(expected.bytes, expected.mediaType, tag),
      expected.mediaType,
    );
  }

  /**
   * Whether `DELETE /v2/<repo>/manifests/<tag>` removes exactly that tag on this registry, shown
   * once on a throwaway of krill's own under a probe tag. OCI 1.1, distribution 3 and zot remove
   * the tag and keep the manifest; distribution 2.8 and Harbor refuse it; a registry that deleted
   * the manifest instead would take every sibling tag with it, so its tag delete is never used.
   * The throwaway then goes by digest (4 requests per run; a probe tag left by a crash is a
   * throwaway tag, which the next cleanup finishes).
   */
  async #probeTagDelete(repository: string, expected: FetchedManifest): Promise<boolean> {
    const probe = `krill-probe-${randomBytes(8).toString('hex')}`;
    const scratch = buildThrowaway(expected.bytes, expected.mediaType, probe);
    const digest = computeDigest(scratch);
    await this.#client.putManifest(repository, probe, scratch, expected.mediaType, STEP);
    this.scratchBytes += scratch.length;
    try {
      if ((await this.#client.deleteTag(repository, probe, STEP)) !== 'deleted') return false;
      const tagGone = (await this.#client.digestOf(repository, probe, STEP)) === undefined;
      return tagGone && (await this.#client.digestOf(repository, digest, STEP)) === digest;
    } finally {
      await this.#client.deleteManifest(repository, digest, STEP);
    }
  }

  /** Removes a tag that is listed but whose manifest is gone. */
  async untagDangling(repository: string, tag: string): Promise<UntagResult> {
    return this.#replaceAndDelete(repository, tag, buildEmptyThrowaway(tag), OCI_INDEX);
  }

  async #replaceAndDelete(repository: string, tag: string, scratch: Buffer, mediaType: string): Promise<UntagResult> {
    const digest = computeDigest(scratch);
    const stored = await this.#client.putManifest(repository, tag, scratch, mediaType, STEP);
    this.scratchBytes += scratch.length;
    // Delete only what the registry provably stored under the tag: a registry that rewrote the
    // manifest (or a push that landed in between) would otherwise leave the tag on the throwaway.
    const under = await this.#client.digestOf(repository, tag, STEP);
    if (stored !== digest || under !== digest) {
      throw new InvalidResponseError(
        `${this.#client.host}/${repository}:${tag}: the registry did not keep the throwaway manifest ${digest} under the tag (now ${under ?? 'absent'}); the tag was left as it is`,
      );
    }
    await this.#client.deleteManifest(repository, digest, STEP);
    return 'untagged';
  }

  /** Finishes an untag interrupted after the throwaway was pushed: deletes the throwaway. */
  async finish(repository: string, throwaway: string): Promise<UntagResult> {
    return (await this.#client.deleteManifest(repository, throwaway)) === 'deleted' ? 'untagged' : 'already-gone';
  }
}
