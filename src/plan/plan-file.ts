import { UsageError } from '../errors.js';
import { isDigest } from '../manifest/digest.js';
import { isValidRepository, isValidTag, parseRegistryAddress } from '../ref/reference.js';
import type { Plan, PlanAction, PlannedTag, RepositoryPlan } from './plan.js';

/**
 * A saved plan (`--plan-out`) read back for `krill apply`. It is input like any other: every field
 * is validated before the first request, and a problem names the file, the JSON path and the fix.
 * Pure: the caller reads the file.
 */

class PlanFileError extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

function fail(at: string, message: string): never {
  throw new PlanFileError(at, message);
}

function record(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'expected an object');
  return value as Record<string, unknown>;
}

function array(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) fail(at, 'expected a list');
  return value;
}

function string(value: unknown, at: string): string {
  if (typeof value !== 'string') fail(at, 'expected a string');
  return value;
}

function digest(value: unknown, at: string): string {
  const text = string(value, at);
  if (!isDigest(text)) fail(at, `${JSON.stringify(text.slice(0, 100))} is not a sha256 or sha512 digest`);
  return text;
}

function tag(value: unknown, at: string): string {
  const text = string(value, at);
  if (!isValidTag(text)) fail(at, `${JSON.stringify(text.slice(0, 140))} is not a valid tag`);
  return text;
}

/** `kept`: a kept tag may have digest '' (its manifest could not be read); it is never acted on. */
function plannedTags(value: unknown, at: string, kept = false): PlannedTag[] {
  return array(value, at).map((item, i) => {
    const t = record(item, `${at}[${i}]`);
    const planned: PlannedTag = {
      tag: tag(t.tag, `${at}[${i}].tag`),
      digest: kept && t.digest === '' ? '' : digest(t.digest, `${at}[${i}].digest`),
      reason: string(t.reason, `${at}[${i}].reason`),
    };
    if (typeof t.created === 'string' || t.created === null) planned.created = t.created;
    if (typeof t.size === 'number' && Number.isSafeInteger(t.size) && t.size >= 0) planned.size = t.size;
    return planned;
  });
}

function action(value: unknown, at: string): PlanAction {
  const a = record(value, at);
  if (a.kind === 'untag')
    return { kind: 'untag', tag: tag(a.tag, `${at}.tag`), digest: digest(a.digest, `${at}.digest`) };
  if (a.kind === 'remove-dangling') return { kind: 'remove-dangling', tag: tag(a.tag, `${at}.tag`) };
  if (a.kind === 'unlist-referrer')
    return {
      kind: 'unlist-referrer',
      tag: tag(a.tag, `${at}.tag`),
      index: digest(a.index, `${at}.index`),
      referrer: digest(a.referrer, `${at}.referrer`),
    };
  if (a.kind !== 'delete-manifest')
    fail(`${at}.kind`, 'expected "untag", "delete-manifest", "remove-dangling" or "unlist-referrer"');
  const out: PlanAction = {
    kind: 'delete-manifest',
    digest: digest(a.digest, `${at}.digest`),
    tags: array(a.tags, `${at}.tags`).map((t, i) => tag(t, `${at}.tags[${i}]`)),
  };
  if (a.parent !== undefined) out.parent = digest(a.parent, `${at}.parent`);
  if (a.subject !== undefined) out.subject = digest(a.subject, `${at}.subject`);
  if (a.force !== undefined) {
    if (a.force !== true) fail(`${at}.force`, 'expected true');
    out.force = true;
  }
  return out;
}

function repository(value: unknown, at: string): RepositoryPlan {
  const r = record(value, at);
  const name = string(r.repository, `${at}.repository`);
  if (!isValidRepository(name))
    fail(`${at}.repository`, `${JSON.stringify(name.slice(0, 140))} is not a valid repository name`);
  return {
    repository: name,
    keep: plannedTags(r.keep, `${at}.keep`, true),
    delete: plannedTags(r.delete, `${at}.delete`),
    actions: array(r.actions, `${at}.actions`).map((item, i) => action(item, `${at}.actions[${i}]`)),
    ...(r.dangling === undefined
      ? {}
      : { dangling: array(r.dangling, `${at}.dangling`).map((t, i) => tag(t, `${at}.dangling[${i}]`)) }),
    ...(r.reclaimableBytes === undefined
      ? {}
      : { reclaimableBytes: bytes(r.reclaimableBytes, `${at}.reclaimableBytes`) }),
  };
}

function bytes(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    fail(at, 'expected a whole number of bytes');
  return value as number;
}

