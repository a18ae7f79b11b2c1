import type { DigestUsage, RepositorySnapshot } from '../model/snapshot.js';

/**
 * An image's use as the ledger saw it, for `--unpulled-for`. Pure. A multi-platform image is one
 * image: pulling one platform (containerd GETs the index by tag, then the child by digest) is a
 * pull of the index, and a pulled child keeps its index — so an index's use is the latest of its
 * own and its children's.
 */

export function imageUsage(snapshot: RepositorySnapshot, digest: string): DigestUsage | undefined {
  const digests = snapshot.usage?.digests;
  if (!digests) return undefined;
  let combined: DigestUsage | undefined;
  const seen = new Set<string>();
  const visit = (at: string, depth: number) => {
    // Stryker disable next-line ConditionalExpression: the depth bound only guards a hostile cycle.
    if (seen.has(at) || depth > 8) return;
    seen.add(at);
    const own = digests[at];
    if (own) combined = combined ? merge(combined, own) : { ...own };
    for (const child of snapshot.manifests[at]?.children ?? []) visit(child, depth + 1);
  };
  visit(digest, 0);
  return combined;
}

function merge(a: DigestUsage, b: DigestUsage): DigestUsage {
  const out: DigestUsage = { pulls: a.pulls + b.pulls };
  const max = (x?: number, y?: number) => (x === undefined ? y : y === undefined ? x : Math.max(x, y));
  const min = (x?: number, y?: number) => (x === undefined ? y : y === undefined ? x : Math.min(x, y));
  const lastPull = max(a.lastPull, b.lastPull);
  const lastPush = max(a.lastPush, b.lastPush);
  const firstPush = min(a.firstPush, b.firstPush);
  if (lastPull !== undefined) {
    out.lastPull = lastPull;
    const agent = a.lastPull === lastPull ? a.lastPullAgent : b.lastPullAgent;
    if (agent !== undefined) out.lastPullAgent = agent;
  }
  if (lastPush !== undefined) out.lastPush = lastPush;
  if (firstPush !== undefined) out.firstPush = firstPush;
  return out;
}
