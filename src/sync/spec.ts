import { UsageError } from '../errors.js';
import type { Pattern } from '../pattern.js';
import { compilePattern } from '../pattern.js';
import type { Reference, RegistryAddress } from '../ref/reference.js';
import { DOCKER_HUB, parseReference, parseRegistryAddress, validateRepository, validateTag } from '../ref/reference.js';

/**
 * lstags' repository spec: `[REGISTRY/]REPO[:TAG][~/REGEX/][=TAG1,TAG2]`.
 * `~/REGEX/` filters the tag list; `=TAG1,TAG2` names tags to take even when the tag list does not
 * show them ("assumed" tags). Pure.
 */

export interface SyncSpec {
  input: string;
  source: Reference;
  filter?: Pattern;
  assumed: string[];
}

export interface SyncTarget {
  registry: RegistryAddress;
  prefix: string;
}

export function parseSyncSpec(
  input: string,
  options: { plainHttp?: boolean; defaultRegistry?: RegistryAddress } = {},
): SyncSpec {
  let rest = input.trim();
  let assumed: string[] = [];
  const eq = /=([A-Za-z0-9_][A-Za-z0-9_.,-]*)$/.exec(rest);
  if (eq) {
    assumed = eq[1]!.split(',').filter(Boolean).map(validateTag);
    rest = rest.slice(0, eq.index);
  }
  let filter: Pattern | undefined;
  const tilde = rest.indexOf('~/');
  if (tilde !== -1) {
    if (!rest.endsWith('/') || rest.length - tilde < 4) {
      throw new UsageError(`invalid spec "${input}": a tag filter is written ~/REGEX/, e.g. alpine~/^3\\./`);
    }
    const pattern = rest.slice(tilde + 2, -1);
    filter = compilePattern(pattern, `spec "${input}"`);
    rest = rest.slice(0, tilde);
  }
  const source = parseReference(rest, options.defaultRegistry, { plainHttp: options.plainHttp ?? false });
  if (source.digest !== undefined)
    throw new UsageError(`invalid spec "${input}": sync works on tags; drop the @DIGEST`);
  if (source.tag !== undefined && filter)
    throw new UsageError(`invalid spec "${input}": give either :TAG or ~/REGEX/, not both`);
  return { input, source, ...(filter ? { filter } : {}), assumed };
}

/** `HOST[:PORT][/PREFIX]`. */
export function parseSyncTarget(input: string, options: { plainHttp?: boolean } = {}): SyncTarget {
  const trimmed = input.trim().replace(/\/+$/, '');
  const schemeEnd = trimmed.indexOf('://');
  const afterScheme = schemeEnd === -1 ? 0 : schemeEnd + 3;
  const slash = trimmed.indexOf('/', afterScheme);
  const hostPart = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const prefix = slash === -1 ? '' : trimmed.slice(slash + 1);
  if (prefix) validateRepository(prefix, input);
  return { registry: parseRegistryAddress(hostPart, options), prefix };
}

/**
 * `--prefix auto`: lstags' default push prefix, so a mirror migrated from lstags keeps its paths:
 * the source host with its port dropped and dots turned into slashes (`registry.example.com:5000`
 * → `registry/example/com`); Docker Hub is `registry.hub.docker.com` there (`registry/hub/docker/com`).
 */
export function autoPrefix(source: RegistryAddress): string {
  const host = source.host === DOCKER_HUB ? 'registry.hub.docker.com' : source.host;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')).replace(/:/g, '-') : host.replace(/:\d+$/, '');
  return name.toLowerCase().split('.').filter(Boolean).join('/');
}

export function destinationRepository(target: SyncTarget, sourceRepository: string, prefix = target.prefix): string {
  return prefix ? `${prefix}/${sourceRepository}` : sourceRepository;
}
