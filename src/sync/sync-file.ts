import { parse } from 'yaml';
import { UsageError } from '../errors.js';

/**
 * The sync file: krill's `{version: 1, target, prefix, repositories: [SPEC…]}`, or a lstags YAML
 * file (`lstags: {repositories: […]}`) accepted as is. Pure.
 */
export interface SyncFile {
  target?: string;
  prefix?: string;
  repositories: string[];
  /** `immutable: REGEX` at the top: tags that never change once pushed, for every spec. */
  immutable?: string;
  /** Per spec (`- {spec: SPEC, immutable: REGEX}`), overriding the top-level one. */
  immutableBySpec?: Record<string, string>;
}

export function parseSyncFile(text: string, path: string): SyncFile {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    const line = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new UsageError(`${path}${line ? `:${line}` : ''}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || doc === null)
    throw new UsageError(
      `${path}: expected a mapping with version, target and repositories (or lstags: {repositories: […]})`,
    );
  const record = doc as Record<string, unknown>;
  const lstags = record.lstags as Record<string, unknown> | undefined;
  const source = lstags && typeof lstags === 'object' ? lstags : record;
  if (!lstags) {
    if (record.version !== 1)
      throw new UsageError(`${path}: version must be 1 (or use a lstags file with a top-level "lstags:" key)`);
    const unknown = Object.keys(record).filter(
      (k) => !['version', 'target', 'prefix', 'repositories', 'immutable'].includes(k),
    );
    if (unknown.length > 0)
      throw new UsageError(
        `${path}: unknown key "${unknown[0]}" (expected version, target, prefix, immutable, repositories)`,
      );
  }
  const immutableBySpec: Record<string, string> = {};
  const entries = Array.isArray(source.repositories)
    ? source.repositories.map((entry: unknown) => {
        if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return entry;
        const { spec, immutable, ...rest } = entry as Record<string, unknown>;
        if (typeof spec !== 'string' || typeof immutable !== 'string' || Object.keys(rest).length > 0)
          throw new UsageError(`${path}: a repository entry is a SPEC string, or {spec: SPEC, immutable: REGEX}`);
        immutableBySpec[spec] = immutable;
        return spec;
      })
    : source.repositories;
  const repositories = entries;
  if (!Array.isArray(repositories) || repositories.length === 0 || !repositories.every((r) => typeof r === 'string')) {
    throw new UsageError(
      `${path}: "repositories" must be a non-empty list of specs such as "alpine:3.20" or "nginx~/^1\\\\./"`,
    );
  }
  for (const key of ['target', 'prefix', 'immutable'] as const) {
    if (record[key] !== undefined && typeof record[key] !== 'string')
      throw new UsageError(`${path}: "${key}" must be a string`);
  }
  return {
    repositories: repositories as string[],
    ...(typeof record.target === 'string' ? { target: record.target } : {}),
    ...(typeof record.prefix === 'string' ? { prefix: record.prefix } : {}),
    ...(typeof record.immutable === 'string' ? { immutable: record.immutable } : {}),
    ...(Object.keys(immutableBySpec).length > 0 ? { immutableBySpec } : {}),
  };
}
