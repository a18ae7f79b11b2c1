import type { RegistryClient } from './client.js';

/**
 * The narrow registry surface that snapshot, apply, untag, copy, sync and undo depend on (the
 * methods of the distribution spec they use, nothing about HTTP or auth). `RegistryClient` is the
 * real implementation; a test can pass an in-memory object instead (regclient's `scheme.API`).
 */
export type RegistryApi = Pick<
  RegistryClient,
  | 'host'
  | 'address'
  | 'listTags'
  | 'headManifest'
  | 'digestOf'
  | 'getManifest'
  | 'getBlob'
  | 'putManifest'
  | 'deleteManifest'
  | 'deleteTag'
  | 'checkDeletesEnabled'
  | 'blobSize'
  | 'openBlob'
  | 'mountBlob'
  | 'startUpload'
  | 'finishUpload'
  | 'listReferrers'
  | 'cacheIsWarm'
  | 'markCacheWarm'
>;
