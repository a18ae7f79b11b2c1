import {
  AbortedError,
  JournalError,
  NetworkError,
  UnsupportedError,
  isAbortError,
  isNotFound,
  unlessNotFound,
} from '../errors.js';
import { DEFAULT_CONCURRENCY, mapConcurrent } from '../http/limiter.js';
import { shortDigest } from '../manifest/manifest.js';
import type { FetchedManifest } from '../registry/client.js';
import type { RegistryApi } from '../registry/api.js';
import { removeFromFallbackIndex } from '../registry/fallback-index.js';
import { readFreshState } from '../registry/fresh-state.js';
import { Untagger } from '../registry/untag.js';
import type { Journal, JournalDone, JournalEntry } from './journal.js';
import type { Verdict } from './judge.js';
import { judgeRepository } from './judge.js';
import type { Plan, RepositoryPlan } from './plan.js';

/**
 * Carries out a plan: read the repository as it is now, let the pure judge (judge.ts) decide what
 * each action may still do, journal it, execute it, and check the registry afterwards. Effectful,
 * but it never goes beyond the plan, and a 404 counts as already done so reruns converge.
 *
 * Order inside a repository: untags one at a time, then manifest deletes in parallel, then the
 * platform manifests of deleted indexes. distribution 2.8 rewrites tag links in place, and a DELETE
 * by digest running while a throwaway is PUT onto a tag can read a half-written link, answer 500
 * after removing the manifest but not its tags, and leave dangling tags behind.
 */

export interface ApplyOutcome {
  repository: string;
  status: 'deleted' | 'untagged' | 'already-gone' | 'skipped' | 'failed';
  digest: string;
  tags: string[];
  detail?: string;
}

export interface ApplyResult {
  outcomes: ApplyOutcome[];
  /** Bytes of the throwaway manifests used to untag (the garbage collector frees them too). */
  scratchBytes: number;
}

export interface ExecuteOptions {
  journal: Journal;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Stops before the next change; an untag already started is finished first. */
  signal?: AbortSignal;
  /** The live set as re-read right before applying: repository → digests never to delete. */
  live?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Digests pulled since the plan was made (the ledger re-read): repository → digest → why. */
  pulled?: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

/** Errors that make every further request pointless: stop the whole apply. */
function isFatal(error: unknown): boolean {
  return isAbortError(error) || error instanceof UnsupportedError || error instanceof JournalError;
}

/**
 * A registry that went away mid-run: after this many connection failures in a row (each already
 * retried by the transport), stop with one line instead of one failure line per remaining action.
 */
const MAX_CONSECUTIVE_NETWORK_FAILURES = 5;

type Executable = Extract<
  Verdict,
  { kind: 'untag' | 'delete-manifest' | 'finish-untag' | 'remove-dangling' | 'unlist-referrer' }
>;

/** Runs one after another, before any delete: untags, and rewrites of fallback referrer indexes. */
function isSequential(verdict: Executable): boolean {
  return verdict.kind === 'untag' || verdict.kind === 'remove-dangling' || verdict.kind === 'unlist-referrer';
}

class RepositoryApply {
  readonly outcomes: ApplyOutcome[] = [];

  readonly #client: RegistryApi;
  readonly #plan: Plan;
  readonly #repo: RepositoryPlan;
  readonly #untagger: Untagger;
  readonly #options: ExecuteOptions;
  readonly #tick: () => void;
  readonly #network: { failures: number };

  constructor(
    client: RegistryApi,
    plan: Plan,
    repo: RepositoryPlan,
    untagger: Untagger,
    options: ExecuteOptions,
    tick: () => void,
    /** Connection failures in a row, shared by every repository of the run. */
    network: { failures: number },
  ) {
    this.#client = client;
    this.#plan = plan;
    this.#repo = repo;
    this.#untagger = untagger;
    this.#options = options;
    this.#tick = tick;
    this.#network = network;
  }

