import { createHash } from 'node:crypto';

/**
 * Content digests (OCI image-spec "Digests"). krill computes sha256 for what it writes and verifies
 * sha256 and sha512 for what it reads; any other algorithm is refused, never trusted unverified.
 * `node:crypto` hashing is pure computation, so this module stays in the pure layer.
 */

const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value);
}

export function computeDigest(bytes: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** The digest of `bytes` in the algorithm of `expected` (which must be a valid digest). */
export function digestLike(bytes: Uint8Array, expected: string): string {
  return computeDigest(bytes, expected.startsWith('sha512:') ? 'sha512' : 'sha256');
}

/** Whether `bytes` hash to `expected`; false for anything that is not a supported digest. */
export function matchesDigest(bytes: Uint8Array, expected: string): boolean {
  return isDigest(expected) && digestLike(bytes, expected) === expected;
}
