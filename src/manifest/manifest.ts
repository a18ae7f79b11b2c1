import { InvalidResponseError, NotFoundError, UsageError } from '../errors.js';
import { isDigest } from './digest.js';
import { OCI_INDEX, OCI_MANIFEST, isImageManifestMediaType, isIndexMediaType } from './media-types.js';

/** Types for the JSON documents a registry serves, and pure helpers over them. No I/O here. */

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  /** OCI 1.1: the artifact type of the manifest this descriptor points at (referrers lists carry it). */
  artifactType?: string;
  /** Foreign (non-distributable) layers: fetched from these URLs, not stored in registries. */
  urls?: string[];
}

export interface ImageManifest {
  kind: 'image';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  /** OCI 1.1: the manifest this one refers to (a signature's or an SBOM's image). */
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface UnknownManifest {
  kind: 'unknown';
  mediaType: string;
  annotations?: Record<string, string>;
}

export type Manifest = ImageManifest | IndexManifest | UnknownManifest;

/** The parts of an image config (OCI image-spec `config`) krill shows. */
export interface ImageConfig {
  created?: string;
  author?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  docker_version?: string;
  config?: { Labels?: Record<string, string> | null };
  history?: unknown[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A descriptor from the network. Its digest becomes a URL path segment and its size is summed, so
 * both are checked here: a digest with path characters or a negative, fractional or unsafe size
 * makes the whole manifest invalid.
 */
function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isRecord(value) || typeof value.digest !== 'string' || typeof value.size !== 'number') {
    throw new InvalidResponseError(`${where}: descriptor without digest or size`);
  }
  if (!isDigest(value.digest)) {
    throw new InvalidResponseError(
      `${where}: descriptor digest ${JSON.stringify(value.digest.slice(0, 160))} is not a sha256 or sha512 digest`,
    );
  }
  if (!Number.isSafeInteger(value.size) || value.size < 0) {
    throw new InvalidResponseError(`${where}: descriptor ${value.digest} has an invalid size ${String(value.size)}`);
  }
  const descriptor: Descriptor = {
    mediaType: typeof value.mediaType === 'string' ? value.mediaType : '',
    digest: value.digest,
    size: value.size,
  };
  if (
    isRecord(value.platform) &&
    typeof value.platform.os === 'string' &&
    typeof value.platform.architecture === 'string'
  ) {
    descriptor.platform = {
      os: value.platform.os,
      architecture: value.platform.architecture,
      ...(typeof value.platform.variant === 'string' ? { variant: value.platform.variant } : {}),
    };
  }
  const annotations = parseAnnotations(value.annotations);
  if (annotations) descriptor.annotations = annotations;
  if (typeof value.artifactType === 'string') descriptor.artifactType = value.artifactType;
  if (Array.isArray(value.urls) && value.urls.length > 0)
    descriptor.urls = value.urls.filter((u): u is string => typeof u === 'string');
  return descriptor;
}

/** String-valued annotations only (image-spec: "values MUST be strings"). */
function parseAnnotations(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) if (typeof v === 'string') out[key] = v;
  return out;
}

/**
 * Parses manifest bytes. `mediaType` is the Content-Type the registry sent, if any; the body's
 * own `mediaType` wins when present, and an OCI document without one is recognised by shape
 * (image-spec makes the field optional for OCI manifests).
 */
export function parseManifest(bytes: Uint8Array, mediaType: string | undefined, where: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new InvalidResponseError(`${where}: manifest is not valid JSON`, { cause });
  }
  if (!isRecord(doc)) throw new InvalidResponseError(`${where}: manifest is not a JSON object`);
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  let type = declared ?? mediaType ?? '';
  if (declared === undefined && !isIndexMediaType(type) && !isImageManifestMediaType(type)) {
    if (Array.isArray(doc.manifests)) type = OCI_INDEX;
    else if (isRecord(doc.config) && Array.isArray(doc.layers)) type = OCI_MANIFEST;
  }
  if (isIndexMediaType(type)) {
    if (!Array.isArray(doc.manifests)) throw new InvalidResponseError(`${where}: index without "manifests"`);
    const index: IndexManifest = {
      kind: 'index',
      mediaType: type,
      manifests: doc.manifests.map((m) => parseDescriptor(m, where)),
    };
    addReferrerFields(index, doc, where);
    return index;
  }
  if (isImageManifestMediaType(type)) {
    if (!Array.isArray(doc.layers)) throw new InvalidResponseError(`${where}: manifest without "layers"`);
    const manifest: ImageManifest = {
      kind: 'image',
      mediaType: type,
      config: parseDescriptor(doc.config, where),
      layers: doc.layers.map((l) => parseDescriptor(l, where)),
    };
    addReferrerFields(manifest, doc, where);
    return manifest;
  }
  return { kind: 'unknown', mediaType: type };
}

