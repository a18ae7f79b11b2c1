import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * A content-addressed disk cache for manifests and config blobs fetched by digest. Content under a
 * digest never changes, so entries never expire; every read is re-hashed, so a corrupted file is a
 * miss, never wrong data. It holds registry content only: no tokens, no credentials, no URLs.
 */

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'krill');
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export class ContentCache {
  constructor(readonly dir: string) {}

  #path(digest: string): string | undefined {
    const match = /^sha256:([a-f0-9]{64})$/.exec(digest);
    return match ? join(this.dir, 'sha256', match[1]!.slice(0, 2), match[1]!) : undefined;
  }

  async get(digest: string): Promise<Buffer | undefined> {
    const path = this.#path(digest);
    if (!path) return undefined;
    try {
      const bytes = await readFile(path);
      return sha256Digest(bytes) === digest ? bytes : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores bytes under their digest; silently does nothing when they do not match it or the disk refuses. */
  async put(digest: string, bytes: Uint8Array): Promise<void> {
    const path = this.#path(digest);
    if (!path || sha256Digest(bytes) !== digest) return;
    try {
      await mkdir(join(path, '..'), { recursive: true });
      const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temp, bytes, { mode: 0o644 });
      await rename(temp, path); // atomic: concurrent runs never see half a file
    } catch {
      // A cache that cannot be written only costs speed.
    }
  }

  #markerPath(key: string): string {
    return join(this.dir, 'seen', createHash('sha256').update(key).digest('hex'));
  }

  /**
   * Whether this repository was read with this cache before. Decides HEAD-then-cache (warm: one
   * small request per tag) versus GET by tag (cold: one request that also fills the cache).
   */
  async hasSeen(key: string): Promise<boolean> {
    try {
      await readFile(this.#markerPath(key));
      return true;
    } catch {
      return false;
    }
  }

  async markSeen(key: string): Promise<void> {
    try {
      await mkdir(join(this.dir, 'seen'), { recursive: true });
      await writeFile(this.#markerPath(key), '');
    } catch {
      // see put()
    }
  }
}
