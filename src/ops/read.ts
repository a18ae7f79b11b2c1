import { NotFoundError, UsageError, isNotFound } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import { findPlatform, normalizePlatform, validatePlatform } from '../manifest/manifest.js';
import type { Pattern } from '../pattern.js';
import { compilePattern } from '../pattern.js';
import type { Reference } from '../ref/reference.js';
import { DOCKER_HUB, formatReference } from '../ref/reference.js';
import type { FetchedManifest } from '../registry/client.js';
import type { ImageInspection, TagSummary } from '../registry/image-reader.js';
import { ImageReader } from '../registry/image-reader.js';
import { summarizeTags } from '../registry/tag-summaries.js';
import type { ReferrerNode } from '../registry/referrers.js';
import { referrerTree } from '../registry/referrers.js';
import type { ProgressOptions, Session } from '../session.js';
import { readUsage } from './ledger.js';

/** The read verbs: catalog, tags, manifest, digest, config, inspect. */

/** One row of `krill tags --json`. */
export interface TagRow {
  tag: string;
  digest: string | null;
  mediaType: string;
  created: string | null;
  size: number;
  platforms: string[];
  dangling?: true;
  /** The manifest cannot be used (not a manifest, invalid sizes, a digest mismatch): why. */
  invalid?: string;
  missing?: string[];
  /** Artifacts (signatures, SBOMs, Helm charts): the type; such rows have no platforms. */
  artifactType?: string;
  /** Referrers and attachment tags: the digest they refer to. */
  subject?: string;
  /** An attachment tag: `fallback` (OCI 1.1 `sha256-<hex>` referrers index) or `legacy` (cosign `.sig`). */
  attachment?: 'fallback' | 'legacy';
  /** For a fallback index: the artifact types of the referrers it lists. */
  artifactTypes?: string[];
  /** On an image's row: how many referrers its attachment tags hold, and their short types. */
  referrers?: { count: number; types: string[] };
  /** With a ledger configured: when the digest was last pushed (the real push, not the build date). */
  pushed?: string | null;
  /** With a ledger configured: the last counted pull (null: none the ledger saw), and how many. */
  lastPulled?: string | null;
  pulls?: number;
}

export interface TagsOptions extends ProgressOptions {
  filter?: string;
  exclude?: string;
  /** Names only, sorted (one request per page). Default false. */
  namesOnly?: boolean;
  limit?: number;
}

/** One referrer of `krill inspect`: a signature, SBOM or attestation, with its own referrers. */
export interface ReferrerInfo {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** Bytes of its distinct blobs. */
  size: number;
  created: string | null;
  /** How krill found it: the registry's referrers API, the fallback tag `sha256-<hex>`, a legacy tag. */
  via: 'api' | 'fallback-tag' | 'legacy-tag';
  tag?: string;
  /** Listed, but the registry no longer has it. */
  missing?: true;
  referrers: ReferrerInfo[];
}

export interface Inspection extends ImageInspection {
  referrers: ReferrerInfo[];
}

export interface ReadManifest {
  name: string;
  ref: Reference;
  fetched: FetchedManifest;
  reader: ImageReader;
}

/**
 * A reference whose digest may be short, as the tables print it (`REPO@sha256:3d76b2dbc77f`): it
 * resolves to the one digest among the repository's tags that starts with it (one HEAD per tag),
 * or fails naming the candidates.
 */
export async function resolveReference(session: Session, input: string | Reference): Promise<Reference> {
  const ref = typeof input === 'string' ? session.parseReference(input, { shortDigest: true }) : input;
  if (ref.digestPrefix === undefined) return ref;
  const { digestPrefix: prefix, ...rest } = ref;
  const client = await session.client(ref.registry);
  const tags = await client.listTags(ref.repository);
  const found = new Map<string, string[]>();
  await mapConcurrent(tags, 16, async (tag) => {
    const digest = await client.digestOf(ref.repository, tag);
    if (digest?.startsWith(prefix)) found.set(digest, [...(found.get(digest) ?? []), tag]);
  });
  if (found.size === 0)
    throw new NotFoundError(`no tag of ${ref.repository} points at a digest starting with ${prefix}`);
  if (found.size > 1) {
    const candidates = [...found].map(([d, t]) => `${d} (${t.sort().join(', ')})`).join('; ');
    throw new UsageError(`${prefix} is ambiguous in ${ref.repository}: ${candidates}; give more of the digest`);
  }
  return { ...rest, digest: [...found.keys()][0]! };
}

export async function listRepositories(session: Session, registry: string | undefined): Promise<string[]> {
  const address = registry !== undefined ? session.parseRegistry(registry) : session.defaultRegistry();
  if (address === undefined || address.host === DOCKER_HUB) {
    throw new UsageError(
      'Docker Hub does not offer the catalog API: name a registry, e.g. krill repos registry.example.com',
    );
  }
  return (await (await session.client(address)).listRepositories()).sort();
}

