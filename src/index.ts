/** krill as a library: the same layers the CLI uses, without printing or exiting. */
export * from './errors.js';
export type { Logger } from './logger.js';
export { silentLogger } from './logger.js';
export * from './ref/reference.js';
export * from './manifest/media-types.js';
export * from './manifest/manifest.js';
export { parseChallenges } from './auth/challenge.js';
export type { Challenge } from './auth/challenge.js';
export { resolveCredentials } from './auth/credentials.js';
export type { Credentials, CredentialOptions } from './auth/credentials.js';
export { Transport } from './http/transport.js';
export type { TransportOptions, TlsOptions } from './http/transport.js';
export { nextLink } from './http/link.js';
export { RegistryClient, repositoryScope } from './registry/client.js';
export type { FetchedManifest, ManifestHead, RegistryClientOptions } from './registry/client.js';
export { ContentCache, defaultCacheDir, sha256Digest } from './registry/content-cache.js';
export { ImageReader, summarizeTags, compareTagSummaries } from './registry/image-reader.js';
export type { ImageInspection, ImageSummary, TagSummary } from './registry/image-reader.js';
