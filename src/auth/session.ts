import { AbortedError, AuthError, InvalidResponseError } from '../errors.js';
import { callSignal } from '../http/call-scope.js';
import type { Transport } from '../http/transport.js';
import { isLoopbackHost } from '../ref/reference.js';
import type { Challenge } from './challenge.js';
import { parseChallenges } from './challenge.js';
import type { Credentials } from './credentials.js';

/**
 * Authorization for one registry: remembers the challenge from `GET /v2/`, fetches bearer tokens
 * (docs.docker.com/registry/spec/auth/token) and caches them per realm/service/scope until shortly
 * before `expires_in`, so a run of a thousand requests pays one token round trip per scope,
 * not one 401 per request. Concurrent callers share one in-flight token request.
 */

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** A token expiring within this margin is renewed before use (clock skew, slow requests). */
const EXPIRY_MARGIN_MS = 10_000;
/** The token spec's default lifetime when `expires_in` is absent. */
const DEFAULT_EXPIRES_IN_S = 60;

export function describeScope(scope: string): string {
  const [type, name, actions] = scope.split(' ')[0]!.split(':');
  if (type === 'registry' && name === 'catalog') return 'listing the catalog';
  return `${actions ?? 'access'} on ${type ?? 'resource'} ${name ?? ''}`.trim();
}

export class AuthSession {
  #challenge: Challenge | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();
  readonly #transport: Transport;
  readonly #registry: string;
  readonly #credentials: Credentials | undefined;
  readonly #plainHttpAllowed: boolean;

  constructor(
    transport: Transport,
    registry: string,
    credentials: Credentials | undefined,
    /** Plain HTTP was asked for (--plain-http, http://): a plain-HTTP token realm is acceptable. */
    plainHttpAllowed = false,
  ) {
    this.#transport = transport;
    this.#registry = registry;
    this.#credentials = credentials;
    this.#plainHttpAllowed = plainHttpAllowed;
  }

  /** Credentials were found for this registry (even unusable ones: their error must surface). */
  get hasCredentials(): boolean {
    return this.#credentials !== undefined;
  }

  get who(): string {
    return this.#credentials && !this.#credentials.unusable
      ? `the credentials from ${this.#credentials.source}`
      : 'anonymous access';
  }

  /** The token realm the registry named, if any (tells GitLab and Harbor apart from plain distribution). */
  get realm(): string | undefined {
    return this.#challenge?.params.realm;
  }

