import { Readable } from 'node:stream';
import type { Credentials } from '../auth/credentials.js';
import { AuthSession } from '../auth/session.js';
import {
  AbortedError,
  InvalidResponseError,
  NetworkError,
  RegistryError,
  parseRegistryErrors,
  TEMPORARY_STATUS,
} from '../errors.js';
import { callSignal } from '../http/call-scope.js';
import type { HttpRequest, HttpResponse, StreamResponse, Transport } from '../http/transport.js';
import { isNoTlsError } from '../http/classify.js';
import { redactUrl } from '../http/redact.js';
import { discard } from '../http/transport.js';
import { isDigest } from '../manifest/digest.js';
import type { Logger } from '../logger.js';
import type { RegistryAddress } from '../ref/reference.js';
import { apiHost, isValidRepository, isValidTag } from '../ref/reference.js';
import { escapeControl } from '../text.js';

/**
 * One registry's HTTP endpoint: the scheme (found once by `GET /v2/`), authorization (the auth
 * session answers challenges, distribution-spec "Authentication" and docker's token spec), and
 * registry errors mapped to messages that say what to do. RegistryClient speaks the API over it.
 */

/** Manifests above this are refused (distribution's own limit is 4 MiB: `manifests.maxsize`). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * `/v2/<repo>/manifests/<ref>` from validated parts only. Names reach here from users (validated
 * by the reference parser) and from registries (tag lists, index children, headers); a name with
 * path characters (`../`, `%2e%2e`, `\`) must never become a different URL on the registry.
 */
export function manifestPath(repository: string, reference: string): string {
  if (!isValidRepository(repository) || !(isValidTag(reference) || isDigest(reference))) {
    throw new InvalidResponseError(
      `refusing to send a request for the invalid name ${escapeControl(JSON.stringify(`${repository}:${reference}`).slice(0, 200))}`,
    );
  }
  return `/v2/${repository}/manifests/${reference}`;
}

export function blobPath(repository: string, digest: string): string {
  if (!isValidRepository(repository) || !isDigest(digest)) {
    throw new InvalidResponseError(
      `refusing to send a request for the invalid blob ${escapeControl(JSON.stringify(`${repository}@${digest}`).slice(0, 200))}`,
    );
  }
  return `/v2/${repository}/blobs/${digest}`;
}

export function repositoryPath(repository: string, rest: string): string {
  if (!isValidRepository(repository))
    throw new InvalidResponseError(
      `refusing to send a request for the invalid repository ${escapeControl(JSON.stringify(repository).slice(0, 200))}`,
    );
  return `/v2/${repository}/${rest}`;
}

export type Action = 'pull' | 'push' | 'delete';

export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Per-call request flags (see HttpRequest.uninterruptible). */
export interface RequestFlags {
  uninterruptible?: boolean;
}

export interface RequestOptions extends RequestFlags {
  method: HttpRequest['method'];
  /** Path under the base URL, or an absolute URL (pagination). */
  path: string | URL;
  scope: string;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
  maxBodyBytes?: number;
  /** Statuses the caller handles itself instead of getting a RegistryError. */
  accept?: number[];
  /** See HttpRequest.idempotent. */
  idempotent?: boolean;
}

export class RegistryEndpoint {
  readonly #transport: Transport;
  readonly #auth: AuthSession;
  #base: Promise<URL> | undefined;
  /** The registry answered a request (the auth challenge, if any, is known). */
  #answered = false;

  constructor(
    readonly address: RegistryAddress,
    transport: Transport,
    credentials: Credentials | undefined,
  ) {
    this.#transport = transport;
    this.#auth = new AuthSession(transport, address.host, credentials, address.scheme === 'http');
  }

  get host(): string {
    return this.address.host;
  }

  get logger(): Logger {
    return this.#transport.logger;
  }

