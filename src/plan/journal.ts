import { lstat, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { JournalError, UsageError } from '../errors.js';
import { isDigest, matchesDigest } from '../manifest/digest.js';
import type { RegistryAddress } from '../ref/reference.js';
import { isValidRepository, isValidTag, parseRegistryAddress } from '../ref/reference.js';

/**
 * The undo journal: before krill removes a manifest or a tag, it appends (and syncs) one JSON line
 * with the manifest bytes and the tags, so `krill undo` can push them back until the registry's
 * garbage collector deletes the blobs; after the changes it appends one `done` line per removal,
 * so "what was deleted" stays true after any interruption. Holds registry content only: never
 * credentials or tokens.
 */

export interface JournalEntry {
  kind: 'delete-manifest' | 'untag';
  registry: RegistryAddress;
  repository: string;
  digest: string;
  mediaType: string;
  /** base64 of the manifest bytes exactly as served (so the digest is preserved on undo). */
  manifest: string;
  /** Tags removed with it (delete-manifest) or the one tag removed (untag). */
  tags: string[];
  /** Set for a platform manifest deleted with its index: restored before the index. */
  parent?: string;
  time: string;
}

/** Written after a removal happened. */
export interface JournalDone {
  repository: string;
  digest: string;
  tags: string[];
  status: 'deleted' | 'untagged';
}

export function defaultJournalPath(env: NodeJS.ProcessEnv, host: string, now = new Date()): string {
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return join(state, 'krill', 'journals', `${stamp}-${host.replace(/[^A-Za-z0-9.-]/g, '_')}.jsonl`);
}

function errno(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}

export class Journal {
  /** Intent entries written so far. */
  entries = 0;

  readonly #handle: FileHandle;
  readonly #created: boolean;

  private constructor(
    readonly path: string,
    handle: FileHandle,
    /** krill created the file in this run (only then may it remove it). */
    created: boolean,
  ) {
    this.#handle = handle;
    this.#created = created;
  }

  static async open(path: string): Promise<Journal> {
    let existed = false;
    try {
      const stat = await lstat(path);
      // A device node, a directory or a symlink given as --journal is not ours to write or remove.
      if (!stat.isFile())
        throw new UsageError(`the undo journal ${path} exists and is not a regular file; choose another path`);
      existed = true;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new JournalError(`cannot use the undo journal ${path}: ${errno(error)}`, { cause: error });
    }
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const handle = await open(path, 'a', 0o600);
      // Stryker disable next-line all: equivalent in a test, the name's durability shows only after a power loss.
      if (!existed) await syncDirectory(dirname(path));
      return new Journal(path, handle, !existed);
    } catch (error) {
      throw new JournalError(`cannot write the undo journal ${path}: ${errno(error)}`, {
        cause: error,
      });
    }
  }

  /** Appends entries and syncs them to disk, in one write, before the caller deletes anything. */
  async recordAll(entries: Array<Omit<JournalEntry, 'time'>>): Promise<void> {
    // Stryker disable next-line all: equivalent, it saves an empty write and an fsync.
    if (entries.length === 0) return;
    const time = new Date().toISOString();
    await this.#append(entries.map((entry) => `${JSON.stringify({ ...entry, time })}\n`).join(''));
    this.entries += entries.length;
  }

  /** Records removals that happened. */
  async recordDone(done: JournalDone[]): Promise<void> {
    // Stryker disable next-line all: equivalent, it saves an empty write and an fsync.
    if (done.length === 0) return;
    const time = new Date().toISOString();
    await this.#append(done.map((d) => `${JSON.stringify({ kind: 'done', ...d, time })}\n`).join(''));
  }

  async #append(text: string): Promise<void> {
    try {
      await this.#handle.appendFile(text);
      await this.#handle.datasync();
    } catch (error) {
      throw new JournalError(`cannot write the undo journal ${this.path}: ${errno(error)}`, { cause: error });
    }
  }

  /** Whether the file is there after close (a journal krill created and never wrote is removed). */
  get kept(): boolean {
    return !this.#created || this.entries > 0;
  }

  async close(): Promise<void> {
    await this.#handle.close();
    if (!this.kept) await rm(this.path, { force: true });
  }
}

/**
 * Checks a journal path the user gave before any request: it must be a regular file or not exist
 * yet, in a directory that exists (a typo in the directory must not cost a whole planning run).
 */
