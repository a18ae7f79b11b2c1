import { unlessNotFound } from '../errors.js';
import type { Descriptor, IndexManifest } from '../manifest/manifest.js';
import { OCI_INDEX } from '../manifest/media-types.js';
import { fallbackTag } from '../manifest/referrers.js';
import type { RegistryApi } from './api.js';
import type { FetchedManifest } from './client.js';
import type { FoundReferrer } from './referrers.js';

/**
 * The OCI 1.1 referrers fallback (distribution-spec "Referrers Tag Schema"): on a registry without
 * the referrers API, the referrers of a subject are listed in an image index under the tag
 * `sha256-<hex>` of the subject's digest, and whoever pushes or deletes a referrer edits that index.
 * krill reads it (registry/referrers.ts), adds to it when copying (sync/copy-referrers.ts), and
 * takes entries out when deleting (plan/apply.ts); the index itself is handled only here.
 */

interface Endpoint {
  client: RegistryApi;
  repository: string;
}

/** A fetched manifest known to be an image index. */
type FetchedIndex = FetchedManifest & { manifest: IndexManifest };

/** The index under `tag`, when the tag holds one (anything else there is not a fallback index). */
async function readIndexAt(client: RegistryApi, repository: string, tag: string): Promise<FetchedIndex | undefined> {
  const fetched = await unlessNotFound(client.getManifest(repository, tag));
  return fetched?.manifest.kind === 'index' ? (fetched as FetchedIndex) : undefined;
}

/** The fallback index of `subject`, when its tag holds one. */
export function readFallbackIndex(
  client: RegistryApi,
  repository: string,
  subject: string,
): Promise<FetchedIndex | undefined> {
  return readIndexAt(client, repository, fallbackTag(subject));
}

/**
 * Lists `referrers` in the destination's fallback index of `subject`, unless the destination has
 * the referrers API (it lists them itself). A missing index is written with the source's bytes
 * when they list exactly these referrers (same digest at both ends), else built fresh.
 */
export async function addToFallbackIndex(
  source: Endpoint,
  destination: Endpoint,
  subject: string,
  referrers: Descriptor[],
  found: FoundReferrer[],
): Promise<void> {
  if ((await destination.client.listReferrers(destination.repository, subject)) !== undefined) return;
  const tag = fallbackTag(subject);
  const current = await readFallbackIndex(destination.client, destination.repository, subject);
  let entries: Array<Record<string, unknown>>;
  let base: Record<string, unknown>;
  if (current) {
    base = JSON.parse(current.bytes.toString('utf8')) as Record<string, unknown>;
    entries = [...(base.manifests as Array<Record<string, unknown>>)];
  } else {
    // Byte-for-byte the source's index when it lists exactly what was copied.
    const sourceIndex = found.some((f) => f.via === 'fallback-tag')
      ? await readFallbackIndex(source.client, source.repository, subject)
      : undefined;
    if (
      sourceIndex &&
      sourceIndex.manifest.manifests.length === referrers.length &&
      sourceIndex.manifest.manifests.every((d) => referrers.some((r) => r.digest === d.digest))
    ) {
      await destination.client.putManifest(destination.repository, tag, sourceIndex.bytes, sourceIndex.mediaType);
      return;
    }
    base = { schemaVersion: 2, mediaType: OCI_INDEX };
    entries = [];
  }
  const missing = referrers.filter((r) => !entries.some((e) => e.digest === r.digest));
  if (missing.length === 0) return;
  for (const r of missing)
    entries.push({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
      ...(r.annotations !== undefined ? { annotations: r.annotations } : {}),
    });
  const bytes = Buffer.from(JSON.stringify({ ...base, manifests: entries }));
  await destination.client.putManifest(destination.repository, tag, bytes, current?.mediaType || OCI_INDEX);
}

/**
 * Takes `referrer` out of the fallback index under `tag`, read right now so that a referrer another
 * writer added since the plan stays (the window between this read and the PUT is one round trip:
 * the registry API offers no conditional PUT). An index left empty is deleted.
 */
export async function removeFromFallbackIndex(
  client: RegistryApi,
  repository: string,
  tag: string,
  referrer: string,
): Promise<{ status: 'untagged' | 'already-gone'; digest?: string }> {
  const current = await readIndexAt(client, repository, tag);
  if (!current) return { status: 'already-gone' };
  const doc = JSON.parse(current.bytes.toString('utf8')) as { manifests: Array<{ digest?: unknown }> };
  const left = doc.manifests.filter((d) => d.digest !== referrer);
  if (left.length === doc.manifests.length) return { status: 'already-gone', digest: current.digest };
  if (left.length === 0) {
    await client.deleteManifest(repository, current.digest);
  } else {
    const bytes = Buffer.from(JSON.stringify({ ...doc, manifests: left }));
    await client.putManifest(repository, tag, bytes, current.mediaType);
  }
  return { status: 'untagged', digest: current.digest };
}
