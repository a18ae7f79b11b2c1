import { hasEnvPassword, resolveCredentials } from './auth/credentials.js';
import type { Credentials } from './auth/credentials.js';
import {
  AbortedError,
  AuthError,
  NotFoundError,
  RefusedError,
  UsageError,
  isAbortError,
  isNotFound,
} from './errors.js';
import { eraseCredentials, storeCredentials } from './auth/docker-config.js';
import { mapConcurrent } from './http/limiter.js';
import type { Shape } from './check-options.js';
import { SHAPES, checkOptions } from './check-options.js';
import type { TlsOptions, TransportOptions } from './http/transport.js';
import { Transport, proxyFromEnv } from './http/transport.js';
import type { Logger } from './logger.js';
import type { CallOptions } from './http/call-scope.js';
import {
  callSignal,
  runInCall,
  runInVerb,
  scopedLogger,
  setVerbDestination,
  verbDestination,
} from './http/call-scope.js';
import { silentLogger } from './logger.js';
import { findPlatform, normalizePlatform, validatePlatform } from './manifest/manifest.js';
import { attachmentSubject } from './manifest/referrers.js';
import type { ApplyResult } from './plan/apply.js';
import { applyPlan } from './plan/apply.js';
import type { JournalEntry } from './plan/journal.js';
import { Journal, defaultJournalPath, readJournal } from './plan/journal.js';
import { makePlan } from './plan/make-plan.js';
import type { Plan, RepositoryPlan } from './plan/plan.js';
import { buildRepositoryPlan, computeReclaimable, plannedRemovals } from './plan/plan.js';
import type { Limit } from './plan/limits.js';
import { checkLimits } from './plan/limits.js';
import type { ListingChanges } from './plan/listing.js';
import { checkListing, diffListing } from './plan/listing.js';
import { History, historyDir } from './state/history.js';
import type { LiveDigests, LiveSource } from './live/live-set.js';
import { fileSource, readLiveSet } from './live/live-set.js';
import { kubernetesSource, parseKubernetesSource } from './live/kubernetes.js';
import type { Budget } from './policy/rules.js';
import type { UndoOutcome } from './plan/undo.js';
import { undoJournal } from './plan/undo.js';
import type { TagDecision } from './policy/evaluate.js';
import type { Policy } from './policy/policy-file.js';
import type { Pattern } from './policy/pattern.js';
import { compilePattern } from './policy/pattern.js';
import type { RuleInput, Rules } from './policy/rules.js';
import type { RuleSet } from './policy/rule-set.js';
import type { Reference, RegistryAddress } from './ref/reference.js';
import {
  DOCKER_HUB,
  formatReference,
  isLoopbackHost,
  parseReference,
  parseRegistryAddress,
  parseRepositoryReference,
} from './ref/reference.js';
import type { FetchedManifest, ListLimits } from './registry/client.js';
import { LIST_LIMITS, RegistryClient } from './registry/client.js';
import { ContentCache, defaultCacheDir } from './registry/content-cache.js';
import type { ImageInspection, TagSummary } from './registry/image-reader.js';
import { ImageReader, summarizeTags } from './registry/image-reader.js';
import type { RepositorySnapshot } from './registry/snapshot.js';
import { readRepositorySnapshot, toManifestNode } from './registry/snapshot.js';
import { readPastManifests } from './registry/past-manifests.js';
import type { ReferrerNode } from './registry/referrers.js';
import { referrerTree } from './registry/referrers.js';
import type { CopyProgress, CopyResult } from './sync/copy.js';
import type { ReferrerCopyResult } from './sync/copy-referrers.js';
import { copyWithReferrers } from './sync/copy-referrers.js';
import type { SyncSpec, SyncTarget } from './sync/spec.js';
import { autoPrefix, destinationRepository, parseSyncSpec, parseSyncTarget } from './sync/spec.js';
import type { SyncJob, SyncOptions, SyncOutcome } from './sync/sync.js';
import { readRemoteTags, readTagDigests, selectTags, syncJob } from './sync/sync.js';
import type { CompareRow } from './engine/compare.js';
import { compareWithLocal, compareWithRegistry } from './engine/compare.js';
import type { LocalImage } from './engine/engine.js';
import { canonicalName } from './engine/compare.js';

/**
 * The library's front door: one object that owns the per-host registry clients, credential
 * resolution, the shared connection pool and the digest cache, and offers the product's verbs with
 * string references. The CLI is a thin layer over it (parse flags → one call here → render).
 *
 *   const krill = new Krill({ registry: 'localhost:5000' });
 *   const rows = await krill.tags('apps/web');
 *   const plan = await krill.planCleanup({ repositories: ['apps/web'], rules: { keep: 3 } });
 *   const result = await krill.apply(plan, { journal: 'undo.jsonl' });
 *   await krill.close();
 */

export interface KrillOptions {
  /** Bounds on one tag list or catalog (default: 2,000,000 names, 512 MiB; env KRILL_MAX_LIST_ITEMS/BYTES). */
  listLimits?: Partial<ListLimits>;
  /** Default registry for short references (`host[:port]` or URL); else KRILL_REGISTRY…, else Docker Hub. */
  registry?: string | undefined;
  /** Plain HTTP for registries given without a scheme. */
  plainHttp?: boolean | undefined;
  /** Credentials for ONE registry: `registry`, or the first one a call targets (never sent elsewhere). */
  username?: string | undefined;
  /** A password, or a function that yields it when first needed (e.g. read from stdin). */
  password?: string | (() => Promise<string>) | undefined;
  /** Environment for KRILL_* variables, docker config, cache and state dirs (default process.env). */
  env?: NodeJS.ProcessEnv;
  concurrency?: number;
  timeoutMs?: number;
  tls?: TlsOptions;
  /** The on-disk digest cache: a directory, true for the default, false for none (default true). */
  cache?: boolean | string;
  logger?: Logger;
  signal?: AbortSignal;
  /** First retry delay in ms (default 250; also KRILL_RETRY_DELAY_MS). */
  retryDelayMs?: number;
}

/** Per-call progress reporting. */
export interface ProgressOptions {
  /** `what` names the unit when a call counts more than one kind (e.g. "reading tags"). */
  onProgress?: (done: number, total: number, what?: string) => void;
}

/** Credentials given for one side of a copy (e.g. `--src-username`). */
export interface Login {
  username?: string | undefined;
  password?: string | undefined;
}

export type ClientRole = 'target' | 'source' | 'destination';

/** One row of `krill tags --json`. */
export interface TagRow {
  tag: string;
  digest: string | null;
  mediaType: string;
  created: string | null;
  size: number;
  platforms: string[];
  dangling?: true;
  /** The manifest cannot be used (not a manifest, invalid sizes, a digest mismatch): why. */
  invalid?: string;
  missing?: string[];
  /** Artifacts (signatures, SBOMs, Helm charts): the type; such rows have no platforms. */
  artifactType?: string;
  /** Referrers and attachment tags: the digest they refer to. */
  subject?: string;
  /** An attachment tag: `fallback` (OCI 1.1 `sha256-<hex>` referrers index) or `legacy` (cosign `.sig`). */
  attachment?: 'fallback' | 'legacy';
  /** For a fallback index: the artifact types of the referrers it lists. */
  artifactTypes?: string[];
  /** On an image's row: how many referrers its attachment tags hold, and their short types. */
  referrers?: { count: number; types: string[] };
}

export interface TagsOptions extends ProgressOptions {
  filter?: string;
  exclude?: string;
  /** Names only, sorted (one request per page). Default false. */
  namesOnly?: boolean;
  limit?: number;
}