  #outcome(status: ApplyOutcome['status'], digest: string, tags: string[], detail?: string): void {
    this.outcomes.push({ repository: this.#repo.repository, status, digest, tags, ...(detail ? { detail } : {}) });
  }

  #checkSignal(): void {
    if (this.#options.signal?.aborted) throw new AbortedError();
  }

  async run(): Promise<void> {
    const { repository } = this.#repo;
    await this.#client.checkDeletesEnabled(repository);
    const fresh = await readFreshState(this.#client, this.#repo);
    const live = this.#options.live?.get(repository);
    const pulled = this.#options.pulled?.get(repository);
    const verdicts = judgeRepository(this.#repo, {
      ...fresh,
      ...(live ? { live } : {}),
      ...(pulled ? { pulled } : {}),
    });
    const steps: Executable[] = [];
    for (const verdict of verdicts) {
      if (verdict.kind === 'skip') this.#outcome('skipped', verdict.digest, verdict.tags, verdict.detail);
      else if (verdict.kind === 'gone') this.#outcome('already-gone', verdict.digest, verdict.tags);
      else steps.push(verdict);
    }
    // Children of an index that a tag still points at exist (the registry just served the index).
    const listedChildren = new Set([...fresh.children.values()].flat());
    const ready = await this.#journalIntents(steps, listedChildren);
    this.#checkSignal();
    for (const step of ready.filter((s) => isSequential(s.verdict))) {
      this.#checkSignal();
      await this.#execute(step);
    }
    // Referrers before their subjects, platform manifests before their indexes: what is left by an
    // interruption (SIGKILL, OOM, a cancelled CI job) is always reachable from a tag, an unsigned
    // image or an index missing platforms, that the documented rerun (`cleanup` again) sees and
    // deletes. The other order leaves untagged platform manifests that no listing shows.
    const deletes = ready.filter((s) => !isSequential(s.verdict));
    for (const phase of [0, 2, 1])
      await mapConcurrent(
        deletes.filter((s) => deletePhase(s.verdict) === phase),
        this.#width(),
        (s) => this.#execute(s),
      );
    const done: JournalDone[] = [];
    for (const o of this.outcomes)
      // A dangling tag's removal has no manifest (digest '') and nothing to restore.
      if ((o.status === 'deleted' || o.status === 'untagged') && o.digest !== '')
        done.push({ repository, digest: o.digest, tags: o.tags, status: o.status });
    await this.#options.journal.recordDone(done);
    await this.#verify();
  }

  #width(): number {
    return Math.max(1, this.#options.concurrency ?? DEFAULT_CONCURRENCY);
  }

  /** Fetches (for the journal) every manifest a step removes, and syncs all intents in one write. */
  async #journalIntents(
    steps: Executable[],
    knownPresent: ReadonlySet<string>,
  ): Promise<Array<{ verdict: Executable; manifest?: FetchedManifest }>> {
    const entries: Array<Omit<JournalEntry, 'time'>> = [];
    const ready: Array<{ verdict: Executable; manifest?: FetchedManifest }> = [];
    await mapConcurrent(steps, this.#width(), async (verdict) => {
      const intent = await this.#intentOf(verdict, knownPresent);
      if (!intent) return;
      if (intent.entry) entries.push(intent.entry);
      ready.push({ verdict, ...(intent.manifest ? { manifest: intent.manifest } : {}) });
    });
    // Children after their parents, so undo (which reverses them) restores children first.
    entries.sort((a, b) => Number(Boolean(a.parent)) - Number(Boolean(b.parent)));
    await this.#options.journal.recordAll(entries);
    return ready;
  }

