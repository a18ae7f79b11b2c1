import type { Credentials } from './auth/credentials.js';
import { SHAPES } from './check-options.js';
import type { CompareRow } from './engine/compare.js';
import type { CallOptions } from './http/call-scope.js';
import type { PullAllowance } from './http/pull-budget.js';
import type { LiveSource } from './live/live-set.js';
import type { Logger } from './logger.js';
import type { ApplyResult } from './plan/apply.js';
import type { Journal, JournalEntry } from './plan/journal.js';
import { checkJournalPath } from './plan/journal.js';
import type { Plan } from './plan/plan.js';
import type { UndoOutcome } from './plan/undo.js';
import type { Reference, RegistryAddress } from './ref/reference.js';
import type { RegistryClient } from './registry/client.js';
import type { ClientRole, KrillOptions, Login } from './session.js';
import { Session } from './session.js';
import type { SyncSpec } from './sync/spec.js';
import type { SyncJob, SyncOptions, SyncOutcome } from './sync/sync.js';
import type { ApplyOptions } from './ops/apply.js';
import { apply, openJournal, readJournalEntries, undo } from './ops/apply.js';
export { planRefusal } from './ops/apply.js';
import type { CleanupRequest } from './ops/cleanup-targets.js';
import { planCleanup } from './ops/cleanup.js';
import type { CopyReport, CopyRequest } from './ops/copy.js';
import { copyImages } from './ops/copy.js';
import type { DiskUsage, DiskUsageRequest } from './ops/du.js';
import { diskUsage } from './ops/du.js';
import type { HistoryEntry, ListenOptions } from './ops/ledger.js';
import { ledgerStatus, listen, tagHistory } from './ops/ledger.js';
import type { LedgerListener } from './ledger/listener.js';
import { describeLedger } from './ledger/open.js';
import type { LedgerStatus } from './ledger/store.js';
import { readInUse } from './ops/live.js';
import { login, logout } from './ops/login.js';
import type { Inspection, ReadManifest, TagRow, TagsOptions } from './ops/read.js';
import {
  inspectImage,
  listRepositories,
  listTagRows,
  readConfig,
  readDigest,
  readManifest,
  resolveReference,
} from './ops/read.js';
import type { CaseResult } from './ops/policy-test.js';
import { testPolicyFiles } from './ops/policy-test.js';
import type { RemovalOptions } from './ops/removal.js';
import { planRemoval } from './ops/removal.js';
import type { CompareOptions, DaemonOptions, PullOptions, SyncRequest } from './ops/sync.js';
import { compareTags, planPrune, prepareSyncJobs, pullImages, runSync, runSyncDaemon } from './ops/sync.js';

export type { ApplyOptions } from './ops/apply.js';
export type { CleanupRequest } from './ops/cleanup-targets.js';
export type { CopyReport, CopyRequest } from './ops/copy.js';
export type { Inspection, ReadManifest, ReferrerInfo, TagRow, TagsOptions } from './ops/read.js';
export type { CaseResult } from './ops/policy-test.js';
export type { RemovalOptions } from './ops/removal.js';
export type { CompareOptions, DaemonOptions, PullOptions, SyncRequest } from './ops/sync.js';
export type { HistoryEntry, ListenOptions } from './ops/ledger.js';
export type { DiskUsage, DiskUsageRequest, RepositoryUsage } from './ops/du.js';
export type { LedgerListener, ListenerCounts } from './ledger/listener.js';
export type { LedgerStatus } from './ledger/store.js';
export type { ClientRole, KrillOptions, Login, ProgressOptions } from './session.js';
// What the CLI renders, reached through the front door (the boundaries test allows src/cli nothing else).
export type { TlsOptions } from './http/transport.js';
export type { PullAllowance } from './http/pull-budget.js';
export type { CopyProgress } from './sync/copy.js';
export type { ListingChanges } from './plan/listing.js';
export type { ApplyResult, CompareRow, Journal, LiveSource, Plan, SyncOutcome, UndoOutcome };
export { hasEnvPassword } from './auth/credentials.js';
export { parseSyncFile } from './sync/sync-file.js';

