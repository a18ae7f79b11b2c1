import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

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