  /**
   * What a step journals before it runs, and the manifest it removes; undefined when that manifest
   * is already gone (reported as such: nothing to do).
   */
  async #intentOf(
    verdict: Executable,
    knownPresent: ReadonlySet<string>,
  ): Promise<{ entry?: Omit<JournalEntry, 'time'>; manifest?: FetchedManifest } | undefined> {
    const { registry } = this.#plan;
    const { repository } = this.#repo;
    // finish-untag: the tag's manifest was journaled by the interrupted run; dangling: there is none.
    if (verdict.kind === 'finish-untag' || verdict.kind === 'remove-dangling') return {};
    if (verdict.kind === 'unlist-referrer') {
      // Journaled as an untag of the index as it is now: undo puts it back on the tag.
      const index = await unlessNotFound(this.#client.getManifest(repository, verdict.tag));
      if (!index) {
        this.#outcome('already-gone', verdict.index, [verdict.tag]);
        this.#tick();
        return undefined;
      }
      const manifest = index.bytes.toString('base64');
      const entry = { kind: 'untag' as const, registry, repository, digest: index.digest, mediaType: index.mediaType };
      return { entry: { ...entry, manifest, tags: [verdict.tag] }, manifest: index };
    }
    const tags = verdict.kind === 'untag' ? [verdict.tag] : verdict.tags;
    // A manifest no tag points at any more may be gone already (a rerun): the cache would still
    // serve its bytes, so ask the registry before journaling an intent for it.
    const untagged =
      verdict.kind === 'delete-manifest' && verdict.tags.length === 0 && !knownPresent.has(verdict.digest);
    const present = !untagged || (await this.#client.digestOf(repository, verdict.digest)) !== undefined;
    const fetched = present ? await unlessNotFound(this.#client.getManifest(repository, verdict.digest)) : null;
    if (!fetched) {
      this.#outcome('already-gone', verdict.digest, tags);
      this.#tick();
      return undefined;
    }
    const parent = verdict.kind === 'delete-manifest' ? verdict.parent : undefined;
    const entry = { kind: verdict.kind, registry, repository, digest: verdict.digest, mediaType: fetched.mediaType };
    return {
      entry: { ...entry, manifest: fetched.bytes.toString('base64'), tags, ...(parent ? { parent } : {}) },
      manifest: fetched,
    };
  }

  async #execute({ verdict, manifest }: { verdict: Executable; manifest?: FetchedManifest }): Promise<void> {
    const { repository } = this.#repo;
    const tags = verdict.kind === 'delete-manifest' ? verdict.tags : [verdict.tag];
    try {
      if (verdict.kind === 'unlist-referrer') {
        const result = await removeFromFallbackIndex(this.#client, repository, verdict.tag, verdict.referrer);
        this.#outcome(
          result.status,
          result.digest ?? verdict.index,
          tags,
          result.status === 'already-gone' ? undefined : `took ${shortDigest(verdict.referrer)} out of the index`,
        );
      } else if (verdict.kind === 'remove-dangling') {
        await this.#untagger.untagDangling(repository, verdict.tag);
        this.#outcome('untagged', '', tags, 'removed a tag whose manifest was gone');
      } else if (verdict.kind === 'delete-manifest') {
        const result = await this.#client.deleteManifest(repository, verdict.digest);
        this.#network.failures = 0;
        this.#outcome(result === 'deleted' ? 'deleted' : 'already-gone', verdict.digest, tags);
      } else if (verdict.kind === 'finish-untag') {
        const result = await this.#untagger.finish(repository, verdict.digest);
        this.#outcome(
          result === 'untagged' ? 'untagged' : 'already-gone',
          verdict.digest,
          tags,
          'finished an untag that an earlier run left half-way',
        );
      } else {
        // Once started, an untag runs to its end even after Ctrl-C (see registry/untag.ts).
        const result = await this.#untagger.untag(repository, verdict.tag, manifest!);
        if (result === 'moved')
          this.#outcome(
            'skipped',
            verdict.digest,
            tags,
            `${verdict.tag} moved to another digest right before the untag`,
          );
        else this.#outcome(result, verdict.digest, tags, verdict.detail);
      }
    } catch (error) {
      if (isFatal(error)) throw error;
      if (error instanceof NetworkError && ++this.#network.failures >= MAX_CONSECUTIVE_NETWORK_FAILURES) {
        throw new NetworkError(
          `${error.message}; stopped after ${this.#network.failures} connection failures in a row`,
          { cause: error },
        );
      }
      this.#outcome(
        'failed',
        'digest' in verdict ? verdict.digest : '',
        tags,
        error instanceof Error ? error.message : String(error),
      );
    } finally {
      this.#tick();
    }
  }

  /**
   * A planned tag still on the digest just deleted. distribution removes a manifest's tags with it;
   * go-containerregistry's registry keeps tags apart from digests, so the tag still serves the
   * manifest: it is removed as an untag (it was planned to go, and still points where planned).
   */
  async #untagLeftOver(tag: string, digest: string): Promise<void> {
    try {
      const fetched = await this.#client.getManifest(this.#repo.repository, tag);
      if (fetched.digest !== digest) return; // moved in between: not ours any more
      const result = await this.#untagger.untag(this.#repo.repository, tag, fetched);
      if (result !== 'moved') return;
    } catch (error) {
      if (isNotFound(error)) return;
      const why = error instanceof Error ? error.message : String(error);
      this.#outcome('failed', digest, [tag], `still listed on its planned digest after the delete (${why})`);
      return;
    }
    this.#outcome('failed', digest, [tag], 'still listed on its planned digest after the delete');
  }

  /**
   * After the changes: every tag removed must be gone from the tag list. A tag still listed but
   * without a manifest (the distribution 2.8 race above) is removed with an empty throwaway; a tag
   * still on its planned digest is reported. Kept tags must still be listed.
   */
  async #verify(): Promise<void> {
    const { repository } = this.#repo;
    const listed = new Set(await this.#client.listTags(repository));
    for (const outcome of [...this.outcomes]) {
      if (outcome.status !== 'deleted' && outcome.status !== 'untagged') continue;
      for (const tag of outcome.tags.filter((t) => listed.has(t))) {
        const now = await this.#client.digestOf(repository, tag);
        if (now === undefined) {
          try {
            await this.#untagger.untagDangling(repository, tag);
          } catch (error) {
            this.#outcome(
              'failed',
              outcome.digest,
              [tag],
              `still listed without a manifest after the delete (${error instanceof Error ? error.message : String(error)})`,
            );
          }
        } else if (now === outcome.digest) {
          await this.#untagLeftOver(tag, outcome.digest);
        }
      }
    }
    const vanished = this.#repo.keep.filter((t) => !listed.has(t.tag));
    for (const t of vanished)
      this.#outcome(
        'failed',
        t.digest,
        [t.tag],
        'a kept tag is no longer listed (krill did not delete it): check the registry',
      );
  }
}

