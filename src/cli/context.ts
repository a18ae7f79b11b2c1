import { readFileSync } from 'node:fs';
import { resolveCredentials } from '../auth/credentials.js';
import { UsageError } from '../errors.js';
import { escapeControl } from '../text.js';
import type { TlsOptions } from '../http/transport.js';
import { Transport, proxyFromEnv } from '../http/transport.js';
import type { Logger } from '../logger.js';
import type { Reference, RegistryAddress } from '../ref/reference.js';
import { isLoopbackHost, parseReference, parseRegistryAddress, parseRepositoryReference } from '../ref/reference.js';
import { RegistryClient } from '../registry/client.js';
import { ContentCache, defaultCacheDir } from '../registry/content-cache.js';
import type { SyncSpec } from '../sync/spec.js';
import { parseSyncSpec } from '../sync/spec.js';

/** Credentials given for one side of a copy (--src-username, --dest-username). */
export interface Login {
  username?: string | undefined;
  password?: string | undefined;
}

/** Options shared by every command (declared once in main.ts). */
export interface GlobalOptions {
  registry?: string;
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  caCert?: string;
  clientCert?: string;
  clientKey?: string;
  insecure?: boolean;
  plainHttp?: boolean;
  concurrency: number;
  timeout: number;
  json?: boolean;
  verbose?: boolean;
  color: boolean;
  cache: boolean;
}

export interface Io {
  out(text: string | Uint8Array): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** Asks a question on the terminal and returns the answer line. */
  prompt(question: string): Promise<string>;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
  stdinIsTty: boolean;
  env: NodeJS.ProcessEnv;
}

/** Env vars naming the default registry, ours first, then Plankton's and docker-registry-util's. */
const REGISTRY_ENV = ['KRILL_REGISTRY', 'REGISTRY_CLI_HOSTNAME', 'REGISTRY'];

