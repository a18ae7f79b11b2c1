import { isIPv6 } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * Image references, parsed without any I/O. Grammar from distribution's `reference` package
 * (the same rules `docker pull` applies): the first path component is a host when it contains
 * a '.' or ':' or is 'localhost'.
 */

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API actually lives. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

export type Scheme = 'https' | 'http' | 'auto';

/** Where a registry is and how to talk to it. `auto` = HTTPS first, plain HTTP if the server has no TLS (loopback only). */
export interface RegistryAddress {
  /** Canonical host[:port]; Docker Hub aliases become `docker.io`. */
  host: string;
  scheme: Scheme;
}

export interface Reference {
  registry: RegistryAddress;
  repository: string;
  tag?: string;
  digest?: string;
  /** A short digest as the tables show it (`sha256:3d76b2dbc77f`): resolved against the tags (parse option). */
  digestPrefix?: string;
}

/** What a short digest copied from a table looks like: at least 7 hex characters. */
const SHORT_DIGEST_RE = /^sha256:[a-f0-9]{7,63}$/;

export function isLoopbackHost(host: string): boolean {
  const name = stripPort(host).replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** The host the HTTP requests go to (Docker Hub's API is not served on docker.io). */
export function apiHost(address: RegistryAddress): string {
  return address.host === DOCKER_HUB ? DOCKER_HUB_API_HOST : address.host;
}

const HOST_RE =
  /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::\d{1,5})?$/;

/** Ports above 65535 and malformed IPv6 literals pass the shape check; refuse them here. */
function checkHostParts(host: string, input: string): void {
  const bracket = host.startsWith('[') ? host.indexOf(']') : -1;
  if (bracket !== -1 && !isIPv6(host.slice(1, bracket))) {
    throw new UsageError(`invalid registry "${input}": ${host.slice(0, bracket + 1)} is not an IPv6 address`);
  }
  const port = /:(\d+)$/.exec(bracket === -1 ? host : host.slice(bracket + 1));
  if (port && (Number(port[1]) < 1 || Number(port[1]) > 65535)) {
    throw new UsageError(`invalid registry "${input}": port ${port[1]} is outside 1-65535`);
  }
}

/**
 * Parses `--registry`: `host[:port]` or a URL. `http://` asks for plain HTTP, `https://` forbids
 * the fallback; a bare host is HTTPS, except loopback where plain HTTP is tried when TLS is absent.
 */
export function parseRegistryAddress(input: string, options: { plainHttp?: boolean } = {}): RegistryAddress {
  const trimmed = input.trim();
  let scheme: Scheme | undefined;
  let rest = trimmed;
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(trimmed);
  if (match) {
    const proto = match[1]!.toLowerCase();
    if (proto !== 'http' && proto !== 'https') {
      throw new UsageError(`invalid registry "${input}": only http:// and https:// URLs are supported`);
    }
    scheme = proto;
    rest = trimmed.slice(match[0].length);
  }
  if (rest.includes('@')) {
    // Never echo the input: it holds a password.
    throw new UsageError(
      'invalid registry: credentials in the URL are not accepted; pass --username with --password-stdin instead',
    );
  }
  rest = rest.replace(/\/+$/, '');
  // A URL may carry the API path (https://host/v2/); anything else after the host is a mistake.
  rest = rest.replace(/\/v[12]$/, '');
  if (rest.includes('/') || !HOST_RE.test(rest)) {
    throw new UsageError(
      `invalid registry "${input}": expected host[:port] or a URL such as https://registry.example.com:5000`,
    );
  }
  checkHostParts(rest, input);
  const host = canonicalHost(rest);
  if (scheme === undefined) {
    if (options.plainHttp) scheme = 'http';
    else scheme = isLoopbackHost(host) ? 'auto' : 'https';
  }
  return { host, scheme };
}

/** Whether a name from the network is a tag by docker's grammar (nothing else becomes a URL). */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export function isValidRepository(repository: string): boolean {
  return repository.length <= 255 && REPOSITORY_RE.test(repository);
}

export function validateTag(tag: string): string {
  if (!TAG_RE.test(tag)) {
    throw new UsageError(
      `invalid tag "${tag}": a tag is 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'`,
    );
  }
  return tag;
}

export function validateDigest(digest: string): string {
  if (!DIGEST_RE.test(digest)) {
    throw new UsageError(`invalid digest "${digest}": expected sha256: followed by 64 lowercase hex characters`);
  }
  return digest;
}

export function validateRepository(repository: string, input = repository): string {
  if (repository.length > 255 || !REPOSITORY_RE.test(repository)) {
    const hint =
      repository !== repository.toLowerCase()
        ? 'repository names must be lowercase'
        : 'use lowercase letters, digits and separators (. _ __ -) between path components';
    throw new UsageError(`invalid repository "${input}": ${hint}`);
  }
  return repository;
}

/** docker's rule: a first path component with a `.` or `:`, `localhost` or an IPv6 literal is a host. */
export function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

/**
 * Parses `[HOST[:PORT]/]REPO[:TAG][@DIGEST]`. A reference without a host resolves against
 * `defaultRegistry` (from --registry or the environment), else Docker Hub, where one-part
 * names get `library/` like `docker pull` does.
 */
export function parseReference(
  input: string,
  defaultRegistry?: RegistryAddress,
  options: { plainHttp?: boolean; shortDigest?: boolean } = {},
): Reference {
  const text = input.trim();
  if (text === '') throw new UsageError('missing image reference: expected REPO[:TAG] or HOST/REPO[:TAG|@DIGEST]');
  if (text.includes('://')) {
    throw new UsageError(
      `invalid reference "${input}": references take no URL scheme; write HOST/REPO[:TAG] and give the scheme with --registry http://HOST or --plain-http`,
    );
  }
  let remainder = text;
  let digest: string | undefined;
  let digestPrefix: string | undefined;
  const at = remainder.indexOf('@');
  if (at !== -1) {
    const given = remainder.slice(at + 1);
    if (options.shortDigest && SHORT_DIGEST_RE.test(given)) digestPrefix = given;
    else digest = validateDigest(given);
    remainder = remainder.slice(0, at);
  }
  let registry: RegistryAddress | undefined;
  const slash = remainder.indexOf('/');
  if (slash !== -1 && looksLikeHost(remainder.slice(0, slash))) {
    registry = parseRegistryAddress(remainder.slice(0, slash), options);
    remainder = remainder.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = remainder.lastIndexOf(':');
  if (colon !== -1) {
    tag = validateTag(remainder.slice(colon + 1));
    remainder = remainder.slice(0, colon);
  }
  registry ??= defaultRegistry ?? { host: DOCKER_HUB, scheme: 'https' };
  let repository = remainder;
  if (registry.host === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  validateRepository(repository, input);
  return {
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    ...(digestPrefix === undefined ? {} : { digestPrefix }),
  };
}

/** Parses a repository without tag or digest (for `tags`, `cleanup`). */
export function parseRepositoryReference(
  input: string,
  defaultRegistry?: RegistryAddress,
  options: { plainHttp?: boolean } = {},
): Reference {
  const ref = parseReference(input, defaultRegistry, options);
  if (ref.digest !== undefined || ref.tag !== undefined) {
    throw new UsageError(`"${input}" names an image, but a repository is expected here: drop the :TAG or @DIGEST`);
  }
  return ref;
}

export function formatReference(ref: Reference): string {
  let out = `${ref.registry.host}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}