/** 0: referrers; 1: tagged manifests; 2: platform manifests of deleted indexes. */
function deletePhase(verdict: Executable): number {
  if (verdict.kind !== 'delete-manifest') return 1;
  return verdict.subject !== undefined ? 0 : verdict.parent !== undefined ? 2 : 1;
}

export async function applyPlan(client: RegistryApi, plan: Plan, options: ExecuteOptions): Promise<ApplyResult> {
  const outcomes: ApplyOutcome[] = [];
  const total = plan.repositories.reduce((n, r) => n + r.actions.length, 0);
  let done = 0;
  const tick = () => options.onProgress?.(Math.min(++done, total), total);
  const untagger = new Untagger(client);
  const network = { failures: 0 };
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const repositoryErrors: unknown[] = [];
  try {
    await mapConcurrent(plan.repositories, Math.max(1, Math.floor(concurrency / 2)), async (repo) => {
      if (repo.actions.length === 0) return;
      const apply = new RepositoryApply(client, plan, repo, untagger, options, tick, network);
      try {
        await apply.run();
      } catch (error) {
        // One repository's failure (a refused scope, a registry error) is reported; the others go on.
        if (isFatal(error)) throw error;
        if (network.failures >= MAX_CONSECUTIVE_NETWORK_FAILURES) throw error; // the registry is gone
        repositoryErrors.push(error);
        const message = error instanceof Error ? error.message : String(error);
        apply.outcomes.push({ repository: repo.repository, status: 'failed', digest: '', tags: [], detail: message });
      } finally {
        outcomes.push(...apply.outcomes);
      }
    });
  } catch (error) {
    if (isAbortError(error))
      throw new AbortedError('interrupted: the journal lists what was deleted; rerun the same command to finish', {
        cause: error,
      });
    throw error;
  }
  // Every repository failed before changing anything (e.g. a token without delete): one error says it best.
  const active = plan.repositories.filter((r) => r.actions.length > 0).length;
  if (active > 0 && repositoryErrors.length === active) throw repositoryErrors[0];
  return { outcomes, scratchBytes: untagger.scratchBytes };
}