export interface CleanupRequest extends ProgressOptions {
  /** Repositories to clean (`apps/web` or `host/apps/web`); omit with `allRepos` or a policy. */
  repositories?: string[];
  /** Every repository of the catalog; a string names the registry. */
  allRepos?: boolean | string;
  /**
   * Retention rules (not with a policy): one rule, or a list where rules with `tags` (a regex)
   * decide only the tags they select and a tag is kept when any rule keeps it (policy/rule-set.ts).
   */
  rules?: RuleInput | RuleInput[];
  /** A policy file's text and the path to name in errors, or a parsed policy. */
  policy?: { text: string; path: string } | Policy;
  /** Read every repository of the catalog to account for shared blobs. */
  scanAll?: boolean;
  /** A policy rule that matches no repository is an error (a warning otherwise). */
  strict?: boolean;
  /** Delete signatures, SBOMs and other referrers whose subject is gone (default: keep them). */
  deleteOrphans?: boolean;
  /**
   * Live-set sources: files of image references, `kubernetes` / `kubernetes:CTX,…` (the kubeconfig's
   * clusters), or sources you read yourself. Kept whatever the rules say.
   */
  keepInUse?: Array<string | LiveSource>;
  /** With a kubernetes source: previous revisions kept per workload (default: all the cluster keeps). */
  rollbackDepth?: number;
  /** Refuse a plan that removes more tags than this: `N` or `P%` (default 50% for allRepos and policies). */
  maxDelete?: string | number;
  /** Refuse a plan that frees more than this: bytes or `10GiB`. */
  maxBytes?: string | number;
  /** Plan even for a repository whose listing lost many tags since the last run (see plan/listing.ts). */
  acceptListing?: boolean;
  /** Record and check listings in the state directory (default true). */
  history?: boolean;
  /** Compare each repository with the last recorded run: `plan.changes` (`cleanup --diff`). */
  diff?: boolean;
}

export interface ApplyOptions extends ProgressOptions {
  /** The undo journal: a path, or a journal opened by the caller. Default: the state directory. */
  journal?: string | Journal;
  /** Where to re-read the plan's live set from (default: the plan's sources, as files). */
  keepInUse?: Array<string | LiveSource>;
  /** A live set that cannot be re-read falls back to the plan's instead of stopping the apply. */
  allowStaleLiveSet?: boolean;
}

export interface CopyRequest {
  platform?: string;
  /** Copy every tag of the source repository (the destination is then a repository). */
  allTags?: boolean;
  sourceLogin?: Login;
  destinationLogin?: Login;
  onProgress?: (progress: CopyProgress) => void;
  /** Copy signatures, SBOMs and attestations with the image (default true; `--no-referrers`). */
  referrers?: boolean;
  /** Only referrers of these artifact types (`--referrers-filter`). */
  referrerTypes?: string[];
  /** After each image (with `allTags`, an overall counter): images done and in all. */
  onImage?: (done: number, total: number, report: CopyReport) => void;
}

export interface SyncRequest {
  /** `HOST[:PORT][/PREFIX]` */
  to: string;
  /** A path placed before the source repository at the target; 'auto' = the source host. */
  prefix?: string | undefined;
  destinationLogin?: Login;
}

export interface CopyReport extends CopyResult {
  source: string;
  destination: string;
  /** The referrers carried along (absent with `referrers: false`). */
  referrers?: ReferrerCopyResult;
}

/** One referrer of `krill inspect`: a signature, SBOM or attestation, with its own referrers. */
export interface ReferrerInfo {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** Bytes of its distinct blobs. */
  size: number;
  created: string | null;
  /** How krill found it: the registry's referrers API, the fallback tag `sha256-<hex>`, a legacy tag. */
  via: 'api' | 'fallback-tag' | 'legacy-tag';
  tag?: string;
  /** Listed, but the registry no longer has it. */
  missing?: true;
  referrers: ReferrerInfo[];
}

export interface Inspection extends ImageInspection {
  referrers: ReferrerInfo[];
}

/** --all-repos and policy files: a plan may remove at most half of the tags in scope unless told. */
const DEFAULT_BUDGET: Budget = { percent: 50, text: '50% (--max-delete 100% lifts it)' };

function refusal(why: string): string {
  return `${why}: the plan is refused and nothing was deleted; review it, then raise the budget or narrow the rules`;
}

/** `listLimits`, else KRILL_MAX_LIST_ITEMS / KRILL_MAX_LIST_BYTES, else the defaults (registry/client.ts). */
function listLimitsFrom(given: Partial<ListLimits> | undefined, env: NodeJS.ProcessEnv): ListLimits {
  const fromEnv = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    if (!/^\d+$/.test(value) || Number(value) < 1)
      throw new UsageError(`${name} must be a whole number above 0, not ${JSON.stringify(value.slice(0, 40))}`);
    return Number(value);
  };
  return {
    items: given?.items ?? fromEnv('KRILL_MAX_LIST_ITEMS', LIST_LIMITS.items),
    bytes: given?.bytes ?? fromEnv('KRILL_MAX_LIST_BYTES', LIST_LIMITS.bytes),
  };
}

/** Env vars naming the default registry, ours first, then Plankton's and docker-registry-util's. */
const REGISTRY_ENV = ['KRILL_REGISTRY', 'REGISTRY_CLI_HOSTNAME', 'REGISTRY'];

export class Krill {
  readonly logger: Logger;
  readonly #options: KrillOptions;
  readonly #env: NodeJS.ProcessEnv;
  readonly #transport: Transport;
  readonly #cache: ContentCache | undefined;
  readonly #clients = new Map<string, Promise<RegistryClient>>();
  /** The live-set sources each plan made here was read from (stdin cannot be read twice). */
  readonly #liveSources = new WeakMap<Plan, LiveSource[]>();
  #password: string | undefined;

