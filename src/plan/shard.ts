import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';

/**
 * `--shard I/N`: which repositories a job of N takes. A hash of the repository name, not its place
 * in the catalog, so a repository stays in its shard when others come and go, and every shard is
 * known without reading the catalog twice. Pure. `auto` reads the scheduler's own variables:
 * GitLab's `parallel:` (CI_NODE_INDEX from 1, CI_NODE_TOTAL), or a Kubernetes Indexed Job
 * (JOB_COMPLETION_INDEX from 0; Kubernetes does not pass the count, so `auto/N` gives it).
 */

export interface Shard {
  /** 1-based. */
  index: number;
  total: number;
}

const MAX_SHARDS = 1000;

export function parseShard(text: string, env: NodeJS.ProcessEnv): Shard {
  const auto = /^auto(?:\/(\d+))?$/.exec(text.trim());
  if (auto) {
    if (env.CI_NODE_INDEX !== undefined && env.CI_NODE_TOTAL !== undefined)
      return checked(Number(env.CI_NODE_INDEX), Number(env.CI_NODE_TOTAL), 'CI_NODE_INDEX/CI_NODE_TOTAL');
    if (env.JOB_COMPLETION_INDEX !== undefined && auto[1] !== undefined)
      return checked(Number(env.JOB_COMPLETION_INDEX) + 1, Number(auto[1]), 'JOB_COMPLETION_INDEX');
    throw new UsageError(
      '--shard auto needs CI_NODE_INDEX and CI_NODE_TOTAL (GitLab parallel:), or JOB_COMPLETION_INDEX with --shard auto/N (a Kubernetes Indexed Job of N completions)',
    );
  }
  const given = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!given) throw new UsageError(`invalid --shard "${text}": expected I/N (1/3, 2/3, 3/3) or auto`);
  return checked(Number(given[1]), Number(given[2]), '--shard');
}

function checked(index: number, total: number, from: string): Shard {
  if (
    !Number.isInteger(total) ||
    total < 1 ||
    total > MAX_SHARDS ||
    !Number.isInteger(index) ||
    index < 1 ||
    index > total
  )
    throw new UsageError(`invalid shard ${index}/${total} from ${from}: expected I/N with 1 ≤ I ≤ N ≤ ${MAX_SHARDS}`);
  return { index, total };
}

/** The shard (1-based) a repository belongs to among `total`. */
export function shardOf(repository: string, total: number): number {
  const head = createHash('sha256').update(repository).digest().readBigUInt64BE(0);
  return Number(head % BigInt(total)) + 1;
}

export function inShard(repository: string, shard: Shard | undefined): boolean {
  return shard === undefined || shardOf(repository, shard.total) === shard.index;
}
