import { AbortedError, AuthError, KrillError, RegistryError, isAbortError } from '../errors.js';
import { isDigest } from '../manifest/digest.js';
import type { RegistryApi } from '../registry/api.js';
import type { JournalEntry } from './journal.js';

/**
 * Puts back what a journal says was removed, every manifest before the indexes that list it
 * (restoreOrder), each under each of its tags. Works until the registry's
 * garbage collector has deleted the blobs.
 *
 * A tag is restored only when it is absent or already points where the journal says; a tag pushed
 * again since the removal belongs to someone else now and is skipped (unless `force`).
 */

export interface UndoOutcome {
  repository: string;
  digest: string;
  tags: string[];
  /** `already`: the tags (or the untagged manifest) were back before this undo: nothing was sent. */
  status: 'restored' | 'already' | 'skipped' | 'failed';
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

/** The digests an index lists (`manifests[].digest`); none for an image manifest or unreadable bytes. */
function childDigests(entry: JournalEntry): string[] {
  let parsed: unknown;
  // Stryker disable all: equivalent, without the early return `parsed` stays undefined and lists nothing.
  try {
    parsed = JSON.parse(Buffer.from(entry.manifest, 'base64').toString('utf8'));
  } catch {
    return [];
  }
  // Stryker restore all
  const manifests = (parsed as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) return [];
  return manifests.flatMap((m) => {
    const digest = (m as { digest?: unknown } | null)?.digest;
    // Stryker disable next-line ArrayDeclaration: equivalent, a child that is no digest matches no journal entry.
    return typeof digest === 'string' && isDigest(digest) ? [digest] : [];
  });
}

const entryKey = (e: { registry: { host: string }; repository: string }, digest: string) =>
  `${e.registry.host}/${e.repository}@${digest}`;

/**
 * The order undo restores entries in, deterministic and dependency-first: a registry accepts an
 * index only when every manifest it lists exists (distribution answers 400 MANIFEST_BLOB_UNKNOWN),
 * so each entry comes after the journal's entries for the manifests it lists — platform manifests
 * before their index, signatures before the fallback referrers index `sha256-<hex>` listing them.
 * Within that, platform manifests first, then deleted manifests, then untags (a tag put back on a
 * digest that still exists), each group in journal order. Pure.
 */
export function restoreOrder(entries: readonly JournalEntry[]): JournalEntry[] {
  const base = [
    ...entries.filter((e) => e.parent).reverse(),
    ...entries.filter((e) => !e.parent && e.kind === 'delete-manifest'),
    // Stryker disable next-line all: equivalent, an entry listed twice is placed once, at its first place.
    ...entries.filter((e) => !e.parent && e.kind !== 'delete-manifest'),
  ];
  const byKey = new Map<string, JournalEntry[]>();
  for (const e of base) {
    const key = entryKey(e, e.digest);
    byKey.set(key, [...(byKey.get(key) ?? []), e]);
  }
  const ordered: JournalEntry[] = [];
  const placed = new Set<JournalEntry>();
  const visiting = new Set<JournalEntry>();
  // Depth-first, children first; a cycle (only a hostile journal has one) is cut where it closes.
  const visit = (entry: JournalEntry) => {
    if (placed.has(entry) || visiting.has(entry)) return;
    visiting.add(entry);
    for (const child of childDigests(entry)) for (const dep of byKey.get(entryKey(entry, child)) ?? []) visit(dep);
    visiting.delete(entry);
    placed.add(entry);
    ordered.push(entry);
  };
  for (const entry of base) visit(entry);
  return ordered;
}

export async function undoJournal(
  clientFor: (entry: JournalEntry) => Promise<RegistryApi>,
  entries: JournalEntry[],
  options: UndoOptions = {},
): Promise<UndoOutcome[]> {
  const outcomes: UndoOutcome[] = [];
  const failed = new Set<string>();
  for (const entry of restoreOrder(entries)) {
    const at = { repository: entry.repository, digest: entry.digest };
    try {
      const { restored, already, skipped, untagged } = await restoreEntry(
        await clientFor(entry),
        entry,
        options.force === true,
      );
      if (untagged) outcomes.push({ ...at, tags: [], status: untagged });
      if (restored.length > 0) outcomes.push({ ...at, tags: restored, status: 'restored' });
      if (already.length > 0) outcomes.push({ ...at, tags: already, status: 'already' });
      if (skipped.length > 0) {
        const detail = 'pushed again since the removal; pass --force to overwrite';
        outcomes.push({ ...at, tags: skipped, status: 'skipped', detail });
      }
    } catch (error) {
      if (isAbortError(error)) throw new AbortedError('interrupted', { cause: error });
      if (!(error instanceof KrillError) || error instanceof AuthError) throw error;
      failed.add(entryKey(entry, entry.digest));
      outcomes.push({
        ...at,
        tags: entry.tags,
        status: 'failed',
        detail: `${error.message}${diagnose(entry, error, failed)}`,
      });
    }
  }
  return outcomes;
}

/**
 * Why a PUT was refused, when the registry's code says something is missing. An index whose
 * listed manifest could not be restored first says which one; an index missing a manifest that is
 * not in the journal says so; only an image manifest whose blobs are missing points to the
 * garbage collector.
 */
function diagnose(entry: JournalEntry, error: KrillError, failed: ReadonlySet<string>): string {
  const missing =
    error instanceof RegistryError &&
    (error.hasCode('BLOB_UNKNOWN') || error.hasCode('MANIFEST_BLOB_UNKNOWN') || error.hasCode('MANIFEST_UNKNOWN'));
  if (!missing) return '';
  const children = childDigests(entry);
  if (children.length === 0) return ' (its blobs are gone: the garbage collector has run)';
  const notBack = children.filter((d) => failed.has(entryKey(entry, d)));
  if (notBack.length > 0)
    return ` (it lists ${notBack.join(', ')}, which could not be restored: see ${notBack.length === 1 ? 'its line' : 'their lines'})`;
  return ' (a manifest it lists is not in the registry and not in this journal)';
}

/** Pushes one entry's manifest back, by digest when it had no tag, else on each tag still ours. */
async function restoreEntry(
  client: RegistryApi,
  entry: JournalEntry,
  force: boolean,
): Promise<{ restored: string[]; already: string[]; skipped: string[]; untagged?: 'restored' | 'already' }> {
  const bytes = Buffer.from(entry.manifest, 'base64');
  const push = (reference: string) => client.putManifest(entry.repository, reference, bytes, entry.mediaType);
  const restored: string[] = [];
  const already: string[] = [];
  const skipped: string[] = [];
  if (entry.tags.length === 0) {
    // An untagged manifest (a platform of an index, a referrer): back already when it resolves.
    if ((await client.digestOf(entry.repository, entry.digest)) !== undefined)
      return { restored, already, skipped, untagged: 'already' };
    await push(entry.digest);
    return { restored, already, skipped, untagged: 'restored' };
  }
  for (const tag of entry.tags) {
    const verdict = judgeRestore(entry.digest, await client.digestOf(entry.repository, tag), force);
    if (verdict === 'skip') skipped.push(tag);
    else if (verdict === 'already') already.push(tag);
    else {
      await push(tag);
      restored.push(tag);
    }
  }
  return { restored, already, skipped };
}