  /** Records the challenge of a 401 answer. Returns false when it names no scheme we support. */
  setChallenge(header: string | undefined): boolean {
    const challenges = parseChallenges(header ?? '');
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!chosen) return false;
    this.#challenge = chosen;
    return true;
  }

  /** The Authorization header for a request needing `scope`, or undefined when none is needed. */
  async authorization(scope: string): Promise<string | undefined> {
    const challenge = this.#challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      if (this.#credentials?.unusable) throw this.#credentials.unusable;
      if (!this.#credentials || this.#credentials.identityToken) {
        throw new AuthError(`${this.#registry} requires a username and password`, {
          credentialsMissing: true,
          registry: this.#registry,
        });
      }
      return `Basic ${Buffer.from(`${this.#credentials.username}:${this.#credentials.password}`).toString('base64')}`;
    }
    const token = await this.#token(challenge, scope);
    return `Bearer ${token.token}`;
  }

  /**
   * Called when a request got 401: takes the new challenge and returns a header worth one retry
   * (a token may have been revoked early, or the first request went out unauthenticated).
   * The caller retries once and calls `refused` if that fails too.
   */
  async retryAuthorization(
    wwwAuthenticate: string | undefined,
    scope: string,
    sentHeader: string | undefined,
  ): Promise<string> {
    if (!this.setChallenge(wwwAuthenticate)) {
      throw new AuthError(
        `${this.#registry} refused ${describeScope(scope)} and sent no usable authentication challenge`,
      );
    }
    const challenge = this.#challenge!;
    if (sentHeader !== undefined && (challenge.scheme === 'basic' || challenge.params.error === 'insufficient_scope')) {
      throw this.refused(scope);
    }
    this.#tokens.delete(this.#key(challenge, scope));
    const header = await this.authorization(scope);
    if (header === undefined) throw this.refused(scope);
    return header;
  }

  refused(scope: string): AuthError {
    if (this.#challenge?.scheme === 'basic') {
      return new AuthError(`${this.#registry} rejected ${this.who}: check the username and password`);
    }
    return new AuthError(
      `${this.#registry} refused ${describeScope(scope)} for ${this.who}: check that the account has this permission`,
    );
  }

  #key(challenge: Challenge, scope: string): string {
    return `${challenge.params.realm ?? ''}|${challenge.params.service ?? ''}|${scope}`;
  }

  async #token(challenge: Challenge, scope: string, attempt = 1): Promise<CachedToken> {
    const key = this.#key(challenge, scope);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#fetchToken(challenge, scope).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    let token: CachedToken;
    try {
      token = await pending;
    } catch (error) {
      // Another call's signal stopped the fetch this one was sharing: fetch again (once).
      if (error instanceof AbortedError && attempt === 1 && !callSignal()?.aborted)
        return this.#token(challenge, scope, 2);
      throw error;
    }
    this.#tokens.set(key, token);
    return token;
  }

  async #fetchToken(challenge: Challenge, scope: string): Promise<CachedToken> {
    const url = this.#realmUrl(challenge);
    const started = Date.now();
    // A docker config that could not be read: ask anonymously; its error explains a refusal.
    const creds = this.#credentials?.unusable ? undefined : this.#credentials;
    const response = await this.#requestToken(url, challenge.params.service, scope, creds);
    if (response.status === 401 || response.status === 403) {
      if (this.#credentials?.unusable) throw this.#credentials.unusable;
      if (!creds) {
        throw new AuthError(`${this.#registry} requires authentication for ${describeScope(scope)}`, {
          credentialsMissing: true,
          registry: this.#registry,
        });
      }
      throw new AuthError(
        `the token server of ${this.#registry} (${url.host}) rejected ${this.who} (HTTP ${response.status}): check the username and password`,
      );
    }
    if (response.status !== 200) {
      throw new AuthError(
        `the token server of ${this.#registry} (${url.host}) answered HTTP ${response.status} for ${describeScope(scope)}: check the registry's auth configuration or try again later`,
      );
    }
    return this.#parseToken(response.body, url, started);
  }

  /**
   * The challenge's realm, checked: a hostile or misconfigured registry must not make krill send
   * credentials in clear text, or silently to a third host (an http realm is refused unless plain
   * HTTP was asked for, loopback aside).
   */
  #realmUrl(challenge: Challenge): URL {
    const realm = challenge.params.realm;
    if (!realm)
      throw new AuthError(
        `${this.#registry} sent a Bearer challenge without a realm: the registry's auth.token configuration is incomplete`,
      );
    let url: URL;
    try {
      url = new URL(realm);
    } catch (cause) {
      throw new AuthError(`${this.#registry} sent an invalid token realm "${realm}"`, { cause });
    }
    const plainAllowed = url.protocol === 'http:' && (this.#plainHttpAllowed || isLoopbackHost(url.host));
    if (url.protocol !== 'https:' && !plainAllowed) {
      throw new AuthError(
        `${this.#registry} sent a token realm on plain HTTP (${url.protocol}//${url.host}); refusing to send credentials unencrypted (use --plain-http only if you trust the network)`,
      );
    }
    if (url.host !== this.#registry && this.#credentials) {
      this.#transport.logger.debug(
        `${this.#registry}: the token realm is on another host, ${url.host}; credentials go there`,
      );
    }
    return url;
  }

  /** The token request: an OAuth2 refresh-token grant for identity tokens, else GET with basic auth. */
  #requestToken(url: URL, service: string | undefined, scope: string, creds: Credentials | undefined) {
    if (creds?.identityToken) {
      // As docker does for identity tokens (docker login with SSO).
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'krill',
        scope,
      });
      if (service) form.set('service', service);
      return this.#transport.send({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        maxBodyBytes: 1024 * 1024,
      });
    }
    if (service) url.searchParams.set('service', service);
    // Several scopes (a cross-repository mount needs push on one and pull on the other) are
    // separate `scope` parameters, as the token spec allows; none for a login check.
    for (const one of scope.split(' ')) if (one !== '') url.searchParams.append('scope', one);
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    return this.#transport.send({ method: 'GET', url, headers, maxBodyBytes: 1024 * 1024 });
  }

  /** `token` (or `access_token`) and `expires_in` from the token server's JSON. */
  #parseToken(bytes: Buffer, url: URL, started: number): CachedToken {
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown } | null;
    try {
      body = JSON.parse(bytes.toString('utf8')) as typeof body;
    } catch {
      // No cause: JSON.parse's message quotes the body, and a token server's body is a secret (a
      // bare token) or a login page; neither belongs in a message, also not under --verbose.
      body = null;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new InvalidResponseError(
        `the token server of ${this.#registry} (${url.host}) answered something that is not a JSON object`,
      );
    const token =
      typeof body.token === 'string' && body.token
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : '';
    if (!token)
      throw new InvalidResponseError(`the token server of ${this.#registry} (${url.host}) answered without a token`);
    const expiresIn =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_EXPIRES_IN_S;
    return { token, expiresAt: started + expiresIn * 1000 };
  }
}
