import { createHash, randomBytes } from 'node:crypto';
import { matchesDigest } from '../manifest/digest.js';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * A content-addressed disk cache for manifests and config blobs fetched by digest. Content under a
 * digest never changes, so entries never expire; every read is re-hashed, so damaged data is a
 * miss, never wrong data. It holds registry content only: no tokens, no credentials, no URLs.
 *
 * Storage is a few pack files, not a file per blob: `krill tags` on 1000 tags creates ~1400
 * entries, and creating that many small files cost more (1.2 s of system time on the benchmark
 * machine) than fetching them. Each run appends at most one pack, written at the end in one go
 * with its index (`NAME.pack` + `NAME.idx`, the index written last so a pack without one is
 * ignored); when there are more than MAX_PACKS, they are merged. Concurrent runs never write the
 * same file.
 */

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'krill');
}

const MAX_PACKS = 8;
/** Pending entries are written early past this, to bound memory on very large catalogs. */
const FLUSH_BYTES = 64 * 1024 * 1024;

interface PackIndex {
  entries: Record<string, [offset: number, length: number]>;
  /** Hashed keys of repositories read with this cache (see hasSeen). */
  seen: string[];
}

interface Location {
  pack: string;
  offset: number;
  length: number;
}

export class ContentCache {
  readonly #packsDir: string;
  #index: Map<string, Location> | undefined;
  #seen = new Set<string>();
  #packs: string[] = [];
  readonly #fds = new Map<string, number>();
  readonly #pending = new Map<string, Uint8Array>();
  #pendingBytes = 0;
  readonly #pendingSeen = new Set<string>();

  constructor(readonly dir: string) {
    this.#packsDir = join(dir, 'packs');
  }

  #load(): Map<string, Location> {
    if (this.#index) return this.#index;
    const index = new Map<string, Location>();
    let names: string[] = [];
    try {
      names = readdirSync(this.#packsDir)
        .filter((n) => n.endsWith('.idx'))
        .map((n) => n.slice(0, -4));
    } catch {
      // no cache yet
    }
    for (const name of names) {
      try {
        const parsed = JSON.parse(readFileSync(join(this.#packsDir, `${name}.idx`), 'utf8')) as PackIndex;
        for (const [digest, [offset, length]] of Object.entries(parsed.entries))
          index.set(digest, { pack: name, offset, length });
        for (const key of parsed.seen) this.#seen.add(key);
        this.#packs.push(name);
      } catch {
        // a damaged index only costs its entries
      }
    }
    this.#index = index;
    return index;
  }

  #read(location: Location): Buffer | undefined {
    try {
      let fd = this.#fds.get(location.pack);
      if (fd === undefined) {
        fd = openSync(join(this.#packsDir, `${location.pack}.pack`), 'r');
        this.#fds.set(location.pack, fd);
      }
      const bytes = Buffer.alloc(location.length);
      return readSync(fd, bytes, 0, location.length, location.offset) === location.length ? bytes : undefined;
    } catch {
      return undefined; // merged away by a concurrent run: a miss
    }
  }

  get(digest: string): Buffer | undefined {
    const pending = this.#pending.get(digest);
    if (pending) return Buffer.from(pending);
    const location = this.#load().get(digest);
    if (!location) return undefined;
    const bytes = this.#read(location);
    return bytes && matchesDigest(bytes, digest) ? bytes : undefined;
  }

  /** Queues bytes under their digest; ignored when they do not match it or are already stored. */
  put(digest: string, bytes: Uint8Array): void {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest) || this.#load().has(digest) || this.#pending.has(digest)) return;
    if (!matchesDigest(bytes, digest)) return;
    this.#pending.set(digest, bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush();
  }

  #key(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  /**
   * Whether this repository was read with this cache before. Decides HEAD-then-cache (warm: one
   * small request per tag) versus GET by tag (cold: one request that also fills the cache).
   */
  hasSeen(key: string): boolean {
    this.#load();
    const hashed = this.#key(key);
    return this.#seen.has(hashed) || this.#pendingSeen.has(hashed);
  }

  markSeen(key: string): void {
    if (!this.hasSeen(key)) this.#pendingSeen.add(this.#key(key));
  }

  /** Writes what this run added as one pack. Errors are ignored: a cache that cannot be written only costs speed. */
  flush(): void {
    if (this.#pending.size === 0 && this.#pendingSeen.size === 0) return;
    const entries: PackIndex['entries'] = {};
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const [digest, bytes] of this.#pending) {
      entries[digest] = [offset, bytes.length];
      chunks.push(bytes);
      offset += bytes.length;
    }
    const name = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    try {
      // 0700/0600: the cache holds manifests and configs of private images.
      mkdirSync(this.#packsDir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
      chmodSync(this.#packsDir, 0o700);
      writeFileSync(join(this.#packsDir, `${name}.pack`), Buffer.concat(chunks, offset), { mode: 0o600 });
      this.#writeIndex(name, { entries, seen: [...this.#pendingSeen] });
      const index = this.#load();
      for (const [digest, [at, length]] of Object.entries(entries))
        index.set(digest, { pack: name, offset: at, length });
      for (const key of this.#pendingSeen) this.#seen.add(key);
      this.#packs.push(name);
      this.#pending.clear();
      this.#pendingBytes = 0;
      this.#pendingSeen.clear();
      if (this.#packs.length > MAX_PACKS) this.#merge();
    } catch {
      // read-only or full disk: keep going without the cache
    }
  }

  /** Rewrites every pack into one (entries verified on the way), then removes the old ones. */
  #merge(): void {
    const index = this.#load();
    const entries: PackIndex['entries'] = {};
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const [digest, location] of index) {
      const bytes = this.#read(location);
      if (!bytes || !matchesDigest(bytes, digest)) continue;
      entries[digest] = [offset, bytes.length];
      chunks.push(bytes);
      offset += bytes.length;
    }
    const name = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    writeFileSync(join(this.#packsDir, `${name}.pack`), Buffer.concat(chunks, offset), { mode: 0o600 });
    this.#writeIndex(name, { entries, seen: [...this.#seen] });
    for (const old of this.#packs) {
      rmSync(join(this.#packsDir, `${old}.idx`), { force: true });
      rmSync(join(this.#packsDir, `${old}.pack`), { force: true });
    }
    this.close();
    this.#index = undefined;
    this.#packs = [];
  }

  #writeIndex(name: string, index: PackIndex): void {
    // Written under a temp name and renamed: the .idx appearing is what makes a pack visible.
    const temp = join(this.#packsDir, `${name}.idx.tmp`);
    writeFileSync(temp, JSON.stringify(index), { mode: 0o600 });
    renameSync(temp, join(this.#packsDir, `${name}.idx`));
  }

  /** Closes open pack files. */
  close(): void {
    for (const fd of this.#fds.values()) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    this.#fds.clear();
  }
}
