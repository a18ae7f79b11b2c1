import { UsageError } from '../../errors.js';
import { mapConcurrent } from '../../http/limiter.js';
import { makePlan } from '../../plan/make-plan.js';
import type { RepositoryPlan } from '../../plan/plan.js';
import { buildRepositoryPlan } from '../../plan/plan.js';
import { evaluateRules } from '../../policy/evaluate.js';
import type { Policy } from '../../policy/policy-file.js';
import { parsePolicy, rulesFor } from '../../policy/policy-file.js';
import type { Rules } from '../../policy/rules.js';
import { compileRules } from '../../policy/rules.js';
import type { RegistryAddress } from '../../ref/reference.js';
import { DOCKER_HUB, parseRegistryAddress } from '../../ref/reference.js';
import type { RepositorySnapshot } from '../../registry/snapshot.js';
import { readRepositorySnapshot } from '../../registry/snapshot.js';
import type { CliContext } from '../context.js';
import type { DeletionFlags } from '../deletion.js';
import { executePlan } from '../deletion.js';
import { readUserFile } from '../files.js';
import { startProgress } from '../progress.js';

interface CleanupOptions extends DeletionFlags {
  allRepos?: boolean;
  file?: string;
  keep?: number;
  deleteRegex?: string[];
  keepRegex?: string[];
  protectLatest: boolean;
  olderThan?: string;
  version?: string;
  sort?: string;
  scanAll?: boolean;
}

async function loadPolicy(path: string): Promise<Policy> {
  return parsePolicy(await readUserFile(path, 'policy file'), path);
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as unknown as CleanupOptions;
  const positional = (args[0] as string[] | undefined) ?? [];
  const ruleFlags = opts.keep !== undefined || opts.deleteRegex || opts.keepRegex || opts.olderThan !== undefined || opts.version !== undefined || opts.sort !== undefined || !opts.protectLatest;

  // Everything local is validated before the first request.
  const policy = opts.file !== undefined ? await loadPolicy(opts.file) : undefined;
  if (policy && ruleFlags) throw new UsageError('rule flags (--keep, --delete-regex, …) cannot be combined with -f: put the rules in the policy file');
  const flagRules: Rules | undefined = policy
    ? undefined
    : compileRules({ keep: opts.keep, deleteRegex: opts.deleteRegex, keepRegex: opts.keepRegex, protectLatest: opts.protectLatest, olderThan: opts.olderThan, version: opts.version, sort: opts.sort });

  let registry: RegistryAddress | undefined;
  let repositories: string[] | undefined; // undefined: the whole catalog
  if (opts.allRepos) {
    if (positional.length > 1) throw new UsageError('--all-repos takes at most one argument, the registry: krill cleanup --all-repos REGISTRY');
    const given = positional[0] ?? policy?.registry;
    registry = given !== undefined ? parseRegistryAddress(given, { plainHttp: ctx.options.plainHttp ?? false }) : ctx.defaultRegistry();
  } else if (positional.length > 0) {
    const refs = positional.map((p) => ctx.parseRepository(p));
    registry = refs[0]!.registry;
    if (refs.some((r) => r.registry.host !== registry!.host)) throw new UsageError('krill cleanup works on one registry at a time: run it once per registry');
    repositories = [...new Set(refs.map((r) => r.repository))];
  } else if (policy) {
    registry = policy.registry !== undefined ? parseRegistryAddress(policy.registry, { plainHttp: ctx.options.plainHttp ?? false }) : ctx.defaultRegistry();
  } else {
    throw new UsageError('name what to clean up: krill cleanup REPO…, krill cleanup --all-repos REGISTRY, or krill cleanup -f POLICY.yaml');
  }
  if (registry === undefined || registry.host === DOCKER_HUB) {
    throw new UsageError('name the registry (argument, --registry, KRILL_REGISTRY or "registry:" in the policy file); Docker Hub has no catalog or delete API');
  }

  const client = await ctx.client(registry);
  const catalog = repositories === undefined || opts.scanAll ? (await client.listRepositories()).sort() : undefined;
  const rulesOf = (repository: string): Rules | undefined =>
    policy ? rulesFor(policy, repository, opts.allRepos === true || repositories !== undefined) : flagRules;
  const targets = repositories ?? catalog!.filter((r) => rulesOf(r) !== undefined);
  // Repositories read only to account for blobs they share with the targets.
  const others = catalog ? catalog.filter((r) => !targets.includes(r)) : [];

  const progress = startProgress(ctx, 'reading repositories');
  const toRead = [...targets, ...others];
  let read = 0;
  const snapshots = new Map<string, RepositorySnapshot>();
  try {
    await mapConcurrent(toRead, Math.max(1, Math.ceil(ctx.options.concurrency / 2)), async (repository) => {
      // Repositories from the catalog may hold no tags at all (an interrupted push): empty, not an error.
      snapshots.set(repository, await readRepositorySnapshot(client, repository, { concurrency: ctx.options.concurrency, emptyIfUnknown: catalog !== undefined }));
      progress.update(++read, toRead.length);
    });
  } finally {
    progress.done();
  }

  const now = Date.now();
  const plans: RepositoryPlan[] = targets.map((repository) => {
    const snapshot = snapshots.get(repository)!;
    return buildRepositoryPlan(snapshot, evaluateRules(snapshot, rulesOf(repository)!, now));
  });
  const sawWholeRegistry = catalog !== undefined;
  const plan = makePlan(registry, plans, [...snapshots.values()], sawWholeRegistry);
  await executePlan(ctx, client, plan, opts, { question: `Apply this plan to ${registry.host}?` });
}
