import type { Descriptor, Manifest } from './manifest.js';
import { DOCKER_CONFIG, OCI_CONFIG } from './media-types.js';

/**
 * The referrer graph's vocabulary: which tags hold attachments (signatures, SBOMs, attestations)
 * rather than images, what a referrer's subject is, and what kind of artifact a manifest is. Pure.
 *
 * Two ways a registry without the referrers API keeps attachments:
 * - the OCI 1.1 fallback ("Referrers tag schema", distribution-spec 1.1): an index under the tag
 *   `<alg>-<hex>` of the subject digest whose `manifests` are the referrers (cosign v3, notation,
 *   oras, BuildKit);
 * - cosign's legacy tags `sha256-<hex>.sig|.att|.sbom`, one manifest each, no `subject` field.
 */

/** The OCI 1.1 fallback tag of a sha256 subject. sha512 fallback tags (truncated hex) are not decoded. */
const FALLBACK_TAG = /^sha256-([a-f0-9]{64})$/;
const LEGACY_TAG = /^sha256-([a-f0-9]{64})\.(sig|att|sbom)$/;

export type TagKind =
  | { kind: 'image' }
  /** `sha256-<hex>`: the referrers index of the subject. */
  | { kind: 'fallback'; subject: string }
  /** `sha256-<hex>.sig|.att|.sbom`: cosign's legacy attachment. */
  | { kind: 'legacy'; subject: string; suffix: 'sig' | 'att' | 'sbom' };

export function classifyTag(tag: string): TagKind {
  const fallback = FALLBACK_TAG.exec(tag);
  if (fallback) return { kind: 'fallback', subject: `sha256:${fallback[1]}` };
  const legacy = LEGACY_TAG.exec(tag);
  if (legacy) return { kind: 'legacy', subject: `sha256:${legacy[1]}`, suffix: legacy[2] as 'sig' | 'att' | 'sbom' };
  return { kind: 'image' };
}

/** The subject digest an attachment tag belongs to; undefined for an ordinary tag. */
export function attachmentSubject(tag: string): string | undefined {
  const kind = classifyTag(tag);
  return kind.kind === 'image' ? undefined : kind.subject;
}

/**
 * The fallback tag of a subject: `<alg>-<hex>`, the hex truncated to 64 characters
 * (distribution-spec 1.1 "Referrers tag schema").
 */
export function fallbackTag(subject: string): string {
  const [alg, hex] = subject.split(':') as [string, string];
  return `${alg.slice(0, 32)}-${hex.slice(0, 64)}`;
}

/**
 * What kind of artifact a manifest is: its `artifactType`, else its config media type when that is
 * not an image config (Helm charts, WASM modules, legacy cosign signatures); undefined for images
 * and indexes without one (image-spec 1.1 "Guidelines for Artifact Usage").
 */
export function artifactTypeOf(manifest: Manifest): string | undefined {
  if (manifest.kind === 'unknown') return undefined;
  if (manifest.artifactType !== undefined) return manifest.artifactType;
  if (manifest.kind !== 'image') return undefined;
  const config = manifest.config.mediaType;
  if (config === DOCKER_CONFIG || config === OCI_CONFIG) return undefined;
  // The empty config (`application/vnd.oci.empty.v1+json`) says nothing: the first layer's type does.
  if (config === EMPTY_CONFIG) return manifest.layers[0]?.mediaType ?? config;
  return config;
}

export const EMPTY_CONFIG = 'application/vnd.oci.empty.v1+json';

/** What a manifest says about the referrer graph: its artifact type and its subject, when present. */
export function referrerFieldsOf(manifest: Manifest): { artifactType?: string; subject?: string } {
  const type = artifactTypeOf(manifest);
  const subject = manifest.kind === 'unknown' ? undefined : manifest.subject?.digest;
  return { ...(type !== undefined ? { artifactType: type } : {}), ...(subject !== undefined ? { subject } : {}) };
}

/**
 * What cosign's legacy tags hold (their manifests carry an image config, so no artifactType):
 * simple signing payloads, DSSE in-toto envelopes, and SBOMs (SPDX by default).
 */
export const LEGACY_TYPES = {
  sig: 'application/vnd.dev.cosign.simplesigning.v1+json',
  att: 'application/vnd.dsse.envelope.v1+json',
  sbom: 'text/spdx',
} as const;

/** A short word for an artifact type, for tables: sig, sbom, att, provenance, vex, helm, or the type. */
export function artifactLabel(type: string | undefined): string {
  if (type === undefined || type === '') return 'artifact';
  const t = type.toLowerCase();
  if (/spdx|cyclonedx|sbom|syft/.test(t)) return 'sbom';
  if (/sigstore|cosign|notary|signature/.test(t)) return 'sig';
  if (/provenance|slsa/.test(t)) return 'provenance';
  if (/vex/.test(t)) return 'vex';
  if (/in-toto|attestation|dsse/.test(t)) return 'att';
  if (/helm/.test(t)) return 'helm';
  if (/wasm/.test(t)) return 'wasm';
  return type.replace(/^application\/(vnd\.)?/, '').replace(/\+json$|\.v\d.*$/, '');
}

/** Distinct labels of some referrer descriptors, in a stable order. */
export function summarizeLabels(types: Iterable<string | undefined>): string[] {
  return [...new Set([...types].map(artifactLabel))].sort();
}

/** Referrer descriptors whose `artifactType` is one of `types` (all when `types` is empty). */
export function filterReferrers(descriptors: Descriptor[], types: readonly string[]): Descriptor[] {
  if (types.length === 0) return descriptors;
  return descriptors.filter((d) => d.artifactType !== undefined && types.includes(d.artifactType));
}
