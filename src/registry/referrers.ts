import { unlessNotFound } from '../errors.js';
import type { Descriptor } from '../manifest/manifest.js';
import { EMPTY_CONFIG, LEGACY_TYPES, artifactTypeOf, classifyTag, fallbackTag } from '../manifest/referrers.js';
import { readFallbackIndex } from './fallback-index.js';
import type { RegistryApi } from './api.js';

/**
 * Finds what refers to a digest (signatures, SBOMs, attestations), the one place krill does so:
 * the referrers API where the registry has it, else the OCI 1.1 fallback index under the tag
 * `sha256-<hex>`, plus cosign's legacy `sha256-<hex>.sig|.att|.sbom` tags (distribution-spec 1.1
 * "Listing Referrers" and "Referrers tag schema").
 */

export interface FoundReferrer {
  descriptor: Descriptor;
  /** How it was found: the registry's API, the subject's fallback index, or a legacy tag. */
  via: 'api' | 'fallback-tag' | 'legacy-tag';
  /** The tag it was found under (fallback index or legacy tag). */
  tag?: string;
}

export interface ReferrerNode extends FoundReferrer {
  referrers: ReferrerNode[];
}

/** A signature of a signature of …: nothing real nests this deep; a registry that does is cut here. */
export const MAX_REFERRER_DEPTH = 8;

/**
 * Direct referrers of `digest`. `tags` is the repository's tag list when the caller has it (saves
 * the legacy-tag lookups); `types` keeps only those artifact types (empty: all).
 */
export async function discoverReferrers(
  client: RegistryApi,
  repository: string,
  digest: string,
  options: { tags?: readonly string[]; types?: readonly string[] } = {},
): Promise<FoundReferrer[]> {
  const types = options.types ?? [];
  const wanted = (d: Descriptor) =>
    types.length === 0 || (d.artifactType !== undefined && types.includes(d.artifactType));
  const out: FoundReferrer[] = [];
  const api = await client.listReferrers(repository, digest, types.length === 1 ? types[0] : undefined);
  if (api !== undefined) {
    for (const listed of api) {
      const descriptor = types.length > 0 ? await withManifestType(client, repository, listed) : listed;
      if (wanted(descriptor)) out.push({ descriptor, via: 'api' });
    }
  } else {
    const index = await readFallbackIndex(client, repository, digest);
    if (index)
      for (const descriptor of index.manifest.manifests)
        if (wanted(descriptor)) out.push({ descriptor, via: 'fallback-tag', tag: fallbackTag(digest) });
  }
  if (types.length > 0) return out;
  // Legacy tags: from the tag list when the caller has it, else one HEAD per suffix (a tag list of
  // Docker Hub's big repositories is many pages; three HEADs are constant).
  const legacy = ['sig', 'att', 'sbom'].map((suffix) => `${fallbackTag(digest)}.${suffix}`);
  const candidates = options.tags ? legacy.filter((tag) => options.tags!.includes(tag)) : legacy;
  for (const tag of candidates) {
    const head = await unlessNotFound(client.headManifest(repository, tag));
    if (head === undefined || out.some((r) => r.descriptor.digest === head.digest)) continue;
    const kind = classifyTag(tag);
    out.push({
      descriptor: {
        mediaType: head.mediaType,
        digest: head.digest,
        size: head.size,
        ...(kind.kind === 'legacy' ? { artifactType: LEGACY_TYPES[kind.suffix] } : {}),
      },
      via: 'legacy-tag',
      tag,
    });
  }
  return out;
}

/** The referrer graph under `digest`, depth-first, each digest once (a cycle cannot loop). */
export async function referrerTree(
  client: RegistryApi,
  repository: string,
  digest: string,
  options: { tags?: readonly string[]; types?: readonly string[] } = {},
): Promise<ReferrerNode[]> {
  const seen = new Set<string>([digest]);
  const walk = async (subject: string, depth: number): Promise<ReferrerNode[]> => {
    if (depth >= MAX_REFERRER_DEPTH) return [];
    const found = await discoverReferrers(client, repository, subject, options);
    const nodes: ReferrerNode[] = [];
    for (const r of found) {
      if (seen.has(r.descriptor.digest)) continue;
      seen.add(r.descriptor.digest);
      nodes.push({ ...r, referrers: await walk(r.descriptor.digest, depth + 1) });
    }
    return nodes;
  };
  return walk(digest, 0);
}

/**
 * A descriptor whose type says nothing (none, or the empty config's) gets the type its manifest
 * declares. The referrers API must report the manifest's `artifactType` (distribution-spec 1.1
 * "Listing Referrers"); go-containerregistry's registry reports the config media type instead,
 * which would hide every oras or cosign artifact from a type filter. One GET per such descriptor,
 * only when filtering by type.
 */
async function withManifestType(client: RegistryApi, repository: string, d: Descriptor): Promise<Descriptor> {
  if (d.artifactType !== undefined && d.artifactType !== EMPTY_CONFIG) return d;
  const fetched = await unlessNotFound(client.getManifest(repository, d.digest));
  const type = fetched ? artifactTypeOf(fetched.manifest) : undefined;
  return type === undefined ? d : { ...d, artifactType: type };
}