/**
 * The library's front door: the product's verbs with string references, each a short delegation
 * to an operation module (`ops/`) over one `Session` (clients, credentials, connection pool,
 * digest cache). The CLI and any UI are clients of this class and nothing else.
 *
 *   const krill = new Krill({ registry: 'localhost:5000' });
 *   const rows = await krill.tags('apps/web');
 *   const plan = await krill.planCleanup({ repositories: ['apps/web'], rules: { keep: 3 } });
 *   const result = await krill.apply(plan, { journal: 'undo.jsonl' });
 *   await krill.close();
 */
export class Krill {
  readonly #session: Session;

  constructor(options: KrillOptions = {}) {
    this.#session = new Session(options);
  }

  get logger(): Logger {
    return this.#session.logger;
  }

  get concurrency(): number {
    return this.#session.concurrency;
  }

  // ── references ────────────────────────────────────────────────────────────────────────────

  /** `registry`, else the environment; undefined means Docker Hub. */
  defaultRegistry(): RegistryAddress | undefined {
    return this.#session.defaultRegistry();
  }

  parseRegistry(input: string): RegistryAddress {
    return this.#session.parseRegistry(input);
  }

  /** With `shortDigest`, `REPO@sha256:3d76b2dbc77f` parses to a `digestPrefix` (see resolveReference). */
  parseReference(input: string, options: { shortDigest?: boolean } = {}): Reference {
    return this.#session.parseReference(input, options);
  }

