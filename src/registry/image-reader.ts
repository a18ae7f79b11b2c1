import { InvalidResponseError, isNotFound } from '../errors.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../manifest/manifest.js';
import { referrerFieldsOf } from '../manifest/referrers.js';
import {
  formatPlatform,
  isAttestationEntry,
  normalizeCreated,
  parseImageConfig,
  sumDistinctBlobs,
} from '../manifest/manifest.js';
import { DOCKER_CONFIG, OCI_CONFIG } from '../manifest/media-types.js';
import type { FetchedManifest } from './client.js';
import type { RegistryApi } from './api.js';

/**
 * Reads what `tags` and `inspect` show: digest, created, size, platforms. Every manifest and config
 * is fetched at most once per run (in-flight promises are shared), and by digest so the disk cache
 * serves them on the next run.
 */

export interface ImageSummary {
  digest: string;
  mediaType: string;
  /** ISO 8601 UTC; for an index the newest of its platforms; null when unknown. */
  created: string | null;
  /** Bytes of the distinct config and layer blobs (of every platform, for an index). */
  size: number;
  /** e.g. ["linux/amd64", "linux/arm64/v8"]; attestation entries left out. */
  platforms: string[];
  /** Children of an index that the registry no longer has (a damaged index), if any. */
  missing?: string[];
  /** For an artifact (signature, SBOM, Helm chart…): its type; it has no platform. */
  artifactType?: string;
  /** OCI 1.1 `subject`: the manifest this one refers to. */
  subject?: string;
}

/** Nested indexes deeper than this are refused (OCI images nest one or two levels). */
const MAX_DEPTH = 8;
/** Configs bigger than this are not fetched: the image is listed without date or platform. */
const MAX_CONFIG_SIZE = 8 * 1024 * 1024;
const CREATED_ANNOTATION = 'org.opencontainers.image.created';

export interface TagSummary extends ImageSummary {
  tag: string;
  /** Listed, but the registry no longer has its manifest. */
  dangling?: boolean;
  /** Listed, but its manifest cannot be used (not a manifest, invalid sizes, a digest mismatch): why. */
  invalid?: string;
  /** An attachment tag: the OCI 1.1 fallback referrers index, or a legacy cosign `.sig/.att/.sbom`. */
  attachment?: 'fallback' | 'legacy';
  /** For a fallback index: the artifact types of the referrers it lists. */
  artifactTypes?: string[];
  /** On an image's row: what its attachment tags in this listing hold (count and short labels). */
  referrers?: { count: number; types: string[] };
}

export interface LayerInfo {
  digest: string;
  mediaType: string;
  size: number;
}

export interface ConfigInfo {
  digest: string;
  author: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  dockerVersion: string | null;
  labels: Record<string, string>;
  historySteps: number;
}

export interface PlatformEntry {
  platform: string;
  digest: string;
  mediaType: string;
  size: number;
  created: string | null;
}

export interface ImageInspection extends ImageSummary {
  reference: string;
  layers?: LayerInfo[];
  config?: ConfigInfo;
  manifests?: PlatformEntry[];
}

interface Internals {
  summary: ImageSummary;
  /** Found missing (404) while reading an index. */
  absent?: boolean;
  /** Blobs counted in `size`, to merge children of an index without double counting. */
  blobs: Descriptor[];
}

