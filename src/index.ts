/**
 * krill as a library. The front door is `Krill` (the same verbs as the CLI, with string
 * references); below it, for advanced use, the registry client and the pure parsers and planners.
 * Everything is exported by name: what is not listed here is internal and may change.
 */

// The front door.
export { Krill } from './krill.js';
export type {
  ApplyOptions as KrillApplyOptions,
  CaseResult,
  CleanupRequest,
  ClientRole,
  CompareOptions,
  CopyReport,
  HistoryEntry,
  LedgerListener,
  LedgerStatus,
  ListenOptions,
  ListenerCounts,
  CopyRequest,
  DaemonOptions,
  Inspection,
  KrillOptions,
  Login,
  ProgressOptions,
  PullOptions,
  ReadManifest,
  ReferrerInfo,
  RemovalOptions,
  SyncRequest,
  TagRow,
  TagsOptions,
} from './krill.js';

export type { CallOptions } from './http/call-scope.js';

// Errors: one class per code, `cause` kept.
export {
  AbortedError,
  AuthError,
  InvalidResponseError,
  JournalError,
  ListingSuspectError,
  EngineError,
  KrillError,
  LiveSetError,
  NetworkError,
  NotFoundError,
  RefusedError,
  RegistryError,
  TlsError,
  UnsupportedError,
  UsageError,
  isAbortError,
  isNotFound,
} from './errors.js';
export type { ErrorCode, RegistryErrorEntry } from './errors.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';

// Pure parsers and planners (no I/O).
export {
  formatReference,
  parseReference,
  parseRegistryAddress,
  parseRepositoryReference,
  validateDigest,
  validateRepository,
  validateTag,
} from './ref/reference.js';
export type { Reference, RegistryAddress, Scheme } from './ref/reference.js';
export { parseManifest } from './manifest/manifest.js';
export { artifactTypeOf, attachmentSubject, classifyTag, fallbackTag } from './manifest/referrers.js';
export type { TagKind } from './manifest/referrers.js';
export { discoverReferrers, referrerTree } from './registry/referrers.js';
export type { FoundReferrer, ReferrerNode } from './registry/referrers.js';
export type { Descriptor, ImageManifest, IndexManifest, Manifest, Platform } from './manifest/manifest.js';
export { computeDigest, matchesDigest } from './manifest/digest.js';
export { compileRules } from './policy/rules.js';
export type { RuleInput, Rules } from './policy/rules.js';
export { evaluateRules } from './policy/evaluate.js';
export type { TagDecision } from './policy/evaluate.js';
export { parsePolicy, rulesFor } from './policy/policy-file.js';
export type { Policy, PolicyRule } from './policy/policy-file.js';
export { buildRepositoryPlan, computeReclaimable } from './plan/plan.js';
export type { BuildOptions, Plan, PlanAction, PlannedTag, RepositoryPlan } from './plan/plan.js';
export type { DigestUsage, ManifestNode, RepositorySnapshot, SnapshotUsage } from './model/snapshot.js';
export { parsePlanFile } from './plan/plan-file.js';
export { judgeRepository } from './plan/judge.js';
export type { FreshState, Verdict } from './plan/judge.js';
export { parseSyncSpec, parseSyncTarget } from './sync/spec.js';
export type { SyncSpec, SyncTarget } from './sync/spec.js';

// The registry layer, for advanced use.
export { RegistryClient } from './registry/client.js';
export type { RegistryApi } from './registry/api.js';
export type { FetchedManifest, ManifestHead, RegistryClientOptions } from './registry/client.js';
export { Transport } from './http/transport.js';
export type { TlsOptions, TransportOptions } from './http/transport.js';
export { resolveCredentials } from './auth/credentials.js';
export type { Credentials, CredentialOptions } from './auth/credentials.js';
export { ContentCache, defaultCacheDir } from './registry/content-cache.js';
export { readRepositorySnapshot } from './registry/snapshot.js';
export type { ImageInspection, ImageSummary, TagSummary } from './registry/image-reader.js';
export { Untagger } from './registry/untag.js';
export type { ApplyOutcome, ApplyResult } from './plan/apply.js';
export { Journal, readJournal } from './plan/journal.js';
export type { JournalEntry } from './plan/journal.js';
export type { UndoOutcome } from './plan/undo.js';
export type { CopyProgress, CopyResult } from './sync/copy.js';
export type { SyncOutcome, SyncStatus } from './sync/sync.js';
export type { CompareRow, CompareState } from './engine/compare.js';
