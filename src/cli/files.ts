import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { LiveSource } from '../krill.js';
import { parseSyncFile } from '../krill.js';
import type { CliContext } from './context.js';

/** Reads a file the user named; a missing or unreadable file is a usage error naming it. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}; check the path`,
      { cause: error },
    );
  }
}

/** `-` is standard input, read once (apply re-reads files, and reuses what stdin gave). */
export async function liveSources(ctx: CliContext, sources: string[]): Promise<Array<string | LiveSource>> {
  if (sources.filter((s) => s === '-').length > 1) throw new UsageError('--keep-in-use - can be given once');
  let stdin: string | undefined;
  return Promise.all(
    sources.map(async (source) => {
      if (source !== '-') return source;
      stdin ??= await ctx.io.readStdin();
      const text = stdin;
      return { name: 'stdin', read: async () => text };
    }),
  );
}

/** Sync specs from the command line and `-f FILE` (the flags win over the file's target and prefix). */
export async function readSyncSpecs(
  specs: string[],
  flags: { file?: string; to?: string; prefix?: string; immutable?: string },
): Promise<{
  specs: string[];
  targetText: string | undefined;
  prefix: string | undefined;
  immutable: string | undefined;
  immutableBySpec?: Record<string, string>;
}> {
  if (flags.file === undefined)
    return { specs, targetText: flags.to, prefix: flags.prefix, immutable: flags.immutable };
  const file = parseSyncFile(await readUserFile(flags.file, 'sync file'), flags.file);
  return {
    specs: [...specs, ...file.repositories],
    targetText: flags.to ?? file.target,
    prefix: flags.prefix ?? file.prefix,
    immutable: flags.immutable ?? file.immutable,
    ...(file.immutableBySpec ? { immutableBySpec: file.immutableBySpec } : {}),
  };
}

/** `--journal` is checked before the first request (see checkJournalPath). */
export async function checkJournalFlag(ctx: CliContext, path: string | undefined): Promise<void> {
  if (path !== undefined) await ctx.krill.checkJournalPath(path);
}
