import { open } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import type { RegistryApi } from '../registry/api.js';
import { parseImageList } from './image-list.js';

/**
 * The live set: digests that workloads run or may run again, which no cleanup deletes whatever the
 * rules say (README "Keep what runs"). Read when planning and again right before applying, so an
 * image deployed in between is kept too.
 */

export interface LiveSource {
  /** What the plan and messages call it: a file path, or `stdin`. */
  name: string;
  read: () => Promise<string>;
}

/** repository → digest → why it is live. */
export type LiveDigests = Map<string, Map<string, string>>;

export interface LiveSet {
  digests: LiveDigests;
  warnings: string[];
}

/**
 * Reads every source and keeps the references to `client`'s registry; tags become digests with one
 * HEAD each (a tag that no longer exists is not live). Any source that cannot be read fails the
 * whole read: a partial live set would let a running image be deleted.
 */
export async function readLiveSet(sources: readonly LiveSource[], client: RegistryApi): Promise<LiveSet> {
  const digests: LiveDigests = new Map();
  const warnings: string[] = [];
  const add = (repository: string, digest: string, reason: string) => {
    let repo = digests.get(repository);
    if (!repo) digests.set(repository, (repo = new Map()));
    if (!repo.has(digest)) repo.set(digest, reason);
  };
  for (const source of sources) {
    const list = parseImageList(await source.read(), source.name);
    if (list.skipped.length > 0)
      warnings.push(
        `${source.name}: skipped ${list.skipped.length} entr${list.skipped.length === 1 ? 'y' : 'ies'} that name no image on a registry (e.g. ${JSON.stringify(list.skipped[0]!.slice(0, 80))})`,
      );
    const ours = list.references.filter((r) => r.registry.host === client.host);
    const reason = `in use: listed in ${source.name}`;
    await mapConcurrent(ours, 8, async (ref) => {
      const digest = ref.digest ?? (await client.digestOf(ref.repository, ref.tag ?? 'latest'));
      if (digest !== undefined) add(ref.repository, digest, reason);
    });
  }
  return { digests, warnings };
}

/** Live-set files are lists of image references: bigger than this is not one. */
const MAX_SOURCE_BYTES = 64 * 1024 * 1024;

/** A file of image references (read again each time: apply re-reads it right before deleting). */
export function fileSource(path: string): LiveSource {
  return {
    name: path,
    read: async () => {
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (size > MAX_SOURCE_BYTES)
          throw new UsageError(`${path} is larger than 64 MiB: pass a list of image references`);
        return await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    },
  };
}