  /** A short digest as the tables print it, resolved among the repository's tags (or an error naming the candidates). */
  resolveReference(input: string | Reference): Promise<Reference> {
    return resolveReference(this.#session, input);
  }

  parseRepository(input: string): Reference {
    return this.#session.parseRepository(input);
  }

  /** A lstags spec, short ones resolved against the default registry like any reference. */
  parseSpec(input: string): SyncSpec {
    return this.#session.parseSpec(input);
  }

  // ── clients and credentials (see Session.ownsCredentials for where credentials go) ─────────

  setDestination(address: RegistryAddress): void {
    this.#session.setDestination(address);
  }

  ownsCredentials(address: RegistryAddress, role: ClientRole = 'target'): boolean {
    return this.#session.ownsCredentials(address, role);
  }

  client(address: RegistryAddress, options: { role?: ClientRole; login?: Login } = {}): Promise<RegistryClient> {
    return this.#session.client(address, options);
  }

  credentials(address: RegistryAddress, role: ClientRole = 'target', login?: Login): Promise<Credentials | undefined> {
    return this.#session.credentials(address, role, login);
  }

  /** GitLab or Harbor behind a registry this Krill has talked to (see RegistryClient.flavor). */
  async registryFlavor(address: RegistryAddress): Promise<'gitlab' | 'harbor' | undefined> {
    return (await this.client(address)).flavor();
  }

  /** Docker Hub's pull limit as its last answers gave it, per host (none elsewhere). */
  pullsLeft(): PullAllowance[] {
    return this.#session.pullAllowances();
  }

  /** Checks credentials against the registry, then stores them as `docker login` does; returns where. */
  login(registry?: string, call: CallOptions = {}): Promise<string> {
    return this.#session.call('login', SHAPES.call, call, () => login(this.#session, registry));
  }

  /** Removes what `login` stored; false when nothing was stored for the registry. */
  logout(registry?: string, call: CallOptions = {}): Promise<boolean> {
    return this.#session.call('logout', SHAPES.call, call, () => logout(this.#session, registry));
  }

  // ── reading ───────────────────────────────────────────────────────────────────────────────

  /** Repositories of a registry's catalog, sorted. */
  repositories(registry?: string, call: CallOptions = {}): Promise<string[]> {
    return this.#session.call('repositories', SHAPES.call, call, () => listRepositories(this.#session, registry));
  }

  /** The same rows as `krill tags --json`: newest first (or names only, sorted). */
  tags(repository: string, options: TagsOptions & CallOptions = {}): Promise<TagRow[]> {
    return this.#session.call('tags', SHAPES.tags, options, () => listTagRows(this.#session, repository, options));
  }

  /** The manifest a reference names (the platform's, with `platform`), exactly as served. */
  manifest(reference: string, options: { platform?: string } & CallOptions = {}): Promise<ReadManifest> {
    return this.#session.call('manifest', SHAPES.platform, options, () =>
      readManifest(this.#session, reference, options),
    );
  }

  /** The digest a reference resolves to (`crane digest`): one HEAD, or the platform's entry. */
  digest(reference: string, options: { platform?: string } & CallOptions = {}): Promise<string> {
    return this.#session.call('digest', SHAPES.platform, options, () => readDigest(this.#session, reference, options));
  }

  /** The image config blob exactly as stored (`crane config`); an index needs `platform`. */
  config(reference: string, options: { platform?: string } & CallOptions = {}): Promise<Buffer> {
    return this.#session.call('config', SHAPES.platform, options, () => readConfig(this.#session, reference, options));
  }

  /** What `krill inspect --json` shows, with the referrer graph of the manifest (signatures, SBOMs). */
  inspect(reference: string, options: { platform?: string } & CallOptions = {}): Promise<Inspection> {
    return this.#session.call('inspect', SHAPES.platform, options, () =>
      inspectImage(this.#session, reference, options),
    );
  }

  /**
   * `krill du`: per repository the bytes it references, those only it references (what deleting it
   * frees) and the biggest images; the catalog's total counting each blob once.
   */
  du(request: DiskUsageRequest & CallOptions = {}): Promise<DiskUsage & { registry: string }> {
    return this.#session.call('du', SHAPES.du, request, () => diskUsage(this.#session, request));
  }

  /** What the live-set sources (files, `kubernetes[:CTX]`) say runs: repository → digest → why. */
  inUse(
    registry: string,
    sources: Array<string | LiveSource>,
    call: CallOptions = {},
  ): Promise<Map<string, Map<string, string>>> {
    return this.#session.call('inUse', SHAPES.call, call, () => readInUse(this.#session, registry, sources));
  }

  // ── deleting: plan, then apply ───────────────────────────────────────────────────────────

  /** The same plan as `krill cleanup --json --dry-run`. Validates everything before any request. */
  planCleanup(request: CleanupRequest & CallOptions): Promise<Plan> {
    return this.#session.call('planCleanup', SHAPES.cleanup, request, () => planCleanup(this.#session, request));
  }

  /** The plan of `krill rm`: exactly the named tags and digests, shared digests only untagged. */
  planRemoval(references: string[], options: RemovalOptions & CallOptions = {}): Promise<Plan> {
    return this.#session.call('planRemoval', SHAPES.removal, options, () =>
      planRemoval(this.#session, references, options),
    );
  }

  /** `krill policy test`: a cases file run against a policy file, offline (texts and their paths). */
  testPolicy(policy: { text: string; path: string }, cases: { text: string; path: string }): CaseResult[] {
    return testPolicyFiles(policy, cases);
  }

  /**
   * Checks a journal path before any request: a regular file or a new name in an existing
   * directory (a typo must not cost a whole planning run).
   */
  checkJournalPath(path: string): Promise<void> {
    return checkJournalPath(path);
  }

  /** Opens the undo journal of a run on the plan's registry (default: the state directory). */
  openJournal(plan: Plan, path?: string): Promise<Journal> {
    return openJournal(this.#session, plan.registry, path);
  }

  /**
   * Carries out a plan with every re-check `krill apply` performs, journaling before each change.
   * Returns the outcomes and the journal path (undefined when nothing was journaled).
   */
  apply(plan: Plan, options: ApplyOptions & CallOptions = {}): Promise<ApplyResult & { journal: string | undefined }> {
    return this.#session.call('apply', SHAPES.apply, options, () => apply(this.#session, plan, options));
  }

  /** The entries of an undo journal, validated (a line cut by a crash is a warning on the logger). */
  readJournal(path: string): Promise<JournalEntry[]> {
    return readJournalEntries(this.#session, path);
  }

  /** Puts back what a journal says was removed; tags pushed again since are skipped unless `force`. */
  undo(journal: string | JournalEntry[], options: { force?: boolean } & CallOptions = {}): Promise<UndoOutcome[]> {
    return this.#session.call('undo', SHAPES.undo, options, () => undo(this.#session, journal, options));
  }

  // ── moving ────────────────────────────────────────────────────────────────────────────────

  /** Copies an image (or, with `allTags`, a repository) keeping digests; credentials per side. */
  copy(source: string, destination: string, request: CopyRequest & CallOptions = {}): Promise<CopyReport[]> {
    return this.#session.call('copy', SHAPES.copy, request, () =>
      copyImages(this.#session, source, destination, request),
    );
  }

  /**
   * Prepares a lstags-style sync: specs (`[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]`) into
   * `to` (`HOST[:PORT][/PREFIX]`). Everything is validated before any request.
   */
  syncJobs(specs: string[], request: SyncRequest & CallOptions): Promise<SyncJob[]> {
    return this.#session.call('syncJobs', SHAPES.syncJobs, request, () =>
      prepareSyncJobs(this.#session, specs, request),
    );
  }

  /** One sync round over prepared jobs; referrers travel with each image unless `referrers: false`. */
  sync(jobs: SyncJob[], options: SyncOptions & { daemon?: boolean } & CallOptions = {}): Promise<SyncOutcome[]> {
    return this.#session.call('sync', SHAPES.sync, options, () => runSync(this.#session, jobs, options));
  }

  /** `sync --daemon`: rounds every `intervalMs` until `stopped()` or the signal. */
  syncDaemon(jobs: SyncJob[], options: SyncOptions & DaemonOptions & CallOptions): Promise<void> {
    return this.#session.call('syncDaemon', SHAPES.syncDaemon, options, () =>
      runSyncDaemon(this.#session, jobs, options),
    );
  }

  /** `sync --prune`: a plan deleting destination tags the source no longer lists, as safe as `rm`. */
  planPrune(jobs: SyncJob[], call: CallOptions = {}): Promise<Plan> {
    return this.#session.call('planPrune', SHAPES.call, call, () => planPrune(this.#session, jobs));
  }

  /** Per spec, each tag's state against the local engine's images, or (`with`) a second registry. */
  compare(
    specs: string[],
    options: CompareOptions & CallOptions = {},
  ): Promise<Array<{ repository: string; rows: CompareRow[] }>> {
    return this.#session.call('compare', SHAPES.compare, options, () => compareTags(this.#session, specs, options));
  }

  /** Pulls the tags each spec selects into the local engine (DOCKER_HOST); returns their names. */
  pull(specs: string[], options: PullOptions & CallOptions = {}): Promise<string[]> {
    return this.#session.call('pull', SHAPES.pull, options, () => pullImages(this.#session, specs, options));
  }

  // ── the ledger: pulls, pushes and tag moves from registry notifications ─────────────────

  /** `krill listen`: receives a registry's notifications into the ledger until `close()`. */
  listen(
    options: ListenOptions & CallOptions = {},
  ): Promise<{ listener: LedgerListener; address: string; ledger: string }> {
    return this.#session.call('listen', SHAPES.listen, options, () => listen(this.#session, options));
  }

  /** Where the ledger is (`sqlite:PATH` or a postgres:// URL without its password); nothing is opened. */
  ledgerLocation(): string {
    return describeLedger(this.#session.ledgerSpec());
  }

  /** Coverage, events and the last event per registry instance. */
  ledgerStatus(call: CallOptions = {}): Promise<LedgerStatus & { ledger: string }> {
    return this.#session.call('ledgerStatus', SHAPES.call, call, () => ledgerStatus(this.#session));
  }

  /** A repository's (`REPO`) or a tag's (`REPO:TAG`) moves, oldest first: the ledger and krill's listings. */
  history(reference: string, call: CallOptions = {}): Promise<HistoryEntry[]> {
    return this.#session.call('history', SHAPES.call, call, () => tagHistory(this.#session, reference));
  }

  /** Flushes the cache and closes every connection. */
  close(): Promise<void> {
    return this.#session.close();
  }
}