export async function listTagRows(session: Session, repository: string, options: TagsOptions): Promise<TagRow[]> {
  const ref = session.parseRepository(repository);
  const filter = options.filter !== undefined ? compilePattern(options.filter, '--filter') : undefined;
  const exclude = options.exclude !== undefined ? compilePattern(options.exclude, '--exclude') : undefined;
  const client = await session.client(ref.registry);
  const names = (await client.listTags(ref.repository)).filter((tag) => matches(tag, filter, exclude));
  if (options.namesOnly) {
    return names
      .sort()
      .slice(0, options.limit)
      .map((tag) => ({ tag, digest: null, mediaType: '', created: null, size: 0, platforms: [] }));
  }
  const rows = await summarizeTags(client, ref.repository, names, {
    concurrency: session.concurrency,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  let result: TagRow[];
  if (options.limit === undefined) result = rows.map(toTagRow);
  else {
    // --limit counts images; the attachment tags of the images shown come with them.
    const shown = rows.filter((r) => !r.attachment).slice(0, options.limit);
    const digests = new Set(shown.map((r) => r.digest));
    result = rows.filter((r) => shown.includes(r) || (r.attachment && digests.has(r.subject!))).map(toTagRow);
  }
  return session.ledgerConfigured ? withUsage(session, ref, result) : result;
}

/** The ledger's columns: push time, last pull, pulls (a manifest the ledger never saw: null, 0). */
async function withUsage(session: Session, ref: Reference, rows: TagRow[]): Promise<TagRow[]> {
  const digests = [...new Set(rows.flatMap((r) => (r.digest ? [r.digest] : [])))];
  const usage = await readUsage(session, ref.registry.host, ref.repository, digests);
  const iso = (time: number | undefined) => (time === undefined ? null : new Date(time).toISOString());
  return rows.map((row) => {
    const u = row.digest ? usage.get(row.digest) : undefined;
    return { ...row, pushed: iso(u?.lastPush), lastPulled: iso(u?.lastPull), pulls: u?.pulls ?? 0 };
  });
}

export async function readManifest(
  session: Session,
  reference: string,
  options: { platform?: string },
): Promise<ReadManifest> {
  const ref = await resolveReference(session, reference);
  if (options.platform !== undefined) validatePlatform(options.platform);
  const client = await session.client(ref.registry);
  const reader = new ImageReader(client, ref.repository);
  let fetched = reader.remember(await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest'));
  const name = formatReference({
    ...ref,
    ...(ref.digest === undefined && ref.tag === undefined ? { tag: 'latest' } : {}),
  });
  if (options.platform !== undefined && fetched.manifest.kind === 'index') {
    fetched = await reader.manifest(findPlatform(fetched.manifest, options.platform, name).digest);
  }
  return { name, ref, fetched, reader };
}

export async function readDigest(session: Session, reference: string, options: { platform?: string }): Promise<string> {
  if (options.platform !== undefined) return (await readManifest(session, reference, options)).fetched.digest;
  const ref = await resolveReference(session, reference);
  const client = await session.client(ref.registry);
  return (await client.headManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest')).digest;
}

export async function readConfig(session: Session, reference: string, options: { platform?: string }): Promise<Buffer> {
  const { name, ref, fetched } = await readManifest(session, reference, options);
  const m = fetched.manifest;
  if (m.kind !== 'image') {
    throw new UsageError(`${name} is a multi-platform index: pass --platform to choose the image whose config to show`);
  }
  return (await session.client(ref.registry)).getBlob(ref.repository, m.config.digest);
}

export async function inspectImage(
  session: Session,
  reference: string,
  options: { platform?: string },
): Promise<Inspection> {
  const { name, ref, fetched, reader } = await readManifest(session, reference, options);
  const details = await reader.inspect(name, fetched.digest);
  const wanted = options.platform === undefined ? undefined : normalizePlatform(options.platform);
  if (
    wanted !== undefined &&
    details.manifests === undefined &&
    details.platforms.length > 0 &&
    !details.platforms.some((p) => normalizePlatform(p) === wanted)
  ) {
    throw new NotFoundError(
      `${name} is a single-platform image for ${details.platforms.join(', ')}, not ${options.platform}`,
    );
  }
  const client = await session.client(ref.registry);
  const tree = await referrerTree(client, ref.repository, fetched.digest);
  const describe = async (node: ReferrerNode): Promise<ReferrerInfo> => {
    const summary = await reader.summarize(node.descriptor.digest).catch((error: unknown) => {
      if (isNotFound(error)) return undefined; // listed by an index, gone from the registry
      throw error;
    });
    return {
      digest: node.descriptor.digest,
      mediaType: node.descriptor.mediaType,
      artifactType: node.descriptor.artifactType ?? summary?.artifactType ?? null,
      size: summary?.size ?? 0,
      created: summary?.created ?? null,
      via: node.via,
      ...(node.tag !== undefined ? { tag: node.tag } : {}),
      ...(summary === undefined ? { missing: true as const } : {}),
      referrers: await Promise.all(node.referrers.map(describe)),
    };
  };
  return { ...details, referrers: await Promise.all(tree.map(describe)) };
}

function matches(tag: string, filter: Pattern | undefined, exclude: Pattern | undefined): boolean {
  return (!filter || filter.test(tag)) && !(exclude && exclude.test(tag));
}

function toTagRow(r: TagSummary): TagRow {
  return {
    tag: r.tag,
    digest: r.dangling ? null : r.digest,
    mediaType: r.mediaType,
    created: r.created,
    size: r.size,
    platforms: r.platforms,
    ...(r.dangling ? { dangling: true as const } : {}),
    ...(r.invalid !== undefined ? { invalid: r.invalid } : {}),
    ...(r.missing ? { missing: r.missing } : {}),
    ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
    ...(r.subject !== undefined ? { subject: r.subject } : {}),
    ...(r.attachment !== undefined ? { attachment: r.attachment } : {}),
    ...(r.artifactTypes !== undefined ? { artifactTypes: r.artifactTypes } : {}),
    ...(r.referrers !== undefined ? { referrers: r.referrers } : {}),
  };
}
