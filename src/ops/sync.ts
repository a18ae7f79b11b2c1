import { SHAPES, checkOptions } from '../check-options.js';
import { UsageError, isAbortError, isNotFound } from '../errors.js';
import type { CompareRow } from '../engine/compare.js';
import { canonicalName, compareWithLocal, compareWithRegistry } from '../engine/compare.js';
import type { LocalImage } from '../engine/engine.js';
import { DEFAULT_DOCKER_HOST, Engine } from '../engine/engine.js';
import { attachmentSubject } from '../manifest/referrers.js';
import { makePlan } from '../plan/make-plan.js';
import type { Pattern } from '../pattern.js';
import { compilePattern } from '../pattern.js';
import { inShard, parseShard } from '../plan/shard.js';
import type { Plan, RepositoryPlan } from '../plan/plan.js';
import { buildRepositoryPlan } from '../plan/plan.js';
import type { TagDecision } from '../policy/evaluate.js';
import { DOCKER_HUB, formatReference } from '../ref/reference.js';
import type { RepositorySnapshot } from '../registry/snapshot.js';
import { readRepositorySnapshot } from '../registry/snapshot.js';
import type { Login, Session } from '../session.js';
import type { SyncSpec, SyncTarget } from '../sync/spec.js';
import { autoPrefix, destinationRepository, parseSyncTarget } from '../sync/spec.js';
import type { SyncJob, SyncOptions, SyncOutcome } from '../sync/sync.js';
import { readRemoteTags, readTagDigests, runRounds, selectTags, syncJob } from '../sync/sync.js';

/** lstags parity: sync, prune, compare and pull, over specs `[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]`. */

export interface SyncRequest {
  /** `HOST[:PORT][/PREFIX]` */
  to: string;
  /** A path placed before the source repository at the target; 'auto' = the source host. */
  prefix?: string | undefined;
  destinationLogin?: Login;
  /** `I/N` or `auto`: only the specs whose source repository falls in this job's share. */
  shard?: string | undefined;
  /** Tags that never change once pushed (a regex): present at the destination means done. */
  immutable?: string | undefined;
  /** Per spec (its text as given), overriding `immutable`. */
  immutableBySpec?: Record<string, string> | undefined;
}

export interface DaemonOptions {
  /** Time between the end of a round and the start of the next. */
  intervalMs: number;
  /** Checked between rounds and every second while waiting: true ends the loop. */
  stopped: () => boolean;
  onRoundStart?: () => void;
  onRound?: (outcomes: SyncOutcome[]) => void;
}

/** Jobs for specs into `to`, every spec validated before any request. */
export async function prepareSyncJobs(session: Session, specs: string[], request: SyncRequest): Promise<SyncJob[]> {
  checkOptions(request.destinationLogin, 'syncJobs options.destinationLogin', SHAPES.login);
  if (specs.length === 0)
    throw new UsageError('name what to sync: krill sync SPEC… --to TARGET, or krill sync -f FILE');
  const target: SyncTarget = parseSyncTarget(request.to, { plainHttp: session.plainHttp });
  const shard = request.shard !== undefined ? parseShard(request.shard, session.env) : undefined;
  const compiled = new Map<string, Pattern>();
  const immutableOf = (input: string): Pattern | undefined => {
    const text = request.immutableBySpec?.[input] ?? request.immutable;
    if (text === undefined) return undefined;
    if (!compiled.has(text)) compiled.set(text, compilePattern(text, '--immutable'));
    return compiled.get(text);
  };
  for (const spec of specs) immutableOf(spec); // every regex checked before any request
  const parsed = specs.map((s) => session.parseSpec(s)).filter((spec) => inShard(spec.source.repository, shard));
  const prefixFor = (spec: SyncSpec) =>
    request.prefix === 'auto'
      ? [target.prefix, autoPrefix(spec.source.registry)].filter(Boolean).join('/')
      : [target.prefix, request.prefix].filter(Boolean).join('/');
  session.setDestination(target.registry);
  const destination = await session.client(target.registry, {
    role: 'destination',
    ...(request.destinationLogin ? { login: request.destinationLogin } : {}),
  });
  const jobs: SyncJob[] = [];
  for (const spec of parsed) {
    const source = await session.client(spec.source.registry, { role: 'source' });
    const repository = destinationRepository(target, spec.source.repository, prefixFor(spec));
    const immutable = immutableOf(spec.input);
    jobs.push({ spec, source, destination, destinationRepository: repository, ...(immutable ? { immutable } : {}) });
  }
  return jobs;
}

