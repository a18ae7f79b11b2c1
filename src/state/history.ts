import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { isDigest } from '../manifest/digest.js';
import { isValidTag } from '../ref/reference.js';

/**
 * What krill saw of each repository, run after run: the tag → digest listing, the tags it removed
 * itself, and how many tags its plan deleted. One small JSON file per registry and repository in
 * the state directory, the last RUNS runs, registry content only (never credentials). The listing
 * check and `cleanup --diff` read it; a history command can build on the same files.
 */

export interface RepositoryRun {
  time: string;
  /** The listing: tag → digest (dangling tags map to ""). */
  tags: Record<string, string>;
  /** Tags krill removed after this listing (apply), so they never count as lost. */
  removed: string[];
  /** Tags the plan made from this listing deleted or untagged. */
  planned: number;
}

interface HistoryFile {
  version: 1;
  registry: string;
  repository: string;
  runs: RepositoryRun[];
  /**
   * Every digest krill listed under a tag here and has not seen gone since: the old manifest of a
   * re-pushed tag stays in the registry and keeps its blobs (registry/past-manifests.ts). Absent in
   * files written before it existed: krill then does not know and says "at most".
   */
  known?: string[];
}

const RUNS = 10;
/** A listing bigger than this is not recorded (the file would be larger than it is worth). */
const MAX_TAGS = 200_000;

export function historyDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'krill', 'history');
}

export class History {
  readonly #dir: string;
  /**
   * Each repository's file as last read or written by this instance: a plan reads a repository's
   * history several times (known digests, the listing check) and a catalog of 10,000 repositories
   * made that tens of thousands of file operations. One instance serves one run.
   */
  readonly #files = new Map<string, Promise<{ runs: RepositoryRun[]; known?: string[] }>>();
  #dirReady = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  #path(registry: string, repository: string): string {
    // Hashed names: a repository path never becomes a file path.
    const name = createHash('sha256').update(`${registry}/${repository}`).digest('hex').slice(0, 32);
    return join(this.#dir, `${name}.json`);
  }

  /** The runs recorded for a repository, oldest first; none when the file is missing or unreadable. */
  async runs(registry: string, repository: string): Promise<RepositoryRun[]> {
    return (await this.#read(registry, repository)).runs;
  }

  #read(registry: string, repository: string): Promise<{ runs: RepositoryRun[]; known?: string[] }> {
    const path = this.#path(registry, repository);
    let file = this.#files.get(path);
    if (!file) this.#files.set(path, (file = this.#readFile(registry, repository)));
    return file;
  }

  async #readFile(registry: string, repository: string): Promise<{ runs: RepositoryRun[]; known?: string[] }> {
    try {
      const doc = JSON.parse(await readFile(this.#path(registry, repository), 'utf8')) as Partial<HistoryFile>;
      if (doc.version !== 1 || doc.registry !== registry || doc.repository !== repository || !Array.isArray(doc.runs))
        return { runs: [] };
      const known =
        Array.isArray(doc.known) && doc.known.every((d) => typeof d === 'string' && isDigest(d))
          ? doc.known
          : undefined;
      return { runs: doc.runs.filter(isRun), ...(known ? { known } : {}) };
    } catch {
      return { runs: [] }; // no history yet, or a damaged file: the check then has nothing to compare with
    }
  }

  async record(registry: string, repository: string, run: RepositoryRun): Promise<void> {
    if (Object.keys(run.tags).length > MAX_TAGS) return;
    const { runs, known } = await this.#read(registry, repository);
    await this.#write(registry, repository, [...runs, run].slice(-RUNS), known);
  }

  /** The digests krill has seen under a tag here (see HistoryFile.known); undefined when it never kept them. */
  async known(registry: string, repository: string): Promise<string[] | undefined> {
    return (await this.#read(registry, repository)).known;
  }

  /** Adds the digests listed now and forgets the ones the registry no longer holds. */
  async remember(
    registry: string,
    repository: string,
    listed: Iterable<string>,
    gone: Iterable<string>,
  ): Promise<void> {
    const { runs, known } = await this.#read(registry, repository);
    const next = new Set([...(known ?? []), ...listed]);
    for (const digest of gone) next.delete(digest);
    // Nothing new and nothing gone: no write (a warm run over a big catalog changes few files).
    if (known && next.size === known.length && known.every((d) => next.has(d))) return;
    // Too many to be worth a file: krill no longer claims to know (the bytes become "at most").
    await this.#write(registry, repository, runs, next.size > MAX_TAGS ? undefined : [...next].sort());
  }

  /** Forgets digests krill deleted itself (when it keeps the known digests at all). */
  async forget(registry: string, repository: string, gone: readonly string[]): Promise<void> {
    const { runs, known } = await this.#read(registry, repository);
    if (!known || gone.length === 0) return;
    const drop = new Set(gone);
    await this.#write(
      registry,
      repository,
      runs,
      known.filter((digest) => !drop.has(digest)),
    );
  }

  /** Marks tags of the latest run as removed by krill. */
  async markRemoved(registry: string, repository: string, tags: readonly string[]): Promise<void> {
    const { runs, known } = await this.#read(registry, repository);
    const last = runs.at(-1);
    if (!last || tags.length === 0) return;
    last.removed = [...new Set([...last.removed, ...tags])].sort();
    await this.#write(registry, repository, runs, known);
  }

  async #write(
    registry: string,
    repository: string,
    runs: RepositoryRun[],
    known: string[] | undefined,
  ): Promise<void> {
    const path = this.#path(registry, repository);
    if (!this.#dirReady) {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      this.#dirReady = true;
    }
    this.#files.set(path, Promise.resolve({ runs, ...(known ? { known } : {}) }));
    const file: HistoryFile = { version: 1, registry, repository, runs, ...(known ? { known } : {}) };
    // Write then rename: a crash never leaves half a file.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(file), { mode: 0o600 });
    await rename(temporary, path);
  }
}

function isRun(value: unknown): value is RepositoryRun {
  const run = value as RepositoryRun;
  return (
    typeof run === 'object' &&
    run !== null &&
    typeof run.time === 'string' &&
    typeof run.tags === 'object' &&
    run.tags !== null &&
    Object.entries(run.tags).every(([tag, digest]) => isValidTag(tag) && (digest === '' || isDigest(digest))) &&
    Array.isArray(run.removed) &&
    run.removed.every((t) => typeof t === 'string') &&
    typeof run.planned === 'number'
  );
}