function keepInUse(value: unknown, at: string): NonNullable<Plan['keepInUse']> {
  const k = record(value, at);
  const digests = record(k.digests, `${at}.digests`);
  const depth = k.rollbackDepth;
  if (depth !== undefined && (typeof depth !== 'number' || !Number.isSafeInteger(depth) || depth < 0))
    fail(`${at}.rollbackDepth`, 'expected a whole number');
  return {
    ...(depth !== undefined ? { rollbackDepth: depth as number } : {}),
    sources: array(k.sources, `${at}.sources`).map((s, i) => string(s, `${at}.sources[${i}]`)),
    digests: Object.fromEntries(
      Object.entries(digests).map(([repo, list]) => {
        if (!isValidRepository(repo))
          fail(`${at}.digests`, `${JSON.stringify(repo.slice(0, 140))} is not a repository`);
        return [repo, array(list, `${at}.digests.${repo}`).map((d, i) => digest(d, `${at}.digests.${repo}[${i}]`))];
      }),
    ),
  };
}

function limits(value: unknown, at: string): NonNullable<Plan['limits']> {
  const l = record(value, at);
  const out: NonNullable<Plan['limits']> = {};
  if (l.maxDelete !== undefined) out.maxDelete = string(l.maxDelete, `${at}.maxDelete`);
  if (l.maxBytes !== undefined) {
    if (typeof l.maxBytes !== 'number' || !Number.isSafeInteger(l.maxBytes) || l.maxBytes < 0)
      fail(`${at}.maxBytes`, 'expected a whole number of bytes');
    out.maxBytes = l.maxBytes;
  }
  if (l.refused !== undefined) out.refused = string(l.refused, `${at}.refused`);
  return out;
}

/** Parses and validates a saved plan; any problem is a UsageError naming `path` and the JSON path. */
export function parsePlanFile(text: string, path: string): Plan {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not JSON: pass a file written by krill cleanup --plan-out`);
  }
  try {
    const p = record(json, '$');
    if (p.kind !== 'krill-plan') fail('$.kind', 'this is not a krill plan');
    if (p.version !== 1)
      fail('$.version', `unsupported version ${JSON.stringify(p.version)} (this krill reads version 1)`);
    const reg = record(p.registry, '$.registry');
    const host = string(reg.host, '$.registry.host');
    if (reg.scheme !== 'https' && reg.scheme !== 'http' && reg.scheme !== 'auto')
      fail('$.registry.scheme', 'expected https, http or auto');
    let parsed;
    try {
      parsed = parseRegistryAddress(host);
    } catch {
      fail('$.registry.host', `${JSON.stringify(host.slice(0, 140))} is not a registry host[:port]`);
    }
    if (parsed.host !== host) fail('$.registry.host', `expected the canonical form ${parsed.host}`);
    const reclaimable = p.reclaimableBytes;
    if (typeof reclaimable !== 'number' || !Number.isSafeInteger(reclaimable) || reclaimable < 0)
      fail('$.reclaimableBytes', 'expected a whole number of bytes');
    const isoTime = (value: unknown, at: string) => {
      const text = string(value, at);
      if (Number.isNaN(Date.parse(text))) fail(at, 'expected an ISO 8601 time');
      return text;
    };
    const shardText = (value: unknown) => {
      const text = string(value, '$.shard');
      if (!/^\d{1,4}\/\d{1,4}$/.test(text)) fail('$.shard', 'expected I/N');
      return text;
    };
    const assumption =
      p.assumption === null || p.assumption === undefined ? null : string(p.assumption, '$.assumption');
    return {
      kind: 'krill-plan',
      version: 1,
      registry: { host, scheme: reg.scheme },
      createdAt: string(p.createdAt, '$.createdAt'),
      ...(p.keepInUse === undefined ? {} : { keepInUse: keepInUse(p.keepInUse, '$.keepInUse') }),
      ...(p.limits === undefined ? {} : { limits: limits(p.limits, '$.limits') }),
      ...(p.shard === undefined ? {} : { shard: shardText(p.shard) }),
      ...(p.pullsChecked === undefined ? {} : { pullsChecked: isoTime(p.pullsChecked, '$.pullsChecked') }),
      reclaimableBytes: reclaimable,
      // Plans written before the field existed made no such claim.
      reclaimableExact: p.reclaimableExact === true,
      assumption,
      repositories: array(p.repositories, '$.repositories').map((r, i) => repository(r, `$.repositories[${i}]`)),
    };
  } catch (error) {
    if (error instanceof PlanFileError)
      throw new UsageError(`${path}: ${error.at}: ${error.message}; pass a file written by krill cleanup --plan-out`);
    throw error;
  }
}
