import { mkdir, open, readFile, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import type { RegistryAddress } from '../ref/reference.js';

/**
 * The undo journal: before krill removes a manifest or a tag, it appends (and syncs) one JSON line
 * with the manifest bytes and the tags, so `krill undo` can push them back until the registry's
 * garbage collector deletes the blobs. Holds registry content only: never credentials or tokens.
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

export function defaultJournalPath(env: NodeJS.ProcessEnv, host: string, now = new Date()): string {
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return join(state, 'krill', 'journals', `${stamp}-${host.replace(/[^A-Za-z0-9.-]/g, '_')}.jsonl`);
}

export class Journal {
  /** Entries written so far. */
  entries = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(path: string): Promise<Journal> {
    try {
      await mkdir(dirname(path), { recursive: true });
      return new Journal(path, await open(path, 'a', 0o600));
    } catch (error) {
      throw new UsageError(`cannot write the undo journal ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; pass --journal FILE in a writable place`, { cause: error });
    }
  }

  /** Appends entries and syncs them to disk, in one write, before the caller deletes anything. */
  async recordAll(entries: Array<Omit<JournalEntry, 'time'>>): Promise<void> {
    if (entries.length === 0) return;
    const time = new Date().toISOString();
    await this.handle.appendFile(entries.map((entry) => `${JSON.stringify({ ...entry, time })}\n`).join(''));
    await this.handle.datasync();
    this.entries += entries.length;
  }

  /** Closes the file; a journal with no entries is removed (nothing was deleted). */
  async close(): Promise<void> {
    await this.handle.close();
    if (this.entries === 0) await rm(this.path, { force: true });
  }
}

export async function readJournal(path: string): Promise<JournalEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read journal ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check the path`, { cause: error });
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      try {
        const entry = JSON.parse(line) as JournalEntry;
        if (!entry.registry?.host || !entry.repository || !entry.digest || !entry.manifest) throw new Error('missing fields');
        return entry;
      } catch {
        // A line cut by a crash mid-write is the only expected damage; anything else is not a journal.
        throw new UsageError(`${path}:${index + 1}: not a krill journal entry; pass the file krill named after the cleanup`);
      }
    });
}
