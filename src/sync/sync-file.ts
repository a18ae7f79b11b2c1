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
    const unknown = Object.keys(record).filter((k) => !['version', 'target', 'prefix', 'repositories'].includes(k));
    if (unknown.length > 0)
      throw new UsageError(`${path}: unknown key "${unknown[0]}" (expected version, target, prefix, repositories)`);
  }
  const repositories = source.repositories;
  if (!Array.isArray(repositories) || repositories.length === 0 || !repositories.every((r) => typeof r === 'string')) {
    throw new UsageError(
      `${path}: "repositories" must be a non-empty list of specs such as "alpine:3.20" or "nginx~/^1\\\\./"`,
    );
  }
  for (const key of ['target', 'prefix'] as const) {
    if (record[key] !== undefined && typeof record[key] !== 'string')
      throw new UsageError(`${path}: "${key}" must be a string`);
  }
  return {
    repositories: repositories as string[],
    ...(typeof record.target === 'string' ? { target: record.target } : {}),
    ...(typeof record.prefix === 'string' ? { prefix: record.prefix } : {}),
  };
}
