import type { Reference } from '../ref/reference.js';
import { canonicalHost } from '../ref/reference.js';
import type { RemoteTags } from '../model/remote-tags.js';
import type { LocalImage } from './engine.js';

/**
 * Tag-by-tag state of a registry repository against a local engine (or a second registry). Pure.
 * PRESENT: same digest locally · CHANGED: the local tag has another digest · ABSENT: only in the
 * registry · LOCAL-ONLY: only local · ASSUMED: named with `=` but not listed by the registry.
 */

export type CompareState = 'PRESENT' | 'CHANGED' | 'ABSENT' | 'LOCAL-ONLY' | 'ASSUMED';

export interface CompareRow {
  tag: string;
  state: CompareState;
  /** The registry's digest for the tag (null when the registry does not have it). */
  digest: string | null;
  localId: string | null;
  created: string | null;
}

/** `host/repo` as the engine names images (Docker Hub aliases folded into docker.io). */
export function canonicalName(ref: Reference): string {
  return `${canonicalHost(ref.registry.host)}/${ref.repository}`;
}

/** `name` is the canonical `host/repo` of the registry repository. */
export function compareWithLocal(name: string, remote: RemoteTags, local: LocalImage[]): CompareRow[] {
  const rows: CompareRow[] = [];
  const byTag = new Map<string, LocalImage>();
  for (const image of local) for (const tag of image.tags) byTag.set(tag, image);
  const state = (tag: string, digest: string | null, assumed: boolean): CompareRow => {
    const image = byTag.get(`${name}:${tag}`);
    const base = { tag, digest, localId: image?.id ?? null, created: image?.created ?? null };
    if (assumed) return { ...base, state: 'ASSUMED' };
    if (!image) return { ...base, state: 'ABSENT' };
    return { ...base, state: digest !== null && image.digests.includes(`${name}@${digest}`) ? 'PRESENT' : 'CHANGED' };
  };
  for (const [tag, digest] of remote.listed) rows.push(state(tag, digest, false));
  for (const [tag, digest] of remote.assumed) rows.push(state(tag, digest, true));
  for (const [tag, image] of remote.namedOnly ? [] : byTag) {
    if (!tag.startsWith(`${name}:`)) continue;
    const short = tag.slice(name.length + 1);
    if (remote.listed.has(short) || remote.assumed.has(short)) continue;
    rows.push({ tag: short, state: 'LOCAL-ONLY', digest: null, localId: image.id, created: image.created });
  }
  return rows.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}

/** The same states against a second registry: `other` maps tag → digest there. */
export function compareWithRegistry(remote: RemoteTags, other: Map<string, string>): CompareRow[] {
  const rows: CompareRow[] = [];
  const row = (tag: string, digest: string | null, assumed: boolean): CompareRow => {
    const there = other.get(tag);
    const base = { tag, digest, localId: null, created: null };
    if (assumed) return { ...base, state: 'ASSUMED' };
    if (there === undefined) return { ...base, state: 'ABSENT' };
    return { ...base, state: there === digest ? 'PRESENT' : 'CHANGED' };
  };
  for (const [tag, digest] of remote.listed) rows.push(row(tag, digest, false));
  for (const [tag, digest] of remote.assumed) rows.push(row(tag, digest, true));
  for (const tag of remote.namedOnly ? [] : other.keys())
    if (!remote.listed.has(tag) && !remote.assumed.has(tag))
      rows.push({ tag, state: 'LOCAL-ONLY', digest: null, localId: null, created: null });
  return rows.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
}
