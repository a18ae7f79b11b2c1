import { attachmentSubject } from '../manifest/referrers.js';

/**
 * The edges deletion follows, shared by planning (plan.ts) and apply's verdicts (judge.ts). Pure.
 * A digest reaches its index children and its referrers; a referrer is a manifest whose `subject`
 * names the digest, or the manifest an attachment tag (`sha256-<hex>`, `sha256-<hex>.sig`) holds.
 */

/** Digests reachable from `roots` (cycles cannot loop: each digest once). */
export function reachable(
  roots: Iterable<string>,
  edges: (digest: string) => readonly string[] | undefined,
): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const digest = stack.pop()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    for (const next of edges(digest) ?? []) stack.push(next);
  }
  return seen;
}

/** subject → referrers, from manifests' `subject` fields and attachment tags. */
export class ReferrerIndex {
  readonly #bySubject = new Map<string, Set<string>>();

  add(subject: string, referrer: string): void {
    if (subject === referrer) return;
    let set = this.#bySubject.get(subject);
    if (!set) this.#bySubject.set(subject, (set = new Set()));
    set.add(referrer);
  }

  /** Adds the manifest an attachment tag holds as a referrer of the tag's subject; false for other tags. */
  addTag(tag: string, digest: string): boolean {
    const subject = attachmentSubject(tag);
    if (subject === undefined) return false;
    this.add(subject, digest);
    return true;
  }

  of(subject: string): string[] {
    return [...(this.#bySubject.get(subject) ?? [])];
  }

  has(subject: string): boolean {
    return this.#bySubject.has(subject);
  }
}

/** Children and referrers together: what a digest keeps alive, and what goes with it. */
export function followAll(
  children: (digest: string) => readonly string[] | undefined,
  referrers: ReferrerIndex,
): (digest: string) => string[] {
  return (digest) => [...(children(digest) ?? []), ...referrers.of(digest)];
}