export async function checkJournalPath(path: string): Promise<void> {
  const bad = (why: string) => new UsageError(`--journal ${path}: ${why}; choose another path`);
  try {
    if (!(await lstat(path)).isFile()) throw bad('exists and is not a regular file');
    return;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw bad('a part of the path is a file, not a directory');
    if (code !== 'ENOENT') throw bad(`cannot be used (${errno(error)})`);
  }
  // lstat said ENOENT, not ENOTDIR: the parent is a directory, or it is missing.
  try {
    await stat(dirname(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw bad(code === 'ENOENT' ? `the directory ${dirname(path)} does not exist` : `cannot be used (${errno(error)})`);
  }
}

/** fsync of the directory makes the new file's name durable, not only its contents. */
// Stryker disable all: equivalent in a test, durability shows only after a power loss.
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } catch {
    // Some filesystems refuse fsync on a directory (EINVAL); the file itself is still synced.
  } finally {
    await dir.close();
  }
}
// Stryker restore all

export interface ReadJournal {
  entries: JournalEntry[];
  done: JournalDone[];
  /** A last line cut by a crash: read up to it. */
  warnings: string[];
}

/** Reads and validates a journal: it is input like any other (undo pushes what it says). */
export async function readJournal(path: string): Promise<ReadJournal> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read journal ${path}: ${errno(error)}; check the path`, { cause: error });
  }
  const lines = text.split('\n');
  const result: ReadJournal = { entries: [], done: [], warnings: [] };
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      // Only the last line can be cut by a crash mid-write; anything else is not a journal.
      if (index === lines.length - 1) {
        result.warnings.push(`${path}:${index + 1}: the last line is incomplete (cut by a crash?); read up to it`);
        return;
      }
      throw new UsageError(`${path}:${index + 1}: not JSON; pass the journal file krill named after the cleanup`);
    }
    const problem = checkLine(parsed, result);
    if (problem)
      throw new UsageError(`${path}:${index + 1}: ${problem}; pass the journal file krill named after the cleanup`);
  });
  // An empty file, binary garbage or one line of another program's JSON holds nothing to undo: it
  // is not a journal (a cut last line after valid ones stays a warning).
  if (result.entries.length === 0 && result.done.length === 0)
    throw new UsageError(
      `${path} is not a krill journal (no valid entry); pass the journal file krill named after the cleanup`,
    );
  return result;
}

function checkLine(value: unknown, into: ReadJournal): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not a journal entry';
  const e = value as Record<string, unknown>;
  if (typeof e.repository !== 'string' || !isValidRepository(e.repository)) return 'invalid "repository"';
  if (typeof e.digest !== 'string' || !isDigest(e.digest)) return 'invalid "digest"';
  if (!Array.isArray(e.tags) || !e.tags.every((t) => typeof t === 'string' && isValidTag(t))) return 'invalid "tags"';
  if (e.kind === 'done') {
    if (e.status !== 'deleted' && e.status !== 'untagged') return 'invalid "status"';
    into.done.push({ repository: e.repository, digest: e.digest, tags: e.tags as string[], status: e.status });
    return undefined;
  }
  if (e.kind !== 'delete-manifest' && e.kind !== 'untag') return 'invalid "kind"';
  const registry = e.registry as Record<string, unknown> | undefined;
  if (typeof registry?.host !== 'string' || !['https', 'http', 'auto'].includes(registry.scheme as string))
    return 'invalid "registry"';
  try {
    const parsed = parseRegistryAddress(registry.host);
    if (parsed.host !== registry.host) return 'invalid "registry"';
  } catch {
    return 'invalid "registry"';
  }
  if (typeof e.mediaType !== 'string' || typeof e.manifest !== 'string' || typeof e.time !== 'string')
    return 'missing fields';
  // The bytes must be the manifest the digest names: undo never pushes anything else.
  if (!matchesDigest(Buffer.from(e.manifest, 'base64'), e.digest)) return '"manifest" does not match "digest"';
  if (e.parent !== undefined && (typeof e.parent !== 'string' || !isDigest(e.parent))) return 'invalid "parent"';
  into.entries.push({
    kind: e.kind,
    registry: { host: registry.host, scheme: registry.scheme as RegistryAddress['scheme'] },
    repository: e.repository,
    digest: e.digest,
    mediaType: e.mediaType,
    manifest: e.manifest,
    tags: e.tags as string[],
    ...(e.parent !== undefined ? { parent: e.parent as string } : {}),
    time: e.time,
  });
  return undefined;
}
