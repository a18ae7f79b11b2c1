import { AbortedError, AuthError, KrillError, RegistryError, isAbortError } from '../errors.js';
import type { RegistryApi } from '../registry/api.js';
import type { JournalEntry } from './journal.js';

/**
 * Puts back what a journal says was removed: platform manifests first (an index can only be pushed
 * when its children exist), then every manifest under each of its tags. Works until the registry's
 * garbage collector has deleted the blobs.
 *
 * A tag is restored only when it is absent or already points where the journal says; a tag pushed
 * again since the removal belongs to someone else now and is skipped (unless `force`).
 */

export interface UndoOutcome {
  repository: string;
  digest: string;
  tags: string[];
  status: 'restored' | 'skipped' | 'failed';
  detail?: string;
}

export interface UndoOptions {
  /** Overwrite tags that were pushed again since the removal. */
  force?: boolean;
}

/** What undo will do with one tag, given where it points now (undefined: absent). Pure. */
export function judgeRestore(
  entryDigest: string,
  now: string | undefined,
  force: boolean,
): 'restore' | 'already' | 'skip' {
  if (now === undefined) return 'restore';
  if (now === entryDigest) return 'already';
  return force ? 'restore' : 'skip';
}

export async function undoJournal(
  clientFor: (entry: JournalEntry) => Promise<RegistryApi>,
  entries: JournalEntry[],
  options: UndoOptions = {},
): Promise<UndoOutcome[]> {
  const outcomes: UndoOutcome[] = [];
  // Platform manifests before the indexes that reference them (journaled breadth-first, so the
  // reverse order restores nested children before their parents); untags last: a referrers index
  // put back on its tag lists referrers that must exist again first.
  const ordered = [
    ...entries.filter((e) => e.parent).reverse(),
    ...entries.filter((e) => !e.parent && e.kind === 'delete-manifest'),
    ...entries.filter((e) => !e.parent && e.kind !== 'delete-manifest'),
  ];
  for (const entry of ordered) {
    const at = { repository: entry.repository, digest: entry.digest };
    try {
      const { restored, skipped } = await restoreEntry(await clientFor(entry), entry, options.force === true);
      if (restored.length > 0 || entry.tags.length === 0) outcomes.push({ ...at, tags: restored, status: 'restored' });
      if (skipped.length > 0) {
        const detail = 'pushed again since the removal; pass --force to overwrite';
        outcomes.push({ ...at, tags: skipped, status: 'skipped', detail });
      }
    } catch (error) {
      if (isAbortError(error)) throw new AbortedError('interrupted', { cause: error });
      if (!(error instanceof KrillError) || error instanceof AuthError) throw error;
      const gc =
        error instanceof RegistryError && (error.hasCode('BLOB_UNKNOWN') || error.hasCode('MANIFEST_BLOB_UNKNOWN'));
      const hint = gc ? ' (its blobs are gone: the garbage collector has run)' : '';
      outcomes.push({ ...at, tags: entry.tags, status: 'failed', detail: `${error.message}${hint}` });
    }
  }
  return outcomes;
}

/** Pushes one entry's manifest back, by digest when it had no tag, else on each tag still ours. */
async function restoreEntry(
  client: RegistryApi,
  entry: JournalEntry,
  force: boolean,
): Promise<{ restored: string[]; skipped: string[] }> {
  const bytes = Buffer.from(entry.manifest, 'base64');
  const push = (reference: string) => client.putManifest(entry.repository, reference, bytes, entry.mediaType);
  const restored: string[] = [];
  const skipped: string[] = [];
  if (entry.tags.length === 0) await push(entry.digest);
  for (const tag of entry.tags) {
    const verdict = judgeRestore(entry.digest, await client.digestOf(entry.repository, tag), force);
    if (verdict === 'skip') skipped.push(tag);
    else {
      if (verdict === 'restore') await push(tag);
      restored.push(tag);
    }
  }
  return { restored, skipped };
}
