import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  AbortedError,
  InvalidResponseError,
  KrillError,
  NetworkError,
  TEMPORARY_STATUS,
  TlsError,
  isAbortError,
} from '../errors.js';
import type { Logger } from '../logger.js';
import { callSignal } from './call-scope.js';
import { silentLogger } from '../logger.js';
import { DEFAULT_CONCURRENCY, Limiter } from './limiter.js';
import { DEFAULT_PULL_RESERVE, PullBudget } from './pull-budget.js';
import { errorCode, isCertificateError, parseRetryAfter } from './classify.js';
import { redactUrl } from './redact.js';

/**
 * The one place that talks HTTP: a shared keep-alive pool (undici Agent), a bound on requests in
 * flight, retries of what is safe to retry, TLS options, redirects handled by hand, body size
 * limits and the --verbose request log. Knows nothing about registries or auth.
 */

export interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Skip certificate verification (--insecure). */
  insecure?: boolean;
}

export interface TransportOptions {
  concurrency?: number;
  /** Per-request timeout for headers and for each gap in the body. */
  timeoutMs?: number;
  tls?: TlsOptions;
  logger?: Logger;
  signal?: AbortSignal;
  /** Attempts for idempotent requests (GET, HEAD, DELETE). */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, with jitter (default 250 ms). */
  retryDelayMs?: number;
  userAgent?: string;
  /** Docker Hub pulls kept in reserve before krill paces its manifest GETs (default 10). */
  pullReserve?: number;
  /**
   * Proxies, as in HTTPS_PROXY / HTTP_PROXY / NO_PROXY. Requests are tunnelled with CONNECT, so TLS
   * still runs end to end with the registry. Proxy URLs may hold credentials: never logged.
   */
  proxy?: { http?: string | undefined; https?: string | undefined; noProxy?: string | undefined } | undefined;
}

/** Proxy settings from the environment (either case, like curl and docker), or undefined. */
export function proxyFromEnv(env: NodeJS.ProcessEnv): TransportOptions['proxy'] {
  const http = env.http_proxy ?? env.HTTP_PROXY;
  const https = env.https_proxy ?? env.HTTPS_PROXY;
  if (!http && !https) return undefined;
  return { http, https, noProxy: env.no_proxy ?? env.NO_PROXY ?? '' };
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  /** A stream body is never retried (it cannot be replayed). */
  body?: Buffer | string | Readable;
  /** Largest body accepted; bigger answers are an error (defence against hostile servers). */
  maxBodyBytes?: number;
  /**
   * Safe to send again after a lost answer even though the method is not idempotent by HTTP:
   * a manifest PUT of the same bytes, or opening a blob upload (a spare session just expires).
   */
  idempotent?: boolean;
  /**
   * Not aborted by the transport's signal (timeouts still apply): the steps of an untag, which must
   * all happen once the first has (see registry/untag.ts).
   */
  uninterruptible?: boolean;
}

export interface HttpResponse {
  status: number;
  url: URL;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

export interface StreamResponse {
  status: number;
  url: URL;
  headers: Record<string, string | undefined>;
  body: Readable;
}

const DEFAULT_MAX_BODY = 4 * 1024 * 1024;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'DELETE']);
const RETRY_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(headers))
    out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

/** undici is loaded on the first request, so bad input exits before it costs ~90 ms to import. */
let undici: Promise<typeof import('undici')> | undefined;

export class Transport {
  /** Creates the connection pool: on the first request only (see `undici` above). */
  readonly #createAgent: () => Promise<Dispatcher>;
  #agent: Promise<Dispatcher> | undefined;
  readonly #limiter: Limiter;
  readonly #logger: Logger;
  readonly #signal: AbortSignal | undefined;
  readonly #maxAttempts: number;
  readonly #retryDelayMs: number;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  /** Keep a connection after a HEAD (see #dispatch). */
  readonly #reuseAfterHead: boolean;
  /** Origins that answered at least once in this run. */
  readonly #reached = new Set<string>();
  /** Docker Hub's pull limit, read from every answer (pull-budget.ts). */
  readonly pulls: PullBudget;