  constructor(options: KrillOptions = {}) {
    checkOptions(options, 'Krill options', SHAPES.krill);
    this.#options = options;
    this.#env = options.env ?? process.env;
    // Per-call loggers (CallOptions) take over inside a call; this one elsewhere.
    this.logger = scopedLogger(options.logger ?? silentLogger);
    const cacheDir =
      options.cache === false
        ? undefined
        : typeof options.cache === 'string'
          ? options.cache
          : defaultCacheDir(this.#env);
    this.#cache = cacheDir === undefined ? undefined : new ContentCache(cacheDir);
    const transport: TransportOptions = {
      concurrency: options.concurrency ?? 8,
      timeoutMs: options.timeoutMs ?? 60_000,
      logger: this.logger,
      userAgent: 'krill',
      proxy: proxyFromEnv(this.#env),
    };
    if (options.tls) transport.tls = options.tls;
    if (options.signal) transport.signal = options.signal;
    const delay = options.retryDelayMs ?? Number(this.#env.KRILL_RETRY_DELAY_MS ?? NaN);
    if (Number.isFinite(delay) && delay >= 0) transport.retryDelayMs = delay;
    this.#transport = new Transport(transport);
  }

  /** Runs a verb with its per-call signal and logger (http/call-scope.ts). */
  /** Runs a verb in its own call scope, after checking its options object (check-options.ts). */
  #call<T>(verb: string, shape: Shape, call: CallOptions, work: () => Promise<T>): Promise<T> {
    try {
      checkOptions(call, `${verb} options`, shape);
    } catch (error) {
      return Promise.reject(error);
    }
    return runInVerb(() => runInCall(call, this.#options.signal, work));
  }

  /** The signal in force: the current call's (which includes the facade's), else the facade's. */
  #signal(): AbortSignal | undefined {
    return callSignal() ?? this.#options.signal;
  }

  get concurrency(): number {
    return this.#options.concurrency ?? 8;
  }

  // ── references ────────────────────────────────────────────────────────────────────────────

  /** `registry`, else the environment; undefined means Docker Hub. */
  defaultRegistry(): RegistryAddress | undefined {
    const plainHttp = this.#options.plainHttp ?? false;
    if (this.#options.registry !== undefined) return parseRegistryAddress(this.#options.registry, { plainHttp });
    for (const name of REGISTRY_ENV) {
      const value = this.#env[name];
      if (value) return parseRegistryAddress(value, { plainHttp });
    }
    return undefined;
  }

  parseRegistry(input: string): RegistryAddress {
    return parseRegistryAddress(input, { plainHttp: this.#options.plainHttp ?? false });
  }

  /** With `shortDigest`, `REPO@sha256:3d76b2dbc77f` parses to a `digestPrefix` (see resolveReference). */
  parseReference(input: string, options: { shortDigest?: boolean } = {}): Reference {
    return parseReference(input, this.defaultRegistry(), {
      plainHttp: this.#options.plainHttp ?? false,
      shortDigest: options.shortDigest === true,
    });
  }

  /**
   * A reference whose digest may be short, as the tables print it (`REPO@sha256:3d76b2dbc77f`): it
   * resolves to the one digest among the repository's tags that starts with it (one HEAD per tag),
   * or fails naming the candidates.
   */
  async resolveReference(input: string | Reference): Promise<Reference> {
    const ref = typeof input === 'string' ? this.parseReference(input, { shortDigest: true }) : input;
    if (ref.digestPrefix === undefined) return ref;
    const { digestPrefix: prefix, ...rest } = ref;
    const client = await this.client(ref.registry);
    const tags = await client.listTags(ref.repository);
    const found = new Map<string, string[]>();
    await mapConcurrent(tags, 16, async (tag) => {
      const digest = await client.digestOf(ref.repository, tag);
      if (digest?.startsWith(prefix)) found.set(digest, [...(found.get(digest) ?? []), tag]);
    });
    if (found.size === 0)
      throw new NotFoundError(`no tag of ${ref.repository} points at a digest starting with ${prefix}`);
    if (found.size > 1) {
      const candidates = [...found].map(([d, t]) => `${d} (${t.sort().join(', ')})`).join('; ');
      throw new UsageError(`${prefix} is ambiguous in ${ref.repository}: ${candidates}; give more of the digest`);
    }
    return { ...rest, digest: [...found.keys()][0]! };
  }

  parseRepository(input: string): Reference {
    return parseRepositoryReference(input, this.defaultRegistry(), { plainHttp: this.#options.plainHttp ?? false });
  }

  /** A lstags spec, short ones resolved against the default registry like any reference. */
  parseSpec(input: string): SyncSpec {
    const defaultRegistry = this.defaultRegistry();
    return parseSyncSpec(input, {
      plainHttp: this.#options.plainHttp ?? false,
      ...(defaultRegistry ? { defaultRegistry } : {}),
    });
  }

  // ── clients and credentials ───────────────────────────────────────────────────────────────

  /** Names the destination of a two-registry verb before any client exists (see ownsCredentials). */
  setDestination(address: RegistryAddress): void {
    setVerbDestination(address.host);
  }

  /**
   * Whether the given credentials and the environment's (KRILL_USERNAME & co.) go to `address`.
   * They belong to ONE registry: the one the user named (`registry`, else KRILL_REGISTRY,
   * REGISTRY_CLI_HOSTNAME, REGISTRY); else the destination the current verb names (copy, sync,
   * compare --with); else the registry a call targets. A 'source' (the other side of copy, sync,
   * compare) gets only its own login or docker config, unless it is that registry. Decided per
   * verb from its arguments, never by which call came first.
   */
  ownsCredentials(address: RegistryAddress, role: ClientRole = 'target'): boolean {
    const named =
      this.#options.registry !== undefined || REGISTRY_ENV.some((name) => this.#env[name])
        ? (this.defaultRegistry()?.host ?? DOCKER_HUB)
        : undefined;
    const owner = named ?? verbDestination();
    return owner !== undefined ? owner === address.host : role !== 'source';
  }

  /**
   * One client per registry host, role, credential override and credential ownership, sharing the
   * connection pool (see ownsCredentials for where the given credentials go).
   */
  client(address: RegistryAddress, options: { role?: ClientRole; login?: Login } = {}): Promise<RegistryClient> {
    const role = options.role ?? 'target';
    const owns = this.ownsCredentials(address, role);
    const key = `${address.host}|${address.scheme}|${role}|${options.login?.username ?? ''}|${owns}`;
    let pending = this.#clients.get(key);
    if (!pending) {
      const created = this.#createClient(address, role, options.login);
      // An interrupted creation (a per-call signal) is forgotten: the next call creates it again.
      created.catch((error: unknown) => {
        if (error instanceof AbortedError && this.#clients.get(key) === created) this.#clients.delete(key);
      });
      this.#clients.set(key, (pending = created));
    }
    return pending;
  }

  /** Credentials for a registry, by the documented precedence (given, env, docker config). */
  async credentials(
    address: RegistryAddress,
    role: ClientRole = 'target',
    login?: Login,
  ): Promise<Credentials | undefined> {
    if (login?.username !== undefined || login?.password !== undefined) {
      return resolveCredentials(address.host, { username: login.username, password: login.password, env: this.#env });
    }
    if (!this.ownsCredentials(address, role)) {
      if (this.#options.username !== undefined || hasEnvPassword(this.#env))
        this.logger.debug(`not sending the given credentials to ${address.host}: they belong to another registry`);
      return resolveCredentials(address.host, { env: this.#env, ignoreEnvCredentials: true });
    }
    const password = await this.#resolvePassword();
    return resolveCredentials(address.host, { username: this.#options.username, password, env: this.#env });
  }

  async #resolvePassword(): Promise<string | undefined> {
    const given = this.#options.password;
    if (typeof given === 'function') this.#password ??= await given();
    else this.#password ??= given;
    return this.#password;
  }

  async #createClient(address: RegistryAddress, role: ClientRole, login?: Login): Promise<RegistryClient> {
    const credentials = await this.credentials(address, role, login);
    if (credentials && !credentials.unusable && address.scheme === 'http' && !isLoopbackHost(address.host)) {
      this.logger.warn(`credentials for ${address.host} will be sent over plain HTTP, unencrypted`);
    }
    return new RegistryClient({
      address,
      transport: this.#transport,
      credentials,
      cache: this.#cache,
      listLimits: listLimitsFrom(this.#options.listLimits, this.#env),
    });
  }

  // ── credentials ───────────────────────────────────────────────────────────────────────────

  /**
   * `krill login`: checks the credentials against the registry (what `docker login` does), then
   * stores them in docker's config.json or its credential helper. Returns where they went.
   */
  async login(registry?: string, call: CallOptions = {}): Promise<string> {
    return this.#call('login', SHAPES.call, call, async () => {
      const address = this.#loginAddress(registry);
      this.setDestination(address);
      const username = this.#options.username;
      const password = await this.#resolvePassword();
      if (username === undefined || password === undefined)
        throw new UsageError(
          'krill login needs --username and a password: --password-stdin, or typed at the prompt on a terminal',
        );
      const client = await this.#createClient(address, 'target', { username, password });
      try {
        await client.checkCredentials();
      } catch (cause) {
        if (!(cause instanceof AuthError)) throw cause;
        throw new AuthError(
          `${address.host} rejected the credentials of ${username}: check the username and password`,
          {
            cause,
          },
        );
      }
      return storeCredentials(address.host, username, password, this.#env);
    });
  }

  /** GitLab or Harbor behind a registry this Krill has talked to (see RegistryClient.flavor). */
  async registryFlavor(address: RegistryAddress): Promise<'gitlab' | 'harbor' | undefined> {
    return (await this.client(address)).flavor();
  }

  /** `krill logout`: removes what `login` stored; false when nothing was stored for the registry. */
  async logout(registry?: string, call: CallOptions = {}): Promise<boolean> {
    return this.#call('logout', SHAPES.call, call, async () => {
      return eraseCredentials(this.#loginAddress(registry).host, this.#env);
    });
  }

  #loginAddress(registry: string | undefined): RegistryAddress {
    return registry !== undefined
      ? this.parseRegistry(registry)
      : (this.defaultRegistry() ?? { host: DOCKER_HUB, scheme: 'https' });
  }

  // ── reading ───────────────────────────────────────────────────────────────────────────────

  /** Repositories of a registry's catalog, sorted. */
  async repositories(registry?: string, call: CallOptions = {}): Promise<string[]> {
    return this.#call('repositories', SHAPES.call, call, async () => {
      const address = registry !== undefined ? this.parseRegistry(registry) : this.defaultRegistry();
      if (address === undefined || address.host === DOCKER_HUB) {
        throw new UsageError(
          'Docker Hub does not offer the catalog API: name a registry, e.g. krill repos registry.example.com',
        );
      }
      return (await (await this.client(address)).listRepositories()).sort();
    });
  }

  /** The same rows as `krill tags --json`: newest first (or names only, sorted). */
  async tags(repository: string, options: TagsOptions & CallOptions = {}): Promise<TagRow[]> {
    return this.#call('tags', SHAPES.tags, options, async () => {
      const ref = this.parseRepository(repository);
      const filter = options.filter !== undefined ? compilePattern(options.filter, '--filter') : undefined;
      const exclude = options.exclude !== undefined ? compilePattern(options.exclude, '--exclude') : undefined;
      const client = await this.client(ref.registry);
      const names = (await client.listTags(ref.repository)).filter((tag) => matches(tag, filter, exclude));
      if (options.namesOnly) {
        return names
          .sort()
          .slice(0, options.limit)
          .map((tag) => ({ tag, digest: null, mediaType: '', created: null, size: 0, platforms: [] }));
      }
      const rows = await summarizeTags(client, ref.repository, names, {
        concurrency: this.concurrency,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      if (options.limit === undefined) return rows.map(toTagRow);
      // --limit counts images; the attachment tags of the images shown come with them.
      const shown = rows.filter((r) => !r.attachment).slice(0, options.limit);
      const digests = new Set(shown.map((r) => r.digest));
      return rows.filter((r) => shown.includes(r) || (r.attachment && digests.has(r.subject!))).map(toTagRow);
    });
  }

  /** The manifest a reference names (the platform's, with `platform`), exactly as served. */
  async manifest(
    reference: string,
    options: { platform?: string } & CallOptions = {},
  ): Promise<{ name: string; ref: Reference; fetched: FetchedManifest; reader: ImageReader }> {
    return this.#call('manifest', SHAPES.platform, options, async () => {
      const ref = await this.resolveReference(reference);
      if (options.platform !== undefined) validatePlatform(options.platform);
      const client = await this.client(ref.registry);
      const reader = new ImageReader(client, ref.repository);
      let fetched = reader.remember(await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest'));
      const name = formatReference({
        ...ref,
        ...(ref.digest === undefined && ref.tag === undefined ? { tag: 'latest' } : {}),
      });
      if (options.platform !== undefined && fetched.manifest.kind === 'index') {
        fetched = await reader.manifest(findPlatform(fetched.manifest, options.platform, name).digest);
      }
      return { name, ref, fetched, reader };
    });
  }

  /** The digest a reference resolves to (`crane digest`): one HEAD, or the platform's entry. */
  async digest(reference: string, options: { platform?: string } & CallOptions = {}): Promise<string> {
    return this.#call('digest', SHAPES.platform, options, async () => {
      if (options.platform !== undefined) return (await this.manifest(reference, options)).fetched.digest;
      const ref = await this.resolveReference(reference);
      const client = await this.client(ref.registry);
      return (await client.headManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest')).digest;
    });
  }

  /** The image config blob exactly as stored (`crane config`); an index needs `platform`. */
  async config(reference: string, options: { platform?: string } & CallOptions = {}): Promise<Buffer> {
    return this.#call('config', SHAPES.platform, options, async () => {
      const { name, ref, fetched } = await this.manifest(reference, options);
      const m = fetched.manifest;
      if (m.kind !== 'image') {
        throw new UsageError(
          `${name} is a multi-platform index: pass --platform to choose the image whose config to show`,
        );
      }
      return (await this.client(ref.registry)).getBlob(ref.repository, m.config.digest);
    });
  }

  /** What `krill inspect --json` shows, with the referrer graph of the manifest (signatures, SBOMs). */
  async inspect(reference: string, options: { platform?: string } & CallOptions = {}): Promise<Inspection> {
    return this.#call('inspect', SHAPES.platform, options, async () => {
      const { name, ref, fetched, reader } = await this.manifest(reference, options);
      const details = await reader.inspect(name, fetched.digest);
      const wanted = options.platform === undefined ? undefined : normalizePlatform(options.platform);
      if (
        wanted !== undefined &&
        details.manifests === undefined &&
        details.platforms.length > 0 &&
        !details.platforms.some((p) => normalizePlatform(p) === wanted)
      ) {
        throw new NotFoundError(
          `${name} is a single-platform image for ${details.platforms.join(', ')}, not ${options.platform}`,
        );
      }
      const client = await this.client(ref.registry);
      const tree = await referrerTree(client, ref.repository, fetched.digest);
      const describe = async (node: ReferrerNode): Promise<ReferrerInfo> => {
        const summary = await reader.summarize(node.descriptor.digest).catch((error: unknown) => {
          if (isNotFound(error)) return undefined; // listed by an index, gone from the registry
          throw error;
        });
        return {
          digest: node.descriptor.digest,
          mediaType: node.descriptor.mediaType,
          artifactType: node.descriptor.artifactType ?? summary?.artifactType ?? null,
          size: summary?.size ?? 0,
          created: summary?.created ?? null,
          via: node.via,
          ...(node.tag !== undefined ? { tag: node.tag } : {}),
          ...(summary === undefined ? { missing: true as const } : {}),
          referrers: await Promise.all(node.referrers.map(describe)),
        };
      };
      return { ...details, referrers: await Promise.all(tree.map(describe)) };
    });
  }

  // ── deleting: plan, then apply ───────────────────────────────────────────────────────────

  /** The same plan as `krill cleanup --json --dry-run`. Validates everything before any request. */
  async planCleanup(request: CleanupRequest & CallOptions): Promise<Plan> {
    return this.#call('planCleanup', SHAPES.cleanup, request, async () => {
      const { policy, ruleSetFor, ruleSetOf, compileRules, parseBudget, parseSize, evaluateRuleSet } =
        await loadRetention(request);
      const flagRules = policy ? undefined : compileRuleList(request.rules, compileRules, ruleSetOf);
      const { registry, repositories } = this.#cleanupTargets(request, policy);
      const whole = this.#wholePlanLimit(request, policy, parseBudget, parseSize);
      const sources = (request.keepInUse ?? policy?.keepInUse ?? []).map((s) =>
        this.#liveSource(s, request.rollbackDepth),
      );
      const client = await this.client(registry);
      const live = sources.length > 0 ? await readLiveSet(sources, client) : undefined;
      for (const warning of live?.warnings ?? []) this.logger.warn(warning);
      const catalog =
        repositories === undefined || request.scanAll ? (await client.listRepositories()).sort() : undefined;
      const rulesOf = (repository: string): RuleSet | undefined =>
        policy ? ruleSetFor(policy, repository, Boolean(request.allRepos) || repositories !== undefined) : flagRules;
      const targets = repositories ?? catalog!.filter((r) => rulesOf(r) !== undefined);
      if (policy) this.#checkRulesMatch(policy, repositories ?? catalog!, request.strict === true);
      // Repositories read only to account for blobs they share with the targets.
      const others = catalog ? catalog.filter((r) => !targets.includes(r)) : [];
      const snapshots = await this.#readSnapshots(client, [...targets, ...others], catalog !== undefined, request);
      const history = request.history === false ? undefined : new History(historyDir(this.#env));
      if (history) await this.#readRetained(client, history, snapshots);
      const now = Date.now();
      const plans: RepositoryPlan[] = [];
      const changes: Record<string, ListingChanges> = {};
      for (const repository of targets) {
        const snapshot = snapshots.get(repository)!;
        const rules = rulesOf(repository)!;
        for (const selected of rules.rules) this.#noteUnmatched(snapshot, selected.rules);
        const listing = await this.#checkListing(history, registry, snapshot, request);
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
      const plan = makePlan(registry, plans, all, catalog !== undefined);
      if (request.diff) plan.changes = changes;
      if (live) this.#recordLiveSet(plan, sources, live.digests, targets, request.rollbackDepth);
      return this.#withLimits(plan, all, whole, rulesOf);
    });
  }

  /** The live set in the plan (re-read at apply by source name; its digests stay for --allow-stale-live-set). */
  #recordLiveSet(
    plan: Plan,
    sources: LiveSource[],
    digests: LiveDigests,
    targets: string[],
    rollbackDepth: number | undefined,
  ): void {
    this.#liveSources.set(plan, sources);
    plan.keepInUse = {
      ...(rollbackDepth !== undefined ? { rollbackDepth } : {}),
      sources: sources.map((s) => s.name),
      digests: Object.fromEntries(targets.map((r) => [r, [...(digests.get(r)?.keys() ?? [])].sort()])),
    };
  }

  /** Every repository's snapshot, a few at a time (catalog repositories without tags are empty). */
  async #readSnapshots(
    client: RegistryClient,
    repositories: string[],
    fromCatalog: boolean,
    progress: ProgressOptions,
  ): Promise<Map<string, RepositorySnapshot>> {
    let read = 0;
    const snapshots = new Map<string, RepositorySnapshot>();
    // One repository: count its tags instead, or a big one is seconds of silence.
    const perTag =
      repositories.length === 1 && progress.onProgress
        ? { onProgress: (done: number, total: number) => progress.onProgress!(done, total, 'reading tags') }
        : {};
    await mapConcurrent(repositories, Math.max(1, Math.ceil(this.concurrency / 2)), async (repository) => {
      // A catalog repository may hold no tags at all (an interrupted push): empty, not an error.
      const options = { concurrency: this.concurrency, emptyIfUnknown: fromCatalog, ...perTag };
      snapshots.set(repository, await readRepositorySnapshot(client, repository, options));
      if (!perTag.onProgress) progress.onProgress?.(++read, repositories.length);
    });
    return snapshots;
  }

  /**
   * The old manifests of re-pushed tags that the registry still holds, per snapshot, so that their
   * blobs count as staying (registry/past-manifests.ts); and what history knows, updated.
   */
  async #readRetained(
    client: RegistryClient,
    history: History,
    snapshots: Map<string, RepositorySnapshot>,
  ): Promise<void> {
    await mapConcurrent([...snapshots.values()], Math.max(1, Math.ceil(this.concurrency / 2)), async (snapshot) => {
      const known = await history.known(client.host, snapshot.repository);
      const unseen = (known ?? []).filter((digest) => !snapshot.manifests[digest]);
      let gone: string[] = [];
      try {
        const past = await readPastManifests(client, snapshot.repository, unseen, this.concurrency);
        if (known) snapshot.retained = past.retained;
        gone = past.gone;
      } catch (error) {
        if (isAbortError(error)) throw error;
        // Accounting only: the plan goes on and its bytes stay "at most".
        const why = error instanceof Error ? error.message : String(error);
        this.logger.warn(
          `${snapshot.repository}: old manifests not read (${why}); reclaimable space is an upper bound`,
        );
      }
      await history.remember(
        client.host,
        snapshot.repository,
        snapshot.tags.map((t) => t.digest),
        gone,
      );
    });
  }

  /**
   * The listing check (plan/listing.ts) against the last recorded run, and the recording of this
   * one — unless it looks wrong: the next run then compares with the last good listing.
   */
  async #checkListing(
    history: History | undefined,
    registry: RegistryAddress,
    snapshot: RepositorySnapshot,
    request: CleanupRequest,
  ) {
    const listing: Record<string, string> = {};
    for (const tag of snapshot.dangling ?? []) listing[tag] = '';
    for (const t of snapshot.invalid ?? []) listing[t.tag] = t.digest;
    for (const t of snapshot.tags) listing[t.tag] = t.digest;
    const tags = new Set(Object.keys(listing));
    const last = (await history?.runs(registry.host, snapshot.repository))?.at(-1);
    const wrong = last && !request.acceptListing ? checkListing(Object.keys(last.tags), last.removed, tags) : undefined;
    if (wrong) this.logger.warn(`${snapshot.repository}: ${wrong}; nothing will be deleted there`);
    const record = async (planned: number, now: number) => {
      if (wrong || !history) return;
      const run = { time: new Date(now).toISOString(), tags: listing, removed: [], planned };
      await history.record(registry.host, snapshot.repository, run);
    };
    return { wrong, last, tags, record };
  }

  /** The plan with its budgets, and why it is refused when it exceeds one (plan/limits.ts). */
  #withLimits(
    plan: Plan,
    snapshots: RepositorySnapshot[],
    whole: Limit | undefined,
    rulesOf: (repository: string) => RuleSet | undefined,
  ): Plan {
    const refused = checkLimits(plan.repositories, plan.reclaimableBytes, whole, (p) => {
      const rules = rulesOf(p.repository)?.budget;
      if (rules === undefined || (rules.maxDelete === undefined && rules.maxBytes === undefined)) return undefined;
      const limit: Limit = {
        source: `the rule for ${p.repository}:`,
        ...(rules.maxDelete ? { maxDelete: rules.maxDelete } : {}),
        ...(rules.maxBytes !== undefined ? { maxBytes: rules.maxBytes } : {}),
      };
      return { limit, bytes: computeReclaimable(snapshots, [p]) };
    });
    if (whole || refused) {
      plan.limits = {
        ...(whole?.maxDelete ? { maxDelete: whole.maxDelete.text } : {}),
        ...(whole?.maxBytes !== undefined ? { maxBytes: whole.maxBytes } : {}),
        ...(refused ? { refused } : {}),
      };
    }
    return plan;
  }

