import { open } from 'node:fs/promises';
import { KrillError, LiveSetError, UsageError } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import type { RegistryApi } from '../registry/api.js';
import { parseImageList } from './image-list.js';

/**
 * The live set: digests that workloads run or may run again, which no cleanup deletes whatever the
 * rules say (README "Keep what runs"). Read when planning and again right before applying, so an
 * image deployed in between is kept too.
 */

export interface LiveSource {
  /** What the plan and messages call it: a file path, `stdin`, `kubernetes:prod`. */
  name: string;
  /** Text in the image-list format, or references each with why it is live. */
  read: () => Promise<string | LiveEntry[]>;
}

export interface LiveEntry {
  reference: string;
  reason: string;
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
    const content = await source.read().catch((error: unknown) => {
      if (error instanceof KrillError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new LiveSetError(`cannot read the live set ${source.name}: ${code ?? String(error)}`, { cause: error });
    });
    const entries: Array<{ text: string; reason: string }> =
      typeof content === 'string'
        ? [{ text: content, reason: `in use: listed in ${source.name}` }]
        : content.map((e) => ({ text: e.reference, reason: e.reason }));
    const skipped: string[] = [];
    const refs = entries.flatMap(({ text, reason }) => {
      const list = parseImageList(text, source.name);
      skipped.push(...list.skipped);
      return list.references.map((ref) => ({ ref, reason }));
    });
    if (skipped.length > 0)
      warnings.push(
        `${source.name}: skipped ${skipped.length} entr${skipped.length === 1 ? 'y' : 'ies'} that name no image on a registry (e.g. ${JSON.stringify(skipped[0]!.slice(0, 80))})`,
      );
    // One HEAD per distinct tag, however many workloads name it.
    const resolved = new Map<string, Promise<string | undefined>>();
    await mapConcurrent(
      refs.filter(({ ref }) => ref.registry.host === client.host),
      8,
      async ({ ref, reason }) => {
        const key = `${ref.repository}:${ref.tag ?? 'latest'}`;
        if (ref.digest === undefined && !resolved.has(key))
          resolved.set(key, client.digestOf(ref.repository, ref.tag ?? 'latest'));
        const digest = ref.digest ?? (await resolved.get(key));
        if (digest !== undefined) add(ref.repository, digest, reason);
      },
    );
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