  constructor(options: TransportOptions = {}) {
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const timeout = options.timeoutMs ?? 60_000;
    const tls = {
      rejectUnauthorized: !options.tls?.insecure,
      ...(options.tls?.ca ? { ca: options.tls.ca } : {}),
      ...(options.tls?.cert ? { cert: options.tls.cert } : {}),
      ...(options.tls?.key ? { key: options.tls.key } : {}),
    };
    // No cap on connections per origin: the limiter alone bounds requests in flight. A blob stream
    // keeps its connection after its slot is released (the upload that reads it needs a slot of
    // its own); with a cap equal to the limiter's, a request holding the last slot waited for that
    // connection while the upload waited for the slot, and `--concurrency 1` hung for ever.
    const pool = {
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: { timeout: Math.min(timeout, 30_000), ...tls },
    };
    const proxy = options.proxy;
    this.#reuseAfterHead = !proxy;
    this.#createAgent = async () => {
      const { Agent, EnvHttpProxyAgent } = await (undici ??= import('undici'));
      if (!proxy) return new Agent(pool);
      return new EnvHttpProxyAgent({
        ...pool,
        // TLS to the registry inside the CONNECT tunnel uses the same CA and client certificate.
        requestTls: tls,
        ...(proxy.http ? { httpProxy: proxy.http } : {}),
        ...(proxy.https ? { httpsProxy: proxy.https } : {}),
        noProxy: proxy.noProxy ?? '',
      });
    };
    this.#limiter = new Limiter(concurrency);
    this.#logger = options.logger ?? silentLogger;
    this.#signal = options.signal;
    // Every in-flight request listens on the signal; more than 10 at once is expected, not a leak.
    if (options.signal) setMaxListeners(0, options.signal);
    this.#maxAttempts = options.maxAttempts ?? 6;
    this.#retryDelayMs = options.retryDelayMs ?? 250;
    this.#userAgent = options.userAgent ?? 'krill';
    this.#timeoutMs = timeout;
    this.pulls = new PullBudget(options.pullReserve ?? DEFAULT_PULL_RESERVE, this.#logger);
  }

  get logger(): Logger {
    return this.#logger;
  }

  /**
   * Sends a request and buffers the body (up to maxBodyBytes). `--timeout` bounds the whole of it,
   * headers and body: a server that drips a byte now and then must not hold krill for hours.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    return this.#withRetries(req, async () => {
      // One controller per attempt, aborted by the deadline or by the run's signal. Not
      // AbortSignal.any/timeout: on Node 20 every composite stays attached to the long-lived run
      // signal, which cost 25% time and 50 MiB on a 20,000-request cleanup.
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.#timeoutMs);
      const active = this.#activeSignal(req);
      const onAbort = () => controller.abort();
      active?.addEventListener('abort', onAbort, { once: true });
      try {
        const res = await this.#dispatch(req, controller.signal);
        const body = await readBody(res.body, req.maxBodyBytes ?? DEFAULT_MAX_BODY, req);
        return { status: res.status, url: res.url, headers: res.headers, body };
      } catch (error) {
        if (timedOut && !active?.aborted) {
          throw new NetworkError(
            `${req.method} ${redactUrl(req.url)}: no complete answer within ${this.#timeoutMs} ms (the timeout)`,
            { cause: error },
          );
        }
        throw error;
      } finally {
        clearTimeout(timer);
        active?.removeEventListener('abort', onAbort);
      }
    });
  }

  /** Sends a request and hands back the body as a stream (blobs). The caller must consume or destroy it. */
  async stream(req: HttpRequest): Promise<StreamResponse> {
    return this.#withRetries(req, () => this.#dispatch(req));
  }

