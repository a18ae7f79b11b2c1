import { isNotFound, unlessNotFound } from '../errors.js';
import { mapConcurrent } from '../http/limiter.js';
import { isIndexMediaType } from '../manifest/media-types.js';
import type { FreshState } from '../plan/judge.js';
import type { RepositoryPlan } from '../plan/plan.js';
import type { RegistryApi } from './api.js';
import { isThrowaway } from './untag.js';

/** What apply re-reads right before changing a repository (plan/apply.ts), for the judge (plan/judge.ts). */

/** Nested indexes deeper than this are not followed (OCI images nest one or two levels). */
const MAX_INDEX_DEPTH = 8;

/**
 * The repository as it is now: every listed tag's digest (one HEAD each; a tag whose manifest is
 * gone is left out), the children of every index those tags reach (fetched by digest, so the
 * cache serves them), and which planned tags now hold one of krill's throwaways.
 */
export async function readFreshState(client: RegistryApi, plan: RepositoryPlan): Promise<FreshState> {
  const { repository } = plan;
  const listed = await client.listTags(repository);
  const tags = new Map<string, string>();
  const dangling = new Set<string>();
  const indexes = new Set<string>();
  await mapConcurrent(listed, 16, async (tag) => {
    try {
      const head = await client.headManifest(repository, tag);
      tags.set(tag, head.digest);
      if (isIndexMediaType(head.mediaType)) indexes.add(head.digest);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      dangling.add(tag); // listed, manifest gone
    }
  });
  const children = new Map<string, string[]>();
  let level = [...indexes];
  for (let depth = 0; level.length > 0 && depth < MAX_INDEX_DEPTH; depth++) {
    const next: string[] = [];
    await mapConcurrent(level, 16, async (digest) => {
      if (children.has(digest)) return;
      const fetched = await unlessNotFound(client.getManifest(repository, digest));
      const kids = fetched?.manifest.kind === 'index' ? fetched.manifest.manifests.map((d) => d.digest) : [];
      children.set(digest, kids);
      for (const kid of kids) if (!children.has(kid)) next.push(kid);
    });
    level = next;
  }
  const planned = new Map<string, string>();
  for (const action of plan.actions) {
    if (action.kind === 'untag') planned.set(action.tag, action.digest);
    else if (action.kind === 'delete-manifest') for (const tag of action.tags) planned.set(tag, action.digest);
  }
  const throwaways = new Set<string>();
  await mapConcurrent(
    [...planned].filter(([tag, digest]) => tags.has(tag) && tags.get(tag) !== digest),
    16,
    async ([tag]) => {
      const fetched = await unlessNotFound(client.getManifest(repository, tags.get(tag)!));
      if (fetched && isThrowaway(fetched)) throwaways.add(fetched.digest);
    },
  );
  return { tags, children, throwaways, dangling };
}
