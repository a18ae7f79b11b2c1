/**
 * Every error krill raises on purpose. Each class has a stable `code` (for --json output and
 * scripts); the CLI maps codes to exit statuses (cli/main.ts) and one stderr line without a stack trace.
 * `cause` is always kept so --verbose can show the chain.
 */

export type ErrorCode =
  | 'USAGE'
  | 'NETWORK'
  | 'TLS'
  | 'AUTH'
  | 'NOT_FOUND'
  | 'REGISTRY'
  | 'INVALID_RESPONSE'
  | 'UNSUPPORTED'
  | 'REFUSED'
  | 'JOURNAL'
  | 'ENGINE'
  | 'LIVE_SET'
  | 'LISTING_SUSPECT'
  | 'LEDGER'
  | 'ABORTED';

export class KrillError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad flags, references, regexes, files: exit 2, and nothing was sent. */
export class UsageError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('USAGE', message, options);
  }
}

/** Connection refused, reset, DNS failure, timeout. */
export class NetworkError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('NETWORK', message, options);
  }
}

/** Certificate problems. Never a reason to fall back to plain HTTP. */
export class TlsError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('TLS', message, options);
  }
}

/** Wrong credentials, refused scope, token server failure. */
export class AuthError extends KrillError {
  /** The registry wants credentials and none were found for it (the CLI says how to give them). */
  readonly credentialsMissing: boolean;
  /** The registry host, for such a hint. */
  readonly registry: string | undefined;

  constructor(message: string, options: { cause?: unknown; credentialsMissing?: boolean; registry?: string } = {}) {
    super('AUTH', message, options);
    this.credentialsMissing = options.credentialsMissing === true;
    this.registry = options.registry;
  }
}

export class AbortedError extends KrillError {
  constructor(message = 'interrupted', options: { cause?: unknown } = {}) {
    super('ABORTED', message, options);
  }
}

/** Something that does not exist: a repository, a tag, a manifest, a platform. */
export class NotFoundError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('NOT_FOUND', message, options);
  }
}

/** The registry (or the manifest type) does not support the operation; retrying will not help. */
export class UnsupportedError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('UNSUPPORTED', message, options);
  }
}

/** krill refuses to do something unsafe that was asked for (e.g. breaking an index). */
export class RefusedError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('REFUSED', message, options);
  }
}

/**
 * A run that skipped repositories because their tag listing looks wrong (plan/listing.ts): the rest
 * was done, but a scheduled job must not pass green while it deletes nothing there. Exit 3.
 */
export class ListingSuspectError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('LISTING_SUSPECT', message, options);
  }
}

/** The undo journal could not be written: nothing more may be deleted. */
export class JournalError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('JOURNAL', message, options);
  }
}

/** The ledger (pull and push history) could not be opened, read or written. */
export class LedgerError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('LEDGER', message, options);
  }
}

/** The local Docker engine (or podman's API) refused or failed an operation. */
export class EngineError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ENGINE', message, options);
  }
}

/** One entry of the distribution spec's error body: {"errors":[{"code","message","detail"}]}. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/** Statuses worth another try: timeouts, rate limits, and server or gateway hiccups. */
export const TEMPORARY_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

/** A live-set source (a file, a Kubernetes context) could not be read: nothing is deleted on half a view. */
export class LiveSetError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('LIVE_SET', message, options);
  }
}

/**
 * A registry answered with an error status. `errors` holds the parsed spec error body, if any;
 * `method` and `url` (redacted: no credentials, no signed parameters) name the request.
 */
export class RegistryError extends KrillError {
  readonly status: number;
  readonly errors: RegistryErrorEntry[];
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** Whether the same request may succeed later (429, 5xx, 408). */
  readonly temporary: boolean;

  constructor(
    message: string,
    options: {
      status: number;
      errors?: RegistryErrorEntry[];
      cause?: unknown;
      code?: ErrorCode;
      method?: string;
      url?: string;
    },
  ) {
    super(options.code ?? (options.status === 404 ? 'NOT_FOUND' : 'REGISTRY'), message, options);
    this.status = options.status;
    this.errors = options.errors ?? [];
    this.method = options.method;
    this.url = options.url;
    this.temporary = TEMPORARY_STATUS.has(options.status);
  }

  hasCode(code: string): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

/** The registry answered something that is not what the protocol promises (bad JSON, wrong digest). */
export class InvalidResponseError extends KrillError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('INVALID_RESPONSE', message, options);
  }
}

/**
 * Parses a distribution error body. Proxies answer HTML and Docker Hub's 429 is plain text,
 * so anything that is not the spec's shape yields an empty list rather than an exception.
 */
export function parseRegistryErrors(body: string): RegistryErrorEntry[] {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null) return [];
    const list = (parsed as { errors?: unknown }).errors;
    if (!Array.isArray(list)) return [];
    return list
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({
        code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
        message: typeof e.message === 'string' ? e.message : '',
        ...(e.detail === undefined ? {} : { detail: e.detail }),
      }));
  } catch {
    return [];
  }
}

/**
 * The one answer to "may this work if tried again?": network failures and temporary registry
 * statuses. Used by the transport's retries and by copy's blob restarts.
 */
export function isTemporary(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof RegistryError && error.temporary);
}

/** A registry or krill "not found" (repository, tag, manifest): callers that treat absence as an answer. */
export function isNotFound(error: unknown): boolean {
  return error instanceof KrillError && error.code === 'NOT_FOUND';
}

/** The result, or undefined when the registry answered 404 (anything else still throws). */
export async function unlessNotFound<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export function isAbortError(error: unknown): boolean {
  return (
    error instanceof AbortedError ||
    (error instanceof Error && (error.name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR'))
  );
}