/** One round over prepared jobs: copies what the destination lacks or has another digest of. */
export async function runSync(
  session: Session,
  jobs: SyncJob[],
  options: SyncOptions & { daemon?: boolean },
): Promise<SyncOutcome[]> {
  const all: SyncOutcome[] = [];
  for (const job of jobs) {
    if (options.shouldStop?.()) break;
    try {
      all.push(...(await syncJob(job, { checkConcurrency: session.concurrency, ...options })));
    } catch (error) {
      if (isAbortError(error) || !options.daemon) throw error;
      // Daemon mode: a whole spec failing (listing, auth) is logged and the loop goes on.
      session.logger.warn(`${job.spec.input}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return all;
}

/** `sync --daemon`: rounds until `stopped()`, a graceful stop finishing the current image. */
export function runSyncDaemon(session: Session, jobs: SyncJob[], options: SyncOptions & DaemonOptions): Promise<void> {
  const { intervalMs, stopped, onRoundStart, onRound, ...sync } = options;
  const signal = session.signal();
  const round = () => {
    onRoundStart?.();
    return runSync(session, jobs, { ...sync, daemon: true, shouldStop: stopped });
  };
  return runRounds(round, { intervalMs, stopped, ...(signal ? { signal } : {}), ...(onRound ? { onRound } : {}) });
}

/**
 * `sync --prune`: a plan deleting destination tags that the source no longer lists, with the
 * same safety as `rm`. The source's whole tag list counts: a `~/REGEX/` filter narrows what is
 * copied, never what is kept.
 */
export async function planPrune(session: Session, jobs: SyncJob[]): Promise<Plan> {
  const destination = jobs[0]!.destination;
  const byRepo = new Map<string, Set<string>>();
  for (const job of jobs) {
    const { tags, listed, named } = await selectTags(job.source, job.spec);
    if (named) continue; // named tags say nothing about the others
    const wanted = byRepo.get(job.destinationRepository) ?? new Set<string>();
    for (const t of [...listed, ...tags]) wanted.add(t);
    byRepo.set(job.destinationRepository, wanted);
  }
  const snapshots: RepositorySnapshot[] = [];
  const plans: RepositoryPlan[] = [];
  for (const [repository, wanted] of byRepo) {
    let snapshot;
    try {
      snapshot = await readRepositorySnapshot(destination, repository, { concurrency: session.concurrency });
    } catch (error) {
      if (isNotFound(error)) continue;
      throw error;
    }
    // Attachment tags follow their image (krill writes fallback indexes the source may not have).
    const decisions: TagDecision[] = snapshot.tags
      .filter(({ tag }) => attachmentSubject(tag) === undefined || wanted.has(tag))
      .map(({ tag, digest }) =>
        wanted.has(tag)
          ? { tag, digest, action: 'keep', reason: 'at the source' }
          : { tag, digest, action: 'delete', reason: 'no longer at the source' },
      );
    snapshots.push(snapshot);
    plans.push(buildRepositoryPlan(snapshot, decisions));
  }
  return makePlan(destination.address, plans, snapshots, false);
}

export interface CompareOptions {
  /** `HOST[:PORT][/PREFIX]`: compare with a second registry instead of the local engine. */
  with?: string;
  /** The local engine's images; default: read from the engine at DOCKER_HOST. */
  local?: LocalImage[];
}

/** Per spec, the state of each tag against the local engine's images, or a second registry. */
export async function compareTags(
  session: Session,
  specs: string[],
  options: CompareOptions,
): Promise<Array<{ repository: string; rows: CompareRow[] }>> {
  const parsed = specs.map((s) => session.parseSpec(s));
  const other =
    options.with !== undefined ? parseSyncTarget(options.with, { plainHttp: session.plainHttp }) : undefined;
  // Bad input fails above, before the engine is contacted.
  const local = other ? [] : (options.local ?? (await withEngine(session, (engine) => engine.listImages())));
  // Without --with, the first SPEC's registry is the one the given credentials belong to.
  session.setDestination(other?.registry ?? parsed[0]?.source.registry ?? { host: DOCKER_HUB, scheme: 'https' });
  const results: Array<{ repository: string; rows: CompareRow[] }> = [];
  for (const spec of parsed) {
    const client = await session.client(spec.source.registry, other ? { role: 'source' } : {});
    const remote = await readRemoteTags(client, spec, session.concurrency);
    let rows: CompareRow[];
    if (other) {
      const there = await readTagDigests(
        await session.client(other.registry, { role: 'destination' }),
        destinationRepository(other, spec.source.repository),
        spec,
        remote,
        session.concurrency,
      );
      rows = compareWithRegistry(remote, there);
    } else {
      rows = compareWithLocal(canonicalName(spec.source), remote, local);
    }
    results.push({ repository: canonicalName(spec.source), rows });
  }
  return results;
}

export interface PullOptions {
  /** List what would be pulled; the engine is not contacted. */
  dryRun?: boolean;
  /** After each image: its name. */
  onPulled?: (name: string) => void;
}

/** `krill pull`: the tags each spec selects, pulled into the local engine with the registry's credentials. */
export async function pullImages(session: Session, specs: string[], options: PullOptions): Promise<string[]> {
  const parsed = specs.map((s) => session.parseSpec(s));
  const pull = async (engine: Engine | undefined) => {
    const pulled: string[] = [];
    for (const spec of parsed) {
      const client = await session.client(spec.source.registry);
      const { tags } = await selectTags(client, spec);
      const credentials = engine ? await session.credentials(spec.source.registry) : undefined;
      for (const tag of tags) {
        if (engine) await engine.pull(spec.source, tag, credentials);
        const name = formatReference({ ...spec.source, tag });
        pulled.push(name);
        options.onPulled?.(name);
      }
    }
    return pulled;
  };
  return options.dryRun ? pull(undefined) : withEngine(session, pull);
}

/** The local engine at DOCKER_HOST (docker or podman), checked to answer, closed after `work`. */
async function withEngine<T>(session: Session, work: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = new Engine(session.env.DOCKER_HOST || DEFAULT_DOCKER_HOST);
  try {
    await engine.ping();
    return await work(engine);
  } finally {
    await engine.close();
  }
}