  /**
   * The budget of the whole plan: the flags, else the policy file's, else 50% for --all-repos and
   * policy files (a wrong rule or a listing that dropped entries must not empty a registry).
   */
  #wholePlanLimit(
    request: CleanupRequest,
    policy: Policy | undefined,
    parseBudget: (input: string | number, what?: string) => Budget,
    parseSize: (input: string | number, what?: string) => number,
  ): Limit | undefined {
    if (request.maxDelete !== undefined || request.maxBytes !== undefined)
      return {
        source: request.maxDelete !== undefined ? '--max-delete' : '--max-bytes',
        ...(request.maxDelete !== undefined ? { maxDelete: parseBudget(request.maxDelete) } : {}),
        ...(request.maxBytes !== undefined ? { maxBytes: parseSize(request.maxBytes) } : {}),
      };
    if (policy?.limits) return { source: "the policy file's", ...policy.limits };
    if (policy || request.allRepos) return { source: 'the default budget', maxDelete: DEFAULT_BUDGET };
    return undefined;
  }

  /** A regex that matches no tag of a repository is worth a note under --verbose (a typo?). */
  #noteUnmatched(snapshot: RepositorySnapshot, rules: Rules): void {
    if (!this.logger.debugEnabled) return;
    for (const [flag, patterns] of [
      ['--delete-regex', rules.deleteRegex],
      ['--keep-regex', rules.keepRegex],
    ] as const) {
      for (const p of patterns) {
        if (!snapshot.tags.some((t) => p.test(t.tag)))
          this.logger.debug(`${snapshot.repository}: ${flag} ${p.source} matches no tag`);
      }
    }
  }

  /** A rule that matches nothing is almost always a typo: one wrong glob must not go unnoticed. */
  #checkRulesMatch(policy: Policy, repositories: string[], strict: boolean): void {
    for (const rule of policy.rules) {
      if (repositories.some((r) => rule.matches(r))) continue;
      const message = `${rule.where}: the rule for repos "${rule.repos}" matches no repository`;
      if (strict) throw new UsageError(`${message} (--strict)`);
      this.logger.warn(message);
    }
  }

  /** Which registry and repositories a cleanup request names (undefined repositories: the catalog). */
  #cleanupTargets(
    request: CleanupRequest,
    policy: Policy | undefined,
  ): { registry: RegistryAddress; repositories: string[] | undefined } {
    let registry: RegistryAddress | undefined;
    let repositories: string[] | undefined;
    const named = request.repositories ?? [];
    if (request.allRepos) {
      if (named.length > 0)
        throw new UsageError('--all-repos takes no repositories: krill cleanup --all-repos REGISTRY');
      const given = typeof request.allRepos === 'string' ? request.allRepos : policy?.registry;
      registry = given !== undefined ? this.parseRegistry(given) : this.defaultRegistry();
    } else if (named.length > 0) {
      const refs = named.map((p) => this.parseRepository(p));
      registry = refs[0]!.registry;
      if (refs.some((r) => r.registry.host !== registry!.host))
        throw new UsageError('krill cleanup works on one registry at a time: run it once per registry');
      repositories = [...new Set(refs.map((r) => r.repository))];
    } else if (policy) {
      registry = policy.registry !== undefined ? this.parseRegistry(policy.registry) : this.defaultRegistry();
    } else {
      throw new UsageError(
        'name what to clean up: krill cleanup REPO…, krill cleanup --all-repos REGISTRY, or krill cleanup -f POLICY.yaml',
      );
    }
    if (policy?.registry !== undefined && registry !== undefined) {
      // The command line never silently loses to the file, nor the file to the command line: a
      // staging run must not clean production.
      const fileHost = this.parseRegistry(policy.registry).host;
      const cliHost =
        named.length > 0
          ? registry.host
          : typeof request.allRepos === 'string'
            ? this.parseRegistry(request.allRepos).host
            : this.defaultRegistry()?.host;
      if (cliHost !== undefined && cliHost !== fileHost) {
        throw new UsageError(
          `the policy file names registry ${fileHost} but the command line names ${cliHost}: remove one of them`,
        );
      }
    }
    if (registry === undefined || registry.host === DOCKER_HUB) {
      throw new UsageError(
        'name the registry (argument, --registry, KRILL_REGISTRY or "registry:" in the policy file); Docker Hub has no catalog or delete API',
      );
    }
    return { registry, repositories };
  }

  /** The plan of `krill rm`: exactly the named tags and digests, shared digests only untagged. */
  async planRemoval(
    references: string[],
    options: { force?: boolean; keepReferrers?: boolean } & CallOptions = {},
  ): Promise<Plan> {
    return this.#call('planRemoval', SHAPES.removal, options, async () => {
      const parsed = references.map((input) => this.#parseRemoval(input));
      const registry = parsed[0]!.registry;
      if (parsed.some((r) => r.registry.host !== registry.host))
        throw new UsageError('krill rm works on one registry at a time: run it once per registry');
      // A short digest copied from a table deletes only when it names exactly one digest.
      const refs: Reference[] = [];
      for (const ref of parsed) refs.push(await this.resolveReference(ref));
      const byRepo = new Map<string, Reference[]>();
      for (const ref of refs) byRepo.set(ref.repository, [...(byRepo.get(ref.repository) ?? []), ref]);
      const client = await this.client(registry);
      const snapshots: RepositorySnapshot[] = [];
      const plans: RepositoryPlan[] = [];
      for (const [repository, repoRefs] of byRepo) {
        const { snapshot, plan } = await this.#planRepositoryRemoval(client, repository, repoRefs, options);
        snapshots.push(snapshot);
        plans.push(plan);
      }
      return makePlan(registry, plans, snapshots, false);
    });
  }

  /** `REPO:TAG` or `REPO@DIGEST` (short digests allowed), validated before any request. */
  #parseRemoval(input: string): Reference {
    const ref = this.parseReference(input, { shortDigest: true });
    const digest = ref.digest ?? ref.digestPrefix;
    if (ref.tag === undefined && digest === undefined)
      throw new UsageError(
        `"${input}" names no tag or digest: write REPO:TAG or REPO@DIGEST (krill never guesses :latest for a delete)`,
      );
    if (ref.tag !== undefined && digest !== undefined)
      throw new UsageError(
        `"${input}" names both a tag and a digest: give REPO:TAG to remove a tag, or REPO@DIGEST to delete a manifest`,
      );
    return ref;
  }

  /** The removal plan of one repository: exactly the named tags and digests. */
  async #planRepositoryRemoval(
    client: RegistryClient,
    repository: string,
    refs: Reference[],
    options: { force?: boolean; keepReferrers?: boolean },
  ): Promise<{ snapshot: RepositorySnapshot; plan: RepositoryPlan }> {
    const snapshot = await readRepositorySnapshot(client, repository, { concurrency: this.concurrency });
    const current = new Map(snapshot.tags.map((t) => [t.tag, t.digest]));
    const decisions: TagDecision[] = [];
    const digests: string[] = [];
    const dangling: string[] = [];
    for (const ref of refs) {
      if (ref.tag === undefined) digests.push(ref.digest!);
      else if (snapshot.dangling?.includes(ref.tag)) dangling.push(ref.tag);
      else {
        const digest = current.get(ref.tag);
        if (digest === undefined)
          throw new NotFoundError(
            `${formatReference(ref)} not found: ${repository} has no tag ${ref.tag}; nothing was changed`,
          );
        decisions.push({ tag: ref.tag, digest, action: 'delete', reason: 'requested' });
      }
    }
    // An untagged manifest named by digest: read it so its platform manifests are known too.
    const extra = await Promise.all(
      digests.filter((d) => !snapshot.manifests[d]).map((d) => client.getManifest(repository, d)),
    );
    const withExtra: RepositorySnapshot = {
      ...snapshot,
      manifests: {
        ...snapshot.manifests,
        ...Object.fromEntries(extra.map((f) => [f.digest, toManifestNode(f, null)])),
      },
    };
    // Attachment tags not named follow their subject: an image's signatures go with it.
    for (const { tag, digest } of snapshot.tags)
      if (!decisions.some((d) => d.tag === tag) && attachmentSubject(tag) === undefined)
        decisions.push({ tag, digest, action: 'keep', reason: 'not requested' });
    const plan = buildRepositoryPlan(withExtra, decisions, {
      deleteDigests: digests,
      force: options.force === true,
      removeDangling: dangling,
      keepReferrers: options.keepReferrers === true,
    });
    return { snapshot: withExtra, plan };
  }

  /**
   * Carries out a plan with every re-check `krill apply` performs, journaling before each change.
   * Returns the outcomes and the journal path (undefined when nothing was journaled).
   */
  async apply(
    plan: Plan,
    options: ApplyOptions & CallOptions = {},
  ): Promise<ApplyResult & { journal: string | undefined }> {
    return this.#call('apply', SHAPES.apply, options, async () => {
      if (plan.limits?.refused !== undefined) throw new RefusedError(refusal(plan.limits.refused));
      const client = await this.client(plan.registry);
      const live = await this.#rereadLiveSet(plan, client, options);
      const given = options.journal;
      const journal =
        given instanceof Journal
          ? given
          : await Journal.open(given ?? defaultJournalPath(this.#env, plan.registry.host));
      // Before the first change, not after: a run killed mid-way (SIGKILL, OOM, a cancelled CI job)
      // must not leave its own deletions to be blamed on the registry by the next listing check.
      await this.#recordRemovals(plan);
      try {
        const result = await applyPlan(client, plan, {
          journal,
          concurrency: this.concurrency,
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          ...(this.#signal() ? { signal: this.#signal()! } : {}),
          ...(live ? { live } : {}),
        });
        await this.#forgetDeleted(plan, result);
        return { ...result, journal: given instanceof Journal || journal.kept ? journal.path : undefined };
      } finally {
        if (!(given instanceof Journal)) await journal.close();
      }
    });
  }

  /** Puts back what a journal says was removed; tags pushed again since are skipped unless `force`. */
  /** A live-set source by name: `kubernetes[:CTX,…]`, else a file of image references. */
  #liveSource(source: string | LiveSource, rollbackDepth: number | undefined): LiveSource {
    if (typeof source !== 'string') return source;
    const cluster = parseKubernetesSource(source);
    if (!cluster) return fileSource(source);
    return kubernetesSource(source, cluster.contexts, {
      env: this.#env,
      ...(rollbackDepth !== undefined ? { rollbackDepth } : {}),
    });
  }

  /** Tags krill removes (or may have removed) never count as "lost" by the next listing check. */
  async #recordRemovals(plan: Plan): Promise<void> {
    const history = new History(historyDir(this.#env));
    for (const [repository, tags] of plannedRemovals(plan)) {
      await history.markRemoved(plan.registry.host, repository, tags).catch((error: unknown) => {
        this.logger.warn(`could not record the removed tags of ${repository}: ${String(error)}`);
      });
    }
  }

  /** Digests apply deleted need no HEAD on the next plan (history's known digests, past-manifests.ts). */
  async #forgetDeleted(plan: Plan, result: ApplyResult): Promise<void> {
    const history = new History(historyDir(this.#env));
    const gone = new Map<string, string[]>();
    for (const o of result.outcomes)
      if (o.status === 'deleted' || o.status === 'already-gone')
        gone.set(o.repository, [...(gone.get(o.repository) ?? []), o.digest]);
    for (const [repository, digests] of gone)
      await history.forget(plan.registry.host, repository, digests).catch(() => undefined); // only saves HEADs
  }

  /**
   * The live set right before deleting: what the plan kept, plus what its sources list now (an
   * image deployed since the plan is kept too). A source that cannot be read stops the apply.
   */
  async #rereadLiveSet(
    plan: Plan,
    client: RegistryClient,
    options: ApplyOptions,
  ): Promise<Map<string, Set<string>> | undefined> {
    if (!plan.keepInUse) return undefined;
    const live = new Map(Object.entries(plan.keepInUse.digests).map(([repo, digests]) => [repo, new Set(digests)]));
    const sources = (options.keepInUse ?? this.#liveSources.get(plan) ?? plan.keepInUse.sources).map((s) =>
      this.#liveSource(s, plan.keepInUse?.rollbackDepth),
    );
    try {
      const fresh = await readLiveSet(sources, client);
      for (const [repo, digests] of fresh.digests) {
        const set = live.get(repo) ?? new Set<string>();
        for (const digest of digests.keys()) set.add(digest);
        live.set(repo, set);
      }
    } catch (error) {
      if (isAbortError(error) || !options.allowStaleLiveSet)
        throw new RefusedError(
          `cannot re-read the live set (${error instanceof Error ? error.message : String(error)}): nothing was deleted; fix the source or pass --allow-stale-live-set to use the plan's`,
          { cause: error },
        );
      this.logger.warn(`the live set could not be re-read; using the plan's (--allow-stale-live-set)`);
    }
    return live;
  }

  async undo(
    journal: string | JournalEntry[],
    options: { force?: boolean } & CallOptions = {},
  ): Promise<UndoOutcome[]> {
    return this.#call('undo', SHAPES.undo, options, async () => {
      let entries = journal;
      if (typeof entries === 'string') {
        const read = await readJournal(entries);
        for (const warning of read.warnings) this.logger.warn(warning);
        entries = read.entries;
      }
      return undoJournal((entry) => this.client(entry.registry), entries, { force: options.force === true });
    });
  }

  // ── moving ────────────────────────────────────────────────────────────────────────────────

  /** Copies an image (or, with `allTags`, a repository) keeping digests; credentials per side. */
  async copy(source: string, destination: string, request: CopyRequest & CallOptions = {}): Promise<CopyReport[]> {
    return this.#call('copy', SHAPES.copy, request, async () => {
      checkOptions(request.sourceLogin, 'copy options.sourceLogin', SHAPES.login);
      checkOptions(request.destinationLogin, 'copy options.destinationLogin', SHAPES.login);
      const src = request.allTags ? this.parseRepository(source) : this.parseReference(source);
      const dst = this.parseReference(destination);
      if (request.allTags && (dst.tag !== undefined || dst.digest !== undefined))
        throw new UsageError('with --all-tags, DST is a repository: drop its :TAG');
      if (dst.digest !== undefined)
        throw new UsageError(`"${destination}": a destination names a tag, not a digest (the digest is kept as it is)`);
      if (request.platform !== undefined) validatePlatform(request.platform);
      this.setDestination(dst.registry);
      const from = await this.client(src.registry, {
        role: 'source',
        ...(request.sourceLogin ? { login: request.sourceLogin } : {}),
      });
      const to = await this.client(dst.registry, {
        role: 'destination',
        ...(request.destinationLogin ? { login: request.destinationLogin } : {}),
      });
      const jobs = request.allTags
        ? (await from.listTags(src.repository)).sort().map((tag) => ({ reference: tag, tags: [tag] }))
        : [singleCopyJob(src, dst)];
      const reports: CopyReport[] = [];
      const sourceTags = request.allTags ? jobs.map((j) => j.reference) : undefined;
      await mapConcurrent(jobs, request.allTags ? 2 : 1, async (job) => {
        // With --all-tags, attachment tags are copied as tags like any other; their images take the rest.
        const withReferrers = request.referrers !== false && attachmentSubject(job.reference) === undefined;
        const result = await copyWithReferrers(
          { client: from, repository: src.repository },
          job.reference,
          { client: to, repository: dst.repository },
          job.tags,
          {
            ...(request.platform !== undefined ? { platform: request.platform } : {}),
            concurrency: Math.max(1, Math.ceil(this.concurrency / 2)),
            ...(request.onProgress ? { onProgress: request.onProgress } : {}),
            referrers: withReferrers
              ? {
                  ...(request.referrerTypes ? { types: request.referrerTypes } : {}),
                  ...(sourceTags ? { sourceTags } : {}),
                }
              : false,
          },
        );
        const source = formatReference({
          ...src,
          ...(job.reference.includes(':') ? { digest: job.reference } : { tag: job.reference }),
        });
        const destination = formatReference({
          ...dst,
          ...(job.tags[0] ? { tag: job.tags[0] } : { digest: result.digest }),
        });
        const report: CopyReport = { ...result, source, destination };
        reports.push(report);
        request.onImage?.(reports.length, jobs.length, report);
      });
      return reports;
    });
  }

  /**
   * Prepares a lstags-style sync: specs (`[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]`) into
   * `to` (`HOST[:PORT][/PREFIX]`). Everything is validated before any request.
   */
  async syncJobs(specs: string[], request: SyncRequest & CallOptions): Promise<SyncJob[]> {
    return this.#call('syncJobs', SHAPES.syncJobs, request, async () => {
      checkOptions(request.destinationLogin, 'syncJobs options.destinationLogin', SHAPES.login);
      if (specs.length === 0)
        throw new UsageError('name what to sync: krill sync SPEC… --to TARGET, or krill sync -f FILE');
      const target: SyncTarget = parseSyncTarget(request.to, { plainHttp: this.#options.plainHttp ?? false });
      const parsed = specs.map((s) => this.parseSpec(s));
      const prefixFor = (spec: SyncSpec) =>
        request.prefix === 'auto'
          ? [target.prefix, autoPrefix(spec.source.registry)].filter(Boolean).join('/')
          : [target.prefix, request.prefix].filter(Boolean).join('/');
      this.setDestination(target.registry);
      const destination = await this.client(target.registry, {
        role: 'destination',
        ...(request.destinationLogin ? { login: request.destinationLogin } : {}),
      });
      const jobs: SyncJob[] = [];
      for (const spec of parsed) {
        const source = await this.client(spec.source.registry, { role: 'source' });
        jobs.push({
          spec,
          source,
          destination,
          destinationRepository: destinationRepository(target, spec.source.repository, prefixFor(spec)),
        });
      }
      return jobs;
    });
  }

  /** One sync round over prepared jobs: copies what the destination lacks or has another digest of. */
  /** Runs sync jobs; referrers travel with each image unless `referrers: false`. */
  async sync(jobs: SyncJob[], options: SyncOptions & { daemon?: boolean } & CallOptions = {}): Promise<SyncOutcome[]> {
    return this.#call('sync', SHAPES.sync, options, async () => {
      const all: SyncOutcome[] = [];
      for (const job of jobs) {
        if (options.shouldStop?.()) break;
        try {
          all.push(...(await syncJob(job, options)));
        } catch (error) {
          if (isAbortError(error) || !options.daemon) throw error;
          // Daemon mode: a whole spec failing (listing, auth) is logged and the loop goes on.
          this.logger.warn(`${job.spec.input}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      return all;
    });
  }

  /**
   * `sync --prune`: a plan deleting destination tags that the source no longer lists, with the
   * same safety as `rm`. The source's whole tag list counts: a `~/REGEX/` filter narrows what is
   * copied, never what is kept.
   */
  async planPrune(jobs: SyncJob[], call: CallOptions = {}): Promise<Plan> {
    return this.#call('planPrune', SHAPES.call, call, async () => {
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
          snapshot = await readRepositorySnapshot(destination, repository, { concurrency: this.concurrency });
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
    });
  }

  /**
   * Per spec, the state of each tag against the local engine's images (`local`), or with `with`
   * (`HOST[:PORT][/PREFIX]`) against a second registry.
   */
  async compare(
    specs: string[],
    options: { with?: string; local?: LocalImage[] } & CallOptions = {},
  ): Promise<Array<{ repository: string; rows: CompareRow[] }>> {
    return this.#call('compare', SHAPES.compare, options, async () => {
      const parsed = specs.map((s) => this.parseSpec(s));
      const other =
        options.with !== undefined
          ? parseSyncTarget(options.with, { plainHttp: this.#options.plainHttp ?? false })
          : undefined;
      // Without --with, the first SPEC's registry is the one the given credentials belong to.
      this.setDestination(other?.registry ?? parsed[0]?.source.registry ?? { host: DOCKER_HUB, scheme: 'https' });
      const results: Array<{ repository: string; rows: CompareRow[] }> = [];
      for (const spec of parsed) {
        const client = await this.client(spec.source.registry, other ? { role: 'source' } : {});
        const remote = await readRemoteTags(client, spec, this.concurrency);
        let rows: CompareRow[];
        if (other) {
          const there = await readTagDigests(
            await this.client(other.registry, { role: 'destination' }),
            destinationRepository(other, spec.source.repository),
            spec,
            remote,
            this.concurrency,
          );
          rows = compareWithRegistry(remote, there);
        } else {
          rows = compareWithLocal(canonicalName(spec.source), remote, options.local ?? []);
        }
        results.push({ repository: canonicalName(spec.source), rows });
      }
      return results;
    });
  }

  /** Flushes the cache and closes every connection. */
  async close(): Promise<void> {
    this.#cache?.flush();
    this.#cache?.close();
    await this.#transport.close();
  }
}

function matches(tag: string, filter: Pattern | undefined, exclude: Pattern | undefined): boolean {
  return (!filter || filter.test(tag)) && !(exclude && exclude.test(tag));
}

function toTagRow(r: TagSummary): TagRow {
  return {
    tag: r.tag,
    digest: r.dangling ? null : r.digest,
    mediaType: r.mediaType,
    created: r.created,
    size: r.size,
    platforms: r.platforms,
    ...(r.dangling ? { dangling: true as const } : {}),
    ...(r.invalid !== undefined ? { invalid: r.invalid } : {}),
    ...(r.missing ? { missing: r.missing } : {}),
    ...(r.artifactType !== undefined ? { artifactType: r.artifactType } : {}),
    ...(r.subject !== undefined ? { subject: r.subject } : {}),
    ...(r.attachment !== undefined ? { attachment: r.attachment } : {}),
    ...(r.artifactTypes !== undefined ? { artifactTypes: r.artifactTypes } : {}),
    ...(r.referrers !== undefined ? { referrers: r.referrers } : {}),
  };
}

/** One image to copy: the source's digest or tag (default latest), under the destination's tag or the source's. */
function singleCopyJob(src: Reference, dst: Reference): { reference: string; tags: string[] } {
  const reference = src.digest ?? src.tag ?? 'latest';
  const tag = dst.tag ?? (src.digest === undefined ? (src.tag ?? 'latest') : undefined);
  return { reference, tags: tag === undefined ? [] : [tag] };
}

/** Retention (yaml, semver) is loaded only by the calls that plan one; a policy given as text is parsed. */
/**
 * The library's rules (one object, or a list with `tags` selectors: `cleanup --rule`) checked and
 * compiled into a rule set, with the policy file's messages.
 */
function compileRuleList(
  given: RuleInput | RuleInput[] | undefined,
  compileRules: (input: RuleInput, where?: string) => Rules,
  ruleSetOf: (rules: Array<{ rules: Rules; tags?: Pattern }>) => RuleSet,
): RuleSet {
  const list = Array.isArray(given) ? given : [given ?? {}];
  if (list.length === 0) throw new UsageError('planCleanup options.rules is an empty list: give at least one rule');
  return ruleSetOf(
    list.map((input, i) => {
      const where = Array.isArray(given) ? `planCleanup options.rules[${i}]` : 'planCleanup options.rules';
      checkOptions(input, where, SHAPES.rules);
      const { tags, ...rest } = input;
      if (tags !== undefined && (rest.maxDelete !== undefined || rest.maxBytes !== undefined))
        throw new UsageError(`${where}: a rule with tags cannot set maxDelete or maxBytes: give budgets to the run`);
      const rules = compileRules(rest, Array.isArray(given) ? `rule ${i + 1}` : '');
      return { rules, ...(tags !== undefined ? { tags: compilePattern(tags, `${where}.tags`) } : {}) };
    }),
  );
}

async function loadRetention(request: CleanupRequest) {
  const [{ parsePolicy }, rules, { evaluateRuleSet, ruleSetFor, ruleSetOf }] = await Promise.all([
    import('./policy/policy-file.js'),
    import('./policy/rules.js'),
    import('./policy/rule-set.js'),
  ]);
  const given = request.policy;
  const policy = given === undefined ? undefined : 'text' in given ? parsePolicy(given.text, given.path) : given;
  return { policy, ruleSetFor, ruleSetOf, evaluateRuleSet, ...rules };
}