/** `subject`, `artifactType` and `annotations`, shared by image manifests and indexes (image-spec 1.1). */
function addReferrerFields(target: ImageManifest | IndexManifest, doc: Record<string, unknown>, where: string): void {
  if (doc.subject !== undefined && doc.subject !== null) target.subject = parseDescriptor(doc.subject, where);
  if (typeof doc.artifactType === 'string') target.artifactType = doc.artifactType;
  const annotations = parseAnnotations(doc.annotations);
  if (annotations) target.annotations = annotations;
}

export function parseImageConfig(bytes: Uint8Array, where: string): ImageConfig {
  try {
    const doc: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (!isRecord(doc)) throw new Error('not an object');
    return doc as ImageConfig;
  } catch (cause) {
    throw new InvalidResponseError(`${where}: image config is not a JSON object`, { cause });
  }
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((p) => p !== undefined && p !== '').join('/');
}

/**
 * BuildKit stores provenance/SBOM attestations in the index as `unknown/unknown` entries; they are
 * not runnable platforms (docs.docker.com/build/attestations/attestation-storage/).
 */
export function isAttestationEntry(descriptor: Descriptor): boolean {
  return (
    descriptor.platform?.os === 'unknown' ||
    descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
  );
}

/**
 * Dates that reproducible builds stamp on every image, so they say nothing about age: the Unix
 * epoch (ko, Bazel rules_oci, Nix) and Cloud Native Buildpacks' 1980-01-01T00:00:01Z.
 */
const PLACEHOLDER_DATES = new Set([Date.parse('1980-01-01T00:00:01Z')]);

/**
 * `created` as ISO 8601 UTC, or null when missing, unparsable, the Unix epoch or another
 * reproducible-build placeholder: such a date must not win or lose keep-N.
 */
export function normalizeCreated(created: unknown): string | null {
  if (typeof created !== 'string') return null;
  const time = Date.parse(created);
  if (Number.isNaN(time) || time <= 0 || PLACEHOLDER_DATES.has(time)) return null;
  return new Date(time).toISOString();
}

/** Sum of distinct blobs: each digest counted once, whatever number of manifests reference it. */
export function sumDistinctBlobs(descriptors: Iterable<Descriptor>): number {
  const seen = new Map<string, number>();
  for (const d of descriptors) seen.set(d.digest, d.size);
  let total = 0;
  for (const size of seen.values()) total += size;
  return total;
}

/** `sha256:` and the first 12 hex characters, like docker's short image ids. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon === -1 ? digest : digest.slice(0, colon + 13);
}

const KNOWN_ARCHITECTURES = new Set([
  'amd64',
  'arm64',
  'arm',
  '386',
  'ppc64le',
  's390x',
  'riscv64',
  'mips64le',
  'loong64',
]);
const PLATFORM_RE = /^[a-z0-9_-]+\/[a-z0-9_-]+(\/[a-z0-9_.-]+)?$/i;

/** Validates `os/arch[/variant]` from the command line (--platform). */
export function validatePlatform(platform: string): string {
  // A bare architecture means linux, as in docker (`--platform amd64`).
  if (!PLATFORM_RE.test(platform) && !KNOWN_ARCHITECTURES.has(platform.toLowerCase()))
    throw new UsageError(`invalid --platform "${platform}": expected os/arch or os/arch/variant, e.g. linux/arm64/v8`);
  return platform.toLowerCase();
}

/** Default variants, as containerd's platforms package normalises them. */
const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7' };

/**
 * A platform as Docker and containerd compare them: `amd64` is `linux/amd64`, `linux/arm64` is
 * `linux/arm64/v8`, `linux/arm` is `linux/arm/v7`, case does not matter.
 */
export function normalizePlatform(platform: string): string {
  const parts = platform.toLowerCase().split('/');
  const [os, arch, variant] = parts.length === 1 ? ['linux', parts[0]!, undefined] : [parts[0]!, parts[1]!, parts[2]];
  const v = variant ?? DEFAULT_VARIANT[arch];
  return [os, arch, v].filter(Boolean).join('/');
}

/**
 * The index entry for a platform; `linux/arm64/v8` also matches an entry that gives no variant.
 * Attestation entries never match. `where` names the image in the error.
 */
export function findPlatform(index: IndexManifest, platform: string, where: string): Descriptor {
  const children = index.manifests.filter((d) => !isAttestationEntry(d) && d.platform);
  const wanted = normalizePlatform(platform);
  const match = children.find((d) => normalizePlatform(formatPlatform(d.platform!)) === wanted);
  if (!match) {
    const available = children.map((d) => formatPlatform(d.platform!)).join(', ') || 'none';
    throw new NotFoundError(`${where} has no platform ${platform} (available: ${available})`);
  }
  return match;
}
