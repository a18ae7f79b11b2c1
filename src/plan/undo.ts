import { KrillError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import type { JournalEntry } from './journal.js';

/**
 * Puts back what a journal says was removed: platform manifests first (an index can only be pushed
 * when its children exist), then every manifest under each of its tags. Works until the registry's
 * garbage collector has deleted the blobs.
 */

export interface UndoOutcome {
  repository: string;
  digest: string;
  tags: string[];
  status: 'restored' | 'failed';
  detail?: string;
}

export async function undoJournal(clientFor: (entry: JournalEntry) => Promise<RegistryClient>, entries: JournalEntry[]): Promise<UndoOutcome[]> {
  const outcomes: UndoOutcome[] = [];
  // Platform manifests before the indexes that reference them; they were journaled breadth-first,
  // so the reverse order restores nested children before their parents.
  const ordered = [...entries.filter((e) => e.parent).reverse(), ...entries.filter((e) => !e.parent)];
  for (const entry of ordered) {
    const client = await clientFor(entry);
    const bytes = Buffer.from(entry.manifest, 'base64');
    try {
      if (entry.tags.length === 0) await client.putManifest(entry.repository, entry.digest, bytes, entry.mediaType);
      for (const tag of entry.tags) await client.putManifest(entry.repository, tag, bytes, entry.mediaType);
      outcomes.push({ repository: entry.repository, digest: entry.digest, tags: entry.tags, status: 'restored' });
    } catch (error) {
      if (!(error instanceof KrillError) || error.code === 'AUTH' || error.code === 'ABORTED') throw error;
      const hint = error.code === 'REGISTRY' && /BLOB_UNKNOWN|MANIFEST_BLOB_UNKNOWN/.test(error.message) ? ' (its blobs are gone: the garbage collector has run)' : '';
      outcomes.push({ repository: entry.repository, digest: entry.digest, tags: entry.tags, status: 'failed', detail: `${error.message}${hint}` });
    }
  }
  return outcomes;
}
