import { UsageError } from '../errors.js';
import { readLiveSet } from '../live/live-set.js';
import { inShard, parseShard } from '../plan/shard.js';
import { makePlan } from '../plan/make-plan.js';
import type { Plan, RepositoryPlan } from '../plan/plan.js';
import { buildRepositoryPlan } from '../plan/plan.js';
import type { ListingChanges } from '../plan/listing.js';
import { checkListing, diffListing } from '../plan/listing.js';
import type { TagDecision } from '../policy/evaluate.js';
import type { RuleSet } from '../policy/rule-set.js';
import type { RegistryAddress } from '../ref/reference.js';
import type { RepositorySnapshot } from '../registry/snapshot.js';
import type { Session } from '../session.js';
import type { History } from '../state/history.js';
import type { CleanupRequest } from './cleanup-targets.js';
import {
  checkRulesMatch,
  cleanupTargets,
  compileRuleList,
  loadRetention,
  unmatchedPatterns,
  wholePlanLimit,
  withLimits,
} from './cleanup-targets.js';
import { attachUsage } from './ledger.js';
import { liveSetRecord, toLiveSource } from './live.js';
import { readRetained, readSnapshots } from './snapshots.js';

/** The same plan as `krill cleanup --json --dry-run`. Validates everything before any request. */
export async function planCleanup(session: Session, request: CleanupRequest): Promise<Plan> {
  const { policy, ruleSetFor, ruleSetOf, compileRules, parseBudget, parseSize, evaluateRuleSet } =
    await loadRetention(request);
  const flagRules = policy ? undefined : compileRuleList(request.rules, compileRules, ruleSetOf);
  session.ledgerSpec(); // a bad --ledger fails before any request
  const { registry, repositories } = cleanupTargets(session, request, policy);
  const shard = request.shard !== undefined ? parseShard(request.shard, session.env) : undefined;
  if (shard && repositories !== undefined)
    throw new UsageError(
      '--shard splits a catalog: use it with --all-repos or a policy file, not with named repositories',
    );
  const whole = wholePlanLimit(request, policy, parseBudget, parseSize);
  const sources = (request.keepInUse ?? policy?.keepInUse ?? []).map((s) =>
    toLiveSource(session, s, request.rollbackDepth),
  );
  const client = await session.client(registry);
  const live = sources.length > 0 ? await readLiveSet(sources, client) : undefined;
  for (const warning of live?.warnings ?? []) session.logger.warn(warning);
  const catalog = repositories === undefined || request.scanAll ? (await client.listRepositories()).sort() : undefined;
  const rulesOf = (repository: string): RuleSet | undefined =>
    policy ? ruleSetFor(policy, repository, Boolean(request.allRepos) || repositories !== undefined) : flagRules;
  const targets = repositories ?? catalog!.filter((r) => inShard(r, shard) && rulesOf(r) !== undefined);
  const targeted = new Set(targets);
  if (policy)
    for (const warning of checkRulesMatch(policy, repositories ?? catalog!, request.strict === true))
      session.logger.warn(warning);
  // Repositories read only to account for blobs they share with the targets; a shard reads its own
  // part only (unless --scan-all), so N jobs read the catalog once between them.
  const others = catalog
    ? catalog.filter((r) => !targeted.has(r) && (request.scanAll === true || inShard(r, shard)))
    : [];
  const snapshots = await readSnapshots(session, client, [...targets, ...others], catalog !== undefined, request);
  const history = request.history === false ? undefined : session.history();
  if (history) await readRetained(session, client, history, snapshots);
  const byPulls = targets.filter((r) => rulesOf(r)!.rules.some((selected) => selected.rules.unpulledFor));
  if (request.allowBeforeLedger)
    for (const r of byPulls) for (const selected of rulesOf(r)!.rules) selected.rules.allowBeforeLedger = true;
  const pullsChecked = byPulls.length > 0 ? new Date().toISOString() : undefined;
  if (byPulls.length > 0)
    await attachUsage(
      session,
      registry.host,
      byPulls.map((r) => snapshots.get(r)!),
    );
  const now = Date.now();
  const plans: RepositoryPlan[] = [];
  const changes: Record<string, ListingChanges> = {};
  for (const repository of targets) {
    const snapshot = snapshots.get(repository)!;
    const rules = rulesOf(repository)!;
    if (session.logger.debugEnabled)
      for (const selected of rules.rules)
        for (const note of unmatchedPatterns(snapshot, selected.rules)) session.logger.debug(note);
    const listing = await checkListingOf(session, history, registry, snapshot, request.acceptListing === true);
    // A listing that looks wrong keeps every tag there (plan/listing.ts).
    const decisions: TagDecision[] = listing.wrong
      ? snapshot.tags.map((t) => ({ ...t, action: 'keep', reason: listing.wrong! }))
      : evaluateRuleSet(snapshot, rules, now);
    const inUse = live?.digests.get(repository);
    const repositoryPlan = buildRepositoryPlan(snapshot, decisions, {
      deleteOrphans: request.deleteOrphans === true && !listing.wrong,
      ...(inUse ? { live: inUse } : {}),
    });
    if (listing.wrong) repositoryPlan.listingSuspect = listing.wrong;
    plans.push(repositoryPlan);
    if (request.diff && listing.last)
      changes[repository] = diffListing(listing.last, listing.tags, repositoryPlan.delete.length);
    await listing.record(repositoryPlan.delete.length, now);
  }
  const all = [...snapshots.values()];
  const plan = makePlan(registry, plans, all, catalog !== undefined && (!shard || request.scanAll === true));
  if (shard) plan.shard = `${shard.index}/${shard.total}`;
  if (request.diff) plan.changes = changes;
  if (live) plan.keepInUse = liveSetRecord(sources, live.digests, targets, request.rollbackDepth);
  if (pullsChecked) plan.pullsChecked = pullsChecked;
  return withLimits(plan, all, whole, rulesOf);
}

/**
 * The listing check (plan/listing.ts) against the last recorded run, and the recording of this
 * one — unless it looks wrong: the next run then compares with the last good listing.
 */
async function checkListingOf(
  session: Session,
  history: History | undefined,
  registry: RegistryAddress,
  snapshot: RepositorySnapshot,
  acceptListing: boolean,
) {
  const listing: Record<string, string> = {};
  for (const tag of snapshot.dangling ?? []) listing[tag] = '';
  for (const t of snapshot.invalid ?? []) listing[t.tag] = t.digest;
  for (const t of snapshot.tags) listing[t.tag] = t.digest;
  const tags = new Set(Object.keys(listing));
  const last = (await history?.runs(registry.host, snapshot.repository))?.at(-1);
  const wrong = last && !acceptListing ? checkListing(Object.keys(last.tags), last.removed, tags) : undefined;
  if (wrong) session.logger.warn(`${snapshot.repository}: ${wrong}; nothing will be deleted there`);
  const record = async (planned: number, now: number) => {
    if (wrong || !history) return;
    const run = { time: new Date(now).toISOString(), tags: listing, removed: [], planned };
    await history.record(registry.host, snapshot.repository, run);
  };
  return { wrong, last, tags, record };
}
