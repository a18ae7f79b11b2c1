import type { Descriptor } from '../manifest/manifest.js';

/**
 * The pure vocabulary that retention and planning decide on: a repository read once (tags and
 * every manifest they reach). Filled by registry/snapshot.ts; everything after is pure computation.
 */

export interface ManifestNode {
  digest: string;
  mediaType: string;
  kind: 'image' | 'index' | 'unknown';
  /** Bytes of the manifest itself (a blob in the registry's storage, too). */
  size: number;
  /** For an index: every child digest, attestations included. */
  children: string[];
  /** For an image: config and layers. */
  blobs: Descriptor[];
  /** Newest platform `created` (see ImageReader); null when unknown. */
  created: string | null;
  /** Children the registry no longer has (a damaged index). */
  missing?: string[];
  /** OCI 1.1 `subject`: the manifest this one is a signature, SBOM or attestation of. */
  subject?: string;
  /** Set for artifacts (signatures, SBOMs, Helm charts): see manifest/referrers.ts artifactTypeOf. */
  artifactType?: string;
  /** krill's own throwaway manifest, left on a tag by an untag that was cut half-way. */
  throwaway?: true;
}

export interface RepositorySnapshot {
  registry: string;
  repository: string;
  tags: Array<{ tag: string; digest: string }>;
  manifests: Record<string, ManifestNode>;
  /** Tags listed whose manifest is gone (left by a registry race or a concurrent delete). */
  dangling?: string[];
  /** Subjects of attachments (tags or `subject` fields) that the registry answered 404 for: orphans. */
  absentSubjects?: string[];
  /** Tags whose manifest cannot be used (registry/image-reader.ts unusableReason): always kept. */
  invalid?: Array<{ tag: string; digest: string; reason: string }>;
  /**
   * Manifests no tag reaches that the registry still holds (the old digest of a re-pushed tag,
   * found through krill's listing history). Never deleted by a plan; their blobs stay. Undefined
   * when krill has no history of the repository: the reclaimable bytes are then an upper bound.
   */
  retained?: Record<string, ManifestNode>;
  /** What the ledger knows of the tagged digests; set only when a rule judges by pulls. */
  usage?: SnapshotUsage;
}

/** What the ledger knows of one manifest (ledger/store.ts). Times are milliseconds since the epoch. */
export interface DigestUsage {
  firstPush?: number;
  lastPush?: number;
  lastPull?: number;
  /** The user agent of the last counted pull. */
  lastPullAgent?: string;
  pulls: number;
  deleted?: number;
}

export interface SnapshotUsage {
  /** When the ledger started hearing from the registry; undefined: it never did. */
  since: number | undefined;
  /** Per digest, as stored (an index's children separately: policy/usage.ts combines them). */
  digests: Record<string, DigestUsage>;
}