  async close(): Promise<void> {
    if (this.#agent) await (await this.#agent).close();
  }

  async #withRetries<T extends { status: number; headers: Record<string, string | undefined> }>(
    req: HttpRequest,
    attempt: () => Promise<T>,
  ): Promise<T> {
    const replayable = req.body === undefined || typeof req.body === 'string' || Buffer.isBuffer(req.body);
    const retryable = (IDEMPOTENT.has(req.method) || req.idempotent === true) && replayable;
    for (let n = 1; ; n++) {
      this.#throwIfAborted(req);
      let result: T;
      try {
        // The pull-limit check runs in the request's slot: requests queued before the limit was
        // known must not all go at once when their turn comes.
        result = await this.#limiter.run(async () => {
          await this.pulls.beforeRequest(req.method, req.url, this.#activeSignal(req));
          return attempt();
        });
        this.pulls.observe(req.url, result.headers);
      } catch (error) {
        if (isAbortError(error) || this.#activeSignal(req)?.aborted)
          throw new AbortedError('interrupted', { cause: error });
        const code = errorCode(error);
        // A refused connection to a host never reached in this run is almost always a typo or a
        // registry that is not running: say so at once instead of after seconds of backoff.
        const firstContact = code === 'ECONNREFUSED' && !this.#reached.has(req.url.origin);
        if (
          retryable &&
          !firstContact &&
          n < this.#maxAttempts &&
          code !== undefined &&
          RETRY_NETWORK_CODES.has(code)
        ) {
          await this.#backoff(req, n, undefined, `${req.method} ${redactUrl(req.url)} failed (${code})`);
          continue;
        }
        throw toNetworkError(error, req);
      }
      if (result.status === 429) this.#slowDown();
      else if (result.status < 400) this.#speedUp();
      if (retryable && n < this.#maxAttempts && TEMPORARY_STATUS.has(result.status)) {
        const body = (result as { body?: unknown }).body;
        if (body && typeof (body as Readable).destroy === 'function') discard(body as Readable);
        await this.#backoff(
          req,
          n,
          parseRetryAfter(result.headers['retry-after']),
          `${req.method} ${redactUrl(req.url)} answered ${result.status}`,
        );
        continue;
      }
      return result;
    }
  }

  #successes = 0;

  /** A 429 halves the requests in flight; every 20 answers without one win a slot back. */
  #slowDown(): void {
    this.#successes = 0;
    if (this.#limiter.limit > 1) {
      this.#limiter.setLimit(this.#limiter.limit / 2);
      if (this.#logger.debugEnabled) this.#logger.debug(`rate limited: lowering concurrency to ${this.#limiter.limit}`);
    }
  }

  #speedUp(): void {
    if (this.#limiter.limit >= this.#limiter.max || ++this.#successes < 20) return;
    this.#successes = 0;
    this.#limiter.setLimit(this.#limiter.limit + 1);
  }

  async #backoff(req: HttpRequest, attempt: number, retryAfterMs: number | undefined, why: string): Promise<void> {
    const exponential = this.#retryDelayMs * 2 ** (attempt - 1);
    const delay = Math.min(retryAfterMs ?? exponential * (0.5 + Math.random()), 60_000);
    this.#logger.debug(`${why}; retrying in ${Math.round(delay)} ms`);
    try {
      const signal = this.#activeSignal(req);
      await sleep(delay, undefined, signal ? { signal } : undefined);
    } catch (error) {
      throw new AbortedError('interrupted', { cause: error });
    }
  }

  #throwIfAborted(req: HttpRequest): void {
    if (this.#activeSignal(req)?.aborted) throw new AbortedError();
  }

  /** The abort signal for a request: none for an uninterruptible one. */
  #activeSignal(req: HttpRequest): AbortSignal | undefined {
    // The calling verb's signal (Krill's per-call option) already includes the run's.
    return req.uninterruptible === true ? undefined : (callSignal() ?? this.#signal);
  }

  /**
   * One request, following redirects by hand: registries redirect blob GETs to object storage.
   * Authorization is dropped when the redirect leaves the host, and https→http is refused.
   * `signal` replaces the run's signal (send() passes one that also carries the deadline).
   */
  async #dispatch(
    req: HttpRequest,
    signal: AbortSignal | undefined = this.#activeSignal(req),
  ): Promise<StreamResponse> {
    let url = req.url;
    let headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
    for (let hops = 0; ; hops++) {
      const started = this.#logger.debugEnabled ? performance.now() : 0;
      const { request } = await (undici ??= import('undici'));
      const res = await request(url, {
        method: req.method,
        headers,
        body: req.body ?? null,
        dispatcher: await (this.#agent ??= this.#createAgent()),
        ...(signal ? { signal } : {}),
        // undici closes the connection after every HEAD unless told otherwise (undici#258: servers
        // that send a body anyway). Registries do not (distribution, Harbor and GitLab answer HEAD
        // from Go's net/http, which never writes one), and a warm run is a HEAD per tag: a new TCP
        // (and TLS) connection each cost 31 connections for 32 requests. A server that sends one
        // anyway only garbles its own next answer on that connection (one origin per connection),
        // except through an HTTP proxy, where connections are shared: there HEADs close as before.
        ...(req.method === 'HEAD' && this.#reuseAfterHead ? { reset: false } : {}),
      });
      const flat = flattenHeaders(res.headers);
      if (this.#logger.debugEnabled)
        this.#logger.debug(
          `${req.method} ${redactUrl(url)} → ${res.statusCode} (${Math.round(performance.now() - started)} ms)`,
        );
      const location = flat.location;
      if (
        [301, 302, 303, 307, 308].includes(res.statusCode) &&
        location &&
        (req.method === 'GET' || req.method === 'HEAD')
      ) {
        discard(res.body);
        if (hops >= 5) throw new InvalidResponseError(`${req.method} ${redactUrl(req.url)}: too many redirects`);
        const target = new URL(location, url);
        if (url.protocol === 'https:' && target.protocol !== 'https:') {
          throw new InvalidResponseError(
            `${req.method} ${redactUrl(req.url)}: refusing redirect from https to ${target.protocol}//${target.host}`,
          );
        }
        if (target.host !== url.host) {
          headers = Object.fromEntries(
            Object.entries(headers).filter(([key]) => key.toLowerCase() !== 'authorization'),
          );
        }
        url = target;
        continue;
      }
      this.#reached.add(url.origin);
      return { status: res.statusCode, url, headers: flat, body: res.body };
    }
  }
}

/** Drops a response body we will not read. undici reports the abort as an 'error' event, which must have a listener. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

async function readBody(body: Readable, limit: number, req: HttpRequest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      discard(body);
      throw new InvalidResponseError(`${req.method} ${redactUrl(req.url)}: answer larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

function toNetworkError(error: unknown, req: HttpRequest): Error {
  if (error instanceof KrillError) return error;
  const code = errorCode(error) ?? 'unknown error';
  const where = `${req.url.protocol}//${req.url.host}`;
  if (isCertificateError(error)) {
    return new TlsError(`TLS certificate of ${where} was rejected (${code})`, { cause: error });
  }
  const detail = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host not found' : code;
  return new NetworkError(`cannot reach ${where} (${detail}): check the address and that the registry is running`, {
    cause: error,
  });
}
