import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares a secret someone sent with the expected one in constant time. Both are hashed first,
 * so neither the comparison nor a length check says anything about the secret, its length
 * included. `krill listen`'s shared secret and `krill serve`'s token and CSRF field use it.
 */
export function sameSecret(given: string, expected: string): boolean {
  const hash = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(hash(given), hash(expected));
}