/** A PEM file for TLS: unreadable or not PEM is a usage error naming the file (no request sent). */
function readTlsFile(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined) return undefined;
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check the path`, { cause: error });
  }
  if (!/-----BEGIN [A-Z0-9 ]+-----/.test(bytes.toString('latin1'))) {
    throw new UsageError(`${flag} ${path} is not a PEM file (no "-----BEGIN" line); convert it with openssl, e.g. openssl x509 -inform der -in FILE -out FILE.pem`);
  }
  return bytes;
}

/**
 * Everything a command needs to reach registries, built from the global options. All local input
 * (files, flags, references) is validated here or by the caller before the first request.
 */
export class CliContext {
  readonly logger: Logger;
  /** Terminal styling; identity functions when colors are off or stdout is not a terminal. */
  readonly style: { header: (text: string) => string };
  readonly #transport: Transport;
  readonly #clients = new Map<string, Promise<RegistryClient>>();
  readonly #cache: ContentCache | undefined;
  #password: string | undefined;

  constructor(
    readonly options: GlobalOptions,
    readonly io: Io,
    readonly signal: AbortSignal,
    /** Set `graceful` to handle the first Ctrl-C yourself (see main.ts). */
    readonly interruption: { graceful?: (() => void) | undefined } = {},
  ) {
    this.logger = {
      debugEnabled: options.verbose === true,
      debug: (message) => {
        if (options.verbose) io.err(`krill: ${escapeControl(message)}\n`);
      },
      warn: (message) => io.err(`krill: warning: ${escapeControl(message)}\n`),
    };
    const color = options.color && io.stdoutIsTty && !io.env.NO_COLOR;
    this.style = { header: color ? (text) => `\x1b[1m${text}\x1b[0m` : (text) => text };
    if (options.clientCert !== undefined && options.clientKey === undefined) throw new UsageError('--client-cert needs --client-key with the matching private key');
    if (options.clientKey !== undefined && options.clientCert === undefined) throw new UsageError('--client-key needs --client-cert with the matching certificate');
    if (options.password !== undefined && options.passwordStdin) throw new UsageError('use either --password or --password-stdin, not both');
    if ((options.password !== undefined || options.passwordStdin) && options.username === undefined) {
      throw new UsageError('a password was given without --username: add --username USER');
    }
    const tls: TlsOptions = {};
    const ca = readTlsFile(options.caCert, '--ca-cert');
    const cert = readTlsFile(options.clientCert, '--client-cert');
    const key = readTlsFile(options.clientKey, '--client-key');
    if (ca) tls.ca = ca;
    if (cert) tls.cert = cert;
    if (key) tls.key = key;
    if (options.insecure) {
      tls.insecure = true;
      this.logger.warn('--insecure: TLS certificates are not verified; anyone on the network path can read and alter this traffic');
    }
    if (options.password !== undefined) {
      this.logger.warn('--password on the command line is visible in shell history and process lists; prefer --password-stdin');
    }
    this.#password = options.password;
    this.#cache = options.cache ? new ContentCache(defaultCacheDir(io.env)) : undefined;
    this.#transport = new Transport({
      concurrency: options.concurrency,
      timeoutMs: options.timeout,
      tls,
      logger: this.logger,
      signal,
      userAgent: 'krill',
      proxy: proxyFromEnv(io.env),
    });
  }

  /** --registry, else the environment; undefined means Docker Hub. */
  defaultRegistry(): RegistryAddress | undefined {
    const plainHttp = this.options.plainHttp ?? false;
    if (this.options.registry !== undefined) return parseRegistryAddress(this.options.registry, { plainHttp });
    for (const name of REGISTRY_ENV) {
      const value = this.io.env[name];
      if (value) return parseRegistryAddress(value, { plainHttp });
    }
    return undefined;
  }

  parseReference(input: string): Reference {
    return parseReference(input, this.defaultRegistry(), { plainHttp: this.options.plainHttp ?? false });
  }

  parseRepository(input: string): Reference {
    return parseRepositoryReference(input, this.defaultRegistry(), { plainHttp: this.options.plainHttp ?? false });
  }

  /** A lstags spec, short ones resolved against the default registry like any reference. */
  parseSpec(input: string): SyncSpec {
    const defaultRegistry = this.defaultRegistry();
    return parseSyncSpec(input, { plainHttp: this.options.plainHttp ?? false, ...(defaultRegistry ? { defaultRegistry } : {}) });
  }

  /** The one registry that -u/--password and the KRILL_* credential variables belong to. */
  #credentialTarget: string | undefined;

  /** Names the destination of a two-registry command before any client exists. */
  setDestination(address: RegistryAddress): void {
    this.#credentialTarget ??= this.options.registry !== undefined ? this.defaultRegistry()?.host : address.host;
  }

  /**
   * One client per registry host, role and credential override, sharing the connection pool.
   * `login` replaces the global credentials for this client (copy's --src-username, --dest-username).
   *
   * Credentials from flags and the environment go to ONE registry only: `--registry` if given, else
   * the first registry a command targets ('target' or 'destination' role). A 'source' (the other
   * side of copy, sync and compare --with) only gets its own --src-* flags or docker config, so a
   * password meant for the destination never reaches another host or its token realm.
   */
  client(address: RegistryAddress, options: { role?: 'target' | 'source' | 'destination'; login?: Login } = {}): Promise<RegistryClient> {
    const role = options.role ?? 'target';
    const key = `${address.host}|${role}|${options.login?.username ?? ''}`;
    let pending = this.#clients.get(key);
    if (!pending) {
      pending = this.#createClient(address, role, options.login);
      this.#clients.set(key, pending);
    }
    return pending;
  }

  /** Credentials for a registry, by the documented precedence (flags, env, docker config). */
  async credentials(address: RegistryAddress, role: 'target' | 'source' | 'destination' = 'target', login?: Login) {
    if (this.options.passwordStdin && this.#password === undefined) {
      this.#password = (await this.io.readStdin()).replace(/\r?\n$/, '');
      if (this.#password === '') throw new UsageError('--password-stdin read an empty password: pipe the password into krill');
    }
    const override = login?.username !== undefined || login?.password !== undefined;
    if (override) return resolveCredentials(address.host, { username: login?.username, password: login?.password, env: this.io.env });
    if (role !== 'source') {
      this.#credentialTarget ??= this.options.registry !== undefined ? this.defaultRegistry()?.host : address.host;
    }
    // A source on the destination's own registry (copy between two repositories) is that registry.
    if (this.#credentialTarget !== address.host) {
      if (this.options.username !== undefined) this.logger.debug(`not sending --username credentials to ${address.host}: they belong to ${this.#credentialTarget ?? 'the destination'}`);
      return resolveCredentials(address.host, { env: this.io.env, ignoreEnvCredentials: true });
    }
    return resolveCredentials(address.host, { username: this.options.username, password: this.#password, env: this.io.env });
  }

  async #createClient(address: RegistryAddress, role: 'target' | 'source' | 'destination', login?: Login): Promise<RegistryClient> {
    const credentials = await this.credentials(address, role, login);
    if (credentials && address.scheme === 'http' && !isLoopbackHost(address.host)) {
      this.logger.warn(`credentials for ${address.host} will be sent over plain HTTP, unencrypted`);
    }
    return new RegistryClient({ address, transport: this.#transport, credentials, cache: this.#cache });
  }

  async close(): Promise<void> {
    this.#cache?.flush();
    this.#cache?.close();
    await this.#transport.close();
  }
}
