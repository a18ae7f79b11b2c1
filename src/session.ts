import { hasEnvPassword, resolveCredentials } from './auth/credentials.js';
import type { Credentials } from './auth/credentials.js';
import type { Shape } from './check-options.js';
import { SHAPES, checkOptions } from './check-options.js';
import { AbortedError, UsageError } from './errors.js';
import type { CallOptions } from './http/call-scope.js';
import {
  callSignal,
  runInCall,
  runInVerb,
  scopedLogger,
  setVerbDestination,
  verbDestination,
} from './http/call-scope.js';
import type { TlsOptions, TransportOptions } from './http/transport.js';
import { Transport, proxyFromEnv } from './http/transport.js';
import { DEFAULT_CONCURRENCY } from './http/limiter.js';
import type { PullAllowance } from './http/pull-budget.js';
import { DEFAULT_PULL_RESERVE } from './http/pull-budget.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { Reference, RegistryAddress } from './ref/reference.js';
import {
  DOCKER_HUB,
  isLoopbackHost,
  parseReference,
  parseRegistryAddress,
  parseRepositoryReference,
} from './ref/reference.js';
import type { ListLimits, RegistryClientOptions } from './registry/client.js';
import { LIST_LIMITS, RegistryClient } from './registry/client.js';
import { ContentCache, defaultCacheDir } from './registry/content-cache.js';
import { History, historyDir } from './state/history.js';
import type { LedgerSpec } from './ledger/open.js';
import { openLedger, parseLedgerSpec } from './ledger/open.js';
import type { LedgerStore } from './ledger/store.js';
import type { SyncSpec } from './sync/spec.js';
import { parseSyncSpec } from './sync/spec.js';

/**
 * What every verb shares: the environment, the connection pool, the digest cache, one registry
 * client per host and role, credential routing and reference parsing. The operation modules in
 * `ops/` take a session explicitly; `Krill` owns one (like go-containerregistry's options that
 * every crane verb takes, and regclient's RegClient that its per-resource files hang off).
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
  /**
   * Builds each registry client (default `new RegistryClient(options)`): tests and embedders hand
   * in their own, like go-containerregistry's `WithTransport`. Credentials are already routed.
   */
  clientFactory?: (options: RegistryClientOptions) => RegistryClient;
  /**
   * The ledger of pulls and pushes (`krill listen`): `sqlite:PATH` or a `postgres://` URL; else
   * KRILL_LEDGER; else a SQLite file in the state directory, used only by rules that need it.
   */
  ledger?: string | undefined;
}

/** Credentials given for one side of a copy (e.g. `--src-username`). */
export interface Login {
  username?: string | undefined;
  password?: string | undefined;
}

export type ClientRole = 'target' | 'source' | 'destination';

/** Per-call progress reporting. */
export interface ProgressOptions {
  /** `what` names the unit when a call counts more than one kind (e.g. "reading tags"). */
  onProgress?: (done: number, total: number, what?: string) => void;
}

/** Env vars naming the default registry, ours first, then Plankton's and docker-registry-util's. */
const REGISTRY_ENV = ['KRILL_REGISTRY', 'REGISTRY_CLI_HOSTNAME', 'REGISTRY'];

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

/** KRILL_PULL_RESERVE: Docker Hub pulls kept back before krill paces its manifest GETs. */
function pullReserveFrom(env: NodeJS.ProcessEnv): number {
  const value = env.KRILL_PULL_RESERVE;
  if (value === undefined || value === '') return DEFAULT_PULL_RESERVE;
  if (!/^\d{1,6}$/.test(value))
    throw new UsageError(`KRILL_PULL_RESERVE must be a whole number, not ${JSON.stringify(value.slice(0, 40))}`);
  return Number(value);
}

export class Session {
  readonly logger: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly #options: KrillOptions;
  readonly #transport: Transport;
  readonly #cache: ContentCache | undefined;
  readonly #clients = new Map<string, Promise<RegistryClient>>();
  #password: string | undefined;
  #ledger: Promise<LedgerStore> | undefined;