export interface ListTagsOptions {
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export class ImageReader {
  readonly #manifests = new Map<string, Promise<FetchedManifest>>();
  readonly #configs = new Map<string, Promise<ImageConfig | undefined>>();
  readonly #summaries = new Map<string, Promise<Internals>>();
  /** Digests whose manifest graph is known to have no cycle. */
  readonly #acyclic = new Set<string>();
  readonly #client: RegistryApi;
  readonly #repository: string;

  constructor(client: RegistryApi, repository: string) {
    this.#client = client;
    this.#repository = repository;
  }

  manifest(digest: string): Promise<FetchedManifest> {
    let pending = this.#manifests.get(digest);
    if (!pending) {
      pending = this.#client.getManifest(this.#repository, digest);
      this.#manifests.set(digest, pending);
    }
    return pending;
  }

  /** An image config; undefined when the blob is not a JSON object (fetch errors still throw). */
  config(digest: string): Promise<ImageConfig | undefined> {
    let pending = this.#configs.get(digest);
    if (!pending) {
      const where = `${this.#client.host}/${this.#repository} config ${digest}`;
      pending = this.#client.getBlob(this.#repository, digest).then((bytes) => {
        try {
          return parseImageConfig(bytes, where);
        } catch {
          return undefined;
        }
      });
      this.#configs.set(digest, pending);
    }
    return pending;
  }

  /** The digest a listed tag points at, or undefined when its manifest is gone (a dangling tag). */
  async tagDigest(tag: string, warm: boolean): Promise<string | undefined> {
    try {
      return (await this.resolveTag(tag, warm)).digest;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return undefined;
    }
  }

  /**
   * Resolves a tag to its manifest. Cold cache: one GET by tag (the body fills the cache). Warm
   * cache: one HEAD for the digest, and the body comes from disk.
   */
  async resolveTag(tag: string, warm: boolean): Promise<FetchedManifest> {
    if (warm) {
      const head = await this.#client.headManifest(this.#repository, tag);
      return this.manifest(head.digest);
    }
    return this.remember(await this.#client.getManifest(this.#repository, tag));
  }

  /** Records a manifest fetched elsewhere (e.g. by tag) so it is not fetched again by digest. */
  remember(fetched: FetchedManifest): FetchedManifest {
    if (!this.#manifests.has(fetched.digest)) this.#manifests.set(fetched.digest, Promise.resolve(fetched));
    return fetched;
  }

  async summarize(digest: string): Promise<ImageSummary> {
    await this.assertAcyclic(digest);
    return (await this.#internals(digest)).summary;
  }

  /**
   * Refuses a manifest graph with a cycle (an index that references itself, directly or not) or
   * nested beyond MAX_DEPTH. Run before the memoised walks below, which would otherwise wait on
   * themselves forever. No in-flight promise is shared here, so this walk cannot deadlock.
   */
  async assertAcyclic(digest: string, path: readonly string[] = []): Promise<void> {
    if (this.#acyclic.has(digest)) return;
    const where = `${this.#client.host}/${this.#repository}`;
    if (path.includes(digest))
      throw new InvalidResponseError(`${where}: the manifest graph has a cycle: ${digest} references itself`);
    if (path.length >= MAX_DEPTH)
      throw new InvalidResponseError(`${where}: indexes nested deeper than ${MAX_DEPTH} levels at ${digest}`);
    let fetched: FetchedManifest;
    try {
      fetched = await this.manifest(digest);
    } catch (error) {
      if (path.length > 0 && isNotFound(error)) return; // a missing child: shown as damaged, not a cycle
      throw error;
    }
    if (fetched.manifest.kind === 'index')
      await Promise.all(fetched.manifest.manifests.map((child) => this.assertAcyclic(child.digest, [...path, digest])));
    this.#acyclic.add(digest);
  }

  #internals(digest: string): Promise<Internals> {
    let pending = this.#summaries.get(digest);
    if (!pending) {
      pending = this.#compute(digest);
      this.#summaries.set(digest, pending);
    }
    return pending;
  }

  /** The summary of a child of an index, or a marker when the registry no longer has it. */
  async #child(digest: string): Promise<Internals> {
    try {
      return await this.#internals(digest);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return { summary: { digest, mediaType: '', created: null, size: 0, platforms: [] }, blobs: [], absent: true };
    }
  }

  /**
   * The image config, only when it is one: artifacts (Helm charts, signatures, SBOMs) have configs
   * of other types, possibly not JSON or very large; they never fail a listing, they just have no
   * date or platform from the config.
   */
  async #imageConfig(manifest: ImageManifest): Promise<ImageConfig | undefined> {
    const type = manifest.config.mediaType;
    if (type !== DOCKER_CONFIG && type !== OCI_CONFIG) return undefined;
    if (manifest.config.size > MAX_CONFIG_SIZE) return undefined;
    return this.config(manifest.config.digest);
  }

  async #compute(digest: string): Promise<Internals> {
    const fetched = await this.manifest(digest);
    const { manifest } = fetched;
    if (manifest.kind === 'image') {
      const config = await this.#imageConfig(manifest);
      const blobs = [manifest.config, ...manifest.layers];
      const platform =
        config?.os && config.architecture
          ? [
              formatPlatform({
                os: config.os,
                architecture: config.architecture,
                ...(config.variant ? { variant: config.variant } : {}),
              }),
            ]
          : [];
      // The annotation is the date of artifacts (Helm, oras, notation write it) and the fallback of images.
      const created = normalizeCreated(config?.created) ?? normalizeCreated(manifest.annotations?.[CREATED_ANNOTATION]);
      return {
        summary: {
          digest,
          mediaType: fetched.mediaType,
          created,
          size: sumDistinctBlobs(blobs),
          platforms: platform,
          ...referrerFieldsOf(manifest),
        },
        blobs,
      };
    }
    if (manifest.kind === 'index') {
      const children = manifest.manifests.filter((d) => !isAttestationEntry(d));
      const parts = await Promise.all(manifest.manifests.map((child) => this.#child(child.digest)));
      const missing = parts.filter((p) => p.absent).map((p) => p.summary.digest);
      const runnable = parts.filter((_, i) => !isAttestationEntry(manifest.manifests[i]!));
      const blobs = parts.flatMap((p, i) => (p.absent || isAttestationEntry(manifest.manifests[i]!) ? [] : p.blobs));
      const created =
        runnable
          .map((p) => p.summary.created)
          .filter((c): c is string => c !== null)
          .sort()
          .at(-1) ?? normalizeCreated(manifest.annotations?.[CREATED_ANNOTATION]);
      const platforms = children
        .map((child, i) => (child.platform ? formatPlatform(child.platform) : runnable[i]!.summary.platforms[0]))
        .filter((p): p is string => p !== undefined);
      return {
        summary: {
          digest,
          mediaType: fetched.mediaType,
          created,
          size: sumDistinctBlobs(blobs),
          platforms: [...new Set(platforms)],
          ...(missing.length > 0 ? { missing } : {}),
          ...referrerFieldsOf(manifest),
        },
        blobs,
      };
    }
    return { summary: { digest, mediaType: fetched.mediaType, created: null, size: 0, platforms: [] }, blobs: [] };
  }

  /** Full details of one manifest, as `inspect` shows them. */
  async inspect(reference: string, digest: string): Promise<ImageInspection> {
    const summary = await this.summarize(digest);
    const { manifest } = await this.manifest(digest);
    if (manifest.kind === 'image') {
      const config = await this.#imageConfig(manifest);
      const layers = manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size }));
      if (!config) return { reference, ...summary, layers };
      return {
        reference,
        ...summary,
        layers,
        config: {
          digest: manifest.config.digest,
          author: config.author ?? null,
          os: config.os ?? null,
          architecture: config.architecture ?? null,
          variant: config.variant ?? null,
          dockerVersion: config.docker_version ?? null,
          labels: config.config?.Labels ?? {},
          historySteps: Array.isArray(config.history) ? config.history.length : 0,
        },
      };
    }
    if (manifest.kind === 'index') {
      const children = manifest.manifests.filter((d) => !isAttestationEntry(d));
      const manifests = await Promise.all(
        children.map(async (child) => {
          const s = await this.summarize(child.digest);
          return {
            platform: child.platform ? formatPlatform(child.platform) : (s.platforms[0] ?? 'unknown'),
            digest: child.digest,
            mediaType: child.mediaType,
            size: s.size,
            created: s.created,
          };
        }),
      );
      return { reference, ...summary, manifests };
    }
    return { reference, ...summary };
  }
}

/**
 * Why a manifest cannot be used, when the error says the registry served something invalid (not a
 * manifest, invalid sizes, a digest mismatch); undefined for errors that are not about the content
 * (network, auth, 5xx), which still fail the listing.
 */
export function unusableReason(error: unknown): string | undefined {
  return error instanceof InvalidResponseError ? error.message : undefined;
}