  /** `GET /v2/`: finds the scheme (once) and learns the auth challenge before real requests. */
  async ping(): Promise<URL> {
    for (let attempt = 1; ; attempt++) {
      // An interrupted ping is forgotten, so the next call pings again.
      const base = (this.#base ??= this.#resolveBase().catch((error: unknown) => {
        if (error instanceof AbortedError) this.#base = undefined;
        throw error;
      }));
      try {
        return await base;
      } catch (error) {
        // Another call's signal stopped the ping this one was waiting for: ping again (once).
        if (error instanceof AbortedError && attempt === 1 && !callSignal()?.aborted) continue;
        throw error;
      }
    }
  }

  async #resolveBase(): Promise<URL> {
    const host = apiHost(this.address);
    const tryScheme = async (scheme: 'https' | 'http'): Promise<URL> => {
      const base = new URL(`${scheme}://${host}/`);
      const res = await this.#transport.send({ method: 'GET', url: new URL('/v2/', base), headers: {} });
      if (res.status === 401) this.#auth.setChallenge(res.headers['www-authenticate']);
      else if (res.status !== 200) {
        throw new RegistryError(
          `${this.host} does not look like a registry: GET ${base.origin}/v2/ answered HTTP ${res.status}`,
          { status: res.status, errors: parseRegistryErrors(res.body.toString('utf8')), code: 'REGISTRY' },
        );
      }
      return base;
    };
    if (this.address.scheme === 'https') {
      try {
        return await tryScheme('https');
      } catch (error) {
        // docker's "server gave HTTP response to HTTPS client", said with the way out.
        if (error instanceof NetworkError && isNoTlsError(error.cause)) {
          throw new NetworkError(
            `${this.host} answered plain HTTP on its HTTPS port: pass --plain-http or use http://${this.host}`,
            { cause: error },
          );
        }
        throw error;
      }
    }
    if (this.address.scheme !== 'auto') return tryScheme(this.address.scheme);
    try {
      return await tryScheme('https');
    } catch (error) {
      // Loopback only: a server that does not speak TLS at all gets plain HTTP. A certificate
      // error is a TLS server we do not trust, never a reason to drop encryption.
      if (error instanceof NetworkError && isNoTlsError(error.cause)) {
        this.#transport.logger.debug(`${host} does not speak TLS; using plain HTTP (loopback)`);
        return tryScheme('http');
      }
      throw error;
    }
  }

  async request(options: RequestOptions): Promise<HttpResponse> {
    return this.#authorized(options, (req) => this.#transport.send(req));
  }

  /** Like request, but the answer body is a stream (blobs); error answers are read and mapped. */
  async requestStream(options: RequestOptions): Promise<StreamResponse> {
    // An error answer comes back buffered (for #errorFor); #authorized throws before returning it.
    const res = await this.#authorized<StreamResponse | HttpResponse>(options, async (req) => {
      const res = await this.#transport.stream(req);
      if (res.status < 400 || res.status === 401 || options.accept?.includes(res.status)) return res;
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) if (chunks.push(chunk as Buffer) > 64) break;
      discard(res.body);
      return { ...res, body: Buffer.concat(chunks).subarray(0, 64 * 1024) };
    });
    return res as StreamResponse;
  }

  async #authorized<R extends { status: number; url: URL; headers: Record<string, string | undefined>; body: unknown }>(
    options: RequestOptions,
    send: (req: HttpRequest) => Promise<R>,
  ): Promise<R> {
    const replayable = !(options.body instanceof Readable);
    const base = await this.#baseFor(replayable);
    const url = options.path instanceof URL ? options.path : new URL(options.path, base);
    let authorization = await this.#auth.authorization(options.scope);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...options.headers };
      if (authorization) headers.authorization = authorization;
      const res = await send({
        method: options.method,
        url,
        headers,
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(options.idempotent ? { idempotent: true } : {}),
        ...(options.uninterruptible ? { uninterruptible: true } : {}),
        maxBodyBytes: options.maxBodyBytes ?? MAX_MANIFEST_BYTES,
      }).catch(async (error: unknown) => {
        // Unpinged, a host that is not a registry (or speaks plain HTTP on the HTTPS port) fails
        // here: the ping says so in words; when it passes, the failure was this request's own.
        if (this.#base === undefined && !(error instanceof AbortedError)) await this.ping();
        throw error;
      });
      this.#answered = true;
      if (res.status === 401) {
        if (res.body instanceof Readable) discard(res.body);
        if (attempt > 0 || !replayable) throw this.#auth.refused(options.scope);
        authorization = await this.#auth.retryAuthorization(
          res.headers['www-authenticate'],
          options.scope,
          authorization,
        );
        continue;
      }
      if (res.status >= 400 && !options.accept?.includes(res.status)) {
        if (this.#base === undefined) await this.ping(); // "does not look like a registry", as above
        throw this.#errorFor(options, url, res as unknown as HttpResponse);
      }
      return res;
    }
  }

  /**
   * The base URL of a request. An anonymous request to a registry whose scheme is known skips the
   * `GET /v2/` ping, as regclient does: a token registry's challenge arrives with the first 401
   * instead, and a warm sync that has nothing to do costs one request less per registry. The ping
   * stays where it earns its round trip: the scheme must be probed ('auto': loopback), credentials
   * must go out with the first request (a registry that answers an anonymous pull of a private
   * repository with 404, not 401, would never ask for them), and a streamed body cannot be re-sent
   * after a 401.
   */
  #baseFor(replayable: boolean): Promise<URL> {
    const { scheme } = this.address;
    if (this.#base !== undefined || scheme === 'auto' || this.#auth.hasCredentials || !(replayable || this.#answered))
      return this.ping();
    return Promise.resolve(new URL(`${scheme}://${apiHost(this.address)}/`));
  }

  #errorFor(options: RequestOptions, url: URL, res: HttpResponse): RegistryError {
    const errors = parseRegistryErrors(res.body.toString('utf8'));
    const first = errors[0];
    const what = first ? ` ${first.code}${first.message ? ` (${first.message})` : ''}` : '';
    let message = `${this.host}: ${options.method} ${url.pathname} answered HTTP ${res.status}${what}`;
    // The two "not found"s people meet first, in words (the request stays available with --verbose).
    const target = /^\/v2\/(.+)\/(manifests|tags)\/([^/]+)$/.exec(url.pathname);
    if (res.status === 404 && target && errors.some((e) => e.code === 'NAME_UNKNOWN')) {
      message = `repository ${target[1]} does not exist on ${this.host}`;
    } else if (res.status === 404 && target?.[2] === 'manifests' && errors.some((e) => e.code === 'MANIFEST_UNKNOWN')) {
      message = target[3]!.includes(':')
        ? `${target[1]} has no manifest ${target[3]}`
        : `${target[1]} has no tag ${target[3]}`;
    }
    if (res.status === 403)
      message += ` (check that the account has permission for ${options.scope.split(':').slice(1).join(' ')})`;
    if (res.status === 429) message += ' (rate limited: wait and try again, or log in for a higher limit)';
    if (TEMPORARY_STATUS.has(res.status)) message += '; gave up after retrying';
    return new RegistryError(message, { status: res.status, errors, method: options.method, url: redactUrl(url) });
  }

  /**
   * Which product serves this registry, where it matters to users (how garbage is collected): GitLab
   * hands out tokens at `/jwt/auth`, Harbor at `/service/token`. Known only after a request was
   * challenged; undefined for plain distribution and anonymous registries.
   */
  flavor(): 'gitlab' | 'harbor' | undefined {
    const realm = this.#auth.realm;
    if (realm === undefined) return undefined;
    const path = (() => {
      try {
        return new URL(realm).pathname;
      } catch {
        return '';
      }
    })();
    if (path.endsWith('/jwt/auth')) return 'gitlab';
    if (path.endsWith('/service/token')) return 'harbor';
    return undefined;
  }

  /**
   * What `docker login` checks: `GET /v2/` with the credentials (a token without any scope on token
   * registries). Throws an AuthError when the registry refuses them.
   */
  async checkCredentials(): Promise<void> {
    await this.request({ method: 'GET', path: '/v2/', scope: '' });
  }
}