  constructor(options: KrillOptions = {}) {
    checkOptions(options, 'Krill options', SHAPES.krill);
    this.#options = options;
    this.env = options.env ?? process.env;
    // Per-call loggers (CallOptions) take over inside a call; this one elsewhere.
    this.logger = scopedLogger(options.logger ?? silentLogger);
    const cacheDir =
      options.cache === false
        ? undefined
        : typeof options.cache === 'string'
          ? options.cache
          : defaultCacheDir(this.env);
    this.#cache = cacheDir === undefined ? undefined : new ContentCache(cacheDir);
    const transport: TransportOptions = {
      concurrency: this.concurrency,
      timeoutMs: options.timeoutMs ?? 60_000,
      logger: this.logger,
      userAgent: 'krill',
      proxy: proxyFromEnv(this.env),
      pullReserve: pullReserveFrom(this.env),
    };
    if (options.tls) transport.tls = options.tls;
    if (options.signal) transport.signal = options.signal;
    const delay = options.retryDelayMs ?? Number(this.env.KRILL_RETRY_DELAY_MS ?? NaN);
    if (Number.isFinite(delay) && delay >= 0) transport.retryDelayMs = delay;
    this.#transport = new Transport(transport);
  }

  /** Runs a verb in its own call scope (http/call-scope.ts), after checking its options object (check-options.ts). */
  call<T>(verb: string, shape: Shape, call: CallOptions, work: () => Promise<T>): Promise<T> {
    try {
      checkOptions(call, `${verb} options`, shape);
    } catch (error) {
      return Promise.reject(error);
    }
    return runInVerb(() => runInCall(call, this.#options.signal, work));
  }

  /** The signal in force: the current call's (which includes the facade's), else the facade's. */
  signal(): AbortSignal | undefined {
    return callSignal() ?? this.#options.signal;
  }

  get concurrency(): number {
    return this.#options.concurrency ?? DEFAULT_CONCURRENCY;
  }

  /**
   * Repositories read at once. Most hold a few tags, read as a few requests one after another (tag
   * list, manifests, configs), so more repositories than connections keep the pool busy; the
   * transport's limiter still bounds requests in flight to `concurrency`.
   */
  get repositoryConcurrency(): number {
    return this.concurrency * 4;
  }

  /** Half the connections: for loops whose every item already runs `concurrency` requests. */
  get outerConcurrency(): number {
    return Math.max(1, Math.ceil(this.concurrency / 2));
  }

  get plainHttp(): boolean {
    return this.#options.plainHttp ?? false;
  }

  /**
   * The listing history and known digests of the state directory (state/history.ts). A new one per
   * call: it caches what it read for one run, and a long-lived session (serve, a daemon) must see
   * what other runs wrote since.
   */
  history(): History {
    return new History(historyDir(this.env));
  }

  /** What the registries' pull limits (Docker Hub's headers) left, per host seen in this session. */
  pullAllowances(): PullAllowance[] {
    return this.#transport.pulls.allowances();
  }

  /** Whether the user named a ledger (option or KRILL_LEDGER): reads then show ledger columns. */
  get ledgerConfigured(): boolean {
    return Boolean(this.#options.ledger ?? this.env.KRILL_LEDGER);
  }

  /** Where the ledger is (validated: a usage error before any request). */
  ledgerSpec(): LedgerSpec {
    return parseLedgerSpec(this.#options.ledger ?? this.env.KRILL_LEDGER, this.env);
  }

  /** The ledger, opened once per session (its driver loads only now). */
  ledger(): Promise<LedgerStore> {
    this.#ledger ??= openLedger(this.ledgerSpec());
    return this.#ledger;
  }

  // ── references ────────────────────────────────────────────────────────────────────────────

  /** `registry`, else the environment; undefined means Docker Hub. */
  defaultRegistry(): RegistryAddress | undefined {
    const plainHttp = this.plainHttp;
    if (this.#options.registry !== undefined) return parseRegistryAddress(this.#options.registry, { plainHttp });
    for (const name of REGISTRY_ENV) {
      const value = this.env[name];
      if (value) return parseRegistryAddress(value, { plainHttp });
    }
    return undefined;
  }

  parseRegistry(input: string): RegistryAddress {
    return parseRegistryAddress(input, { plainHttp: this.plainHttp });
  }

  /** With `shortDigest`, `REPO@sha256:3d76b2dbc77f` parses to a `digestPrefix` (see ops/read.ts resolveReference). */
  parseReference(input: string, options: { shortDigest?: boolean } = {}): Reference {
    return parseReference(input, this.defaultRegistry(), {
      plainHttp: this.plainHttp,
      shortDigest: options.shortDigest === true,
    });
  }

  parseRepository(input: string): Reference {
    return parseRepositoryReference(input, this.defaultRegistry(), { plainHttp: this.plainHttp });
  }

  /** A lstags spec, short ones resolved against the default registry like any reference. */
  parseSpec(input: string): SyncSpec {
    const defaultRegistry = this.defaultRegistry();
    return parseSyncSpec(input, { plainHttp: this.plainHttp, ...(defaultRegistry ? { defaultRegistry } : {}) });
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
      this.#options.registry !== undefined || REGISTRY_ENV.some((name) => this.env[name])
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
      const created = this.newClient(address, role, options.login);
      // An interrupted creation (a per-call signal) is forgotten: the next call creates it again.
      created.catch((error: unknown) => {
        if (error instanceof AbortedError && this.#clients.get(key) === created) this.#clients.delete(key);
      });
      this.#clients.set(key, (pending = created));
    }
    return pending;
  }

  /** A client outside the pool (`login` checks credentials it has not stored yet). */
  async newClient(address: RegistryAddress, role: ClientRole, login?: Login): Promise<RegistryClient> {
    const credentials = await this.credentials(address, role, login);
    if (credentials && !credentials.unusable && address.scheme === 'http' && !isLoopbackHost(address.host)) {
      this.logger.warn(`credentials for ${address.host} will be sent over plain HTTP, unencrypted`);
    }
    const options: RegistryClientOptions = {
      address,
      transport: this.#transport,
      credentials,
      cache: this.#cache,
      listLimits: listLimitsFrom(this.#options.listLimits, this.env),
    };
    return this.#options.clientFactory ? this.#options.clientFactory(options) : new RegistryClient(options);
  }

  /** Credentials for a registry, by the documented precedence (given, env, docker config). */
  async credentials(
    address: RegistryAddress,
    role: ClientRole = 'target',
    login?: Login,
  ): Promise<Credentials | undefined> {
    if (login?.username !== undefined || login?.password !== undefined) {
      return resolveCredentials(address.host, { username: login.username, password: login.password, env: this.env });
    }
    if (!this.ownsCredentials(address, role)) {
      if (this.#options.username !== undefined || hasEnvPassword(this.env))
        this.logger.debug(`not sending the given credentials to ${address.host}: they belong to another registry`);
      return resolveCredentials(address.host, { env: this.env, ignoreEnvCredentials: true });
    }
    return resolveCredentials(address.host, {
      username: this.#options.username,
      password: await this.password(),
      env: this.env,
    });
  }

  get username(): string | undefined {
    return this.#options.username;
  }

  /** The given password, asked for (the function called) once, when first needed. */
  async password(): Promise<string | undefined> {
    const given = this.#options.password;
    if (typeof given === 'function') this.#password ??= await given();
    else this.#password ??= given;
    return this.#password;
  }

  /** Flushes the cache and closes every connection. */
  async close(): Promise<void> {
    this.#cache?.flush();
    this.#cache?.close();
    if (this.#ledger) await (await this.#ledger.catch(() => undefined))?.close();
    await this.#transport.close();
  }
}
