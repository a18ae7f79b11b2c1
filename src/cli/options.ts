import { UsageError } from '../errors.js';

/** Compiles a user regex, or explains in one line why it is not one. */
export function compileRegex(pattern: string, flag: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new UsageError(`invalid ${flag} regex "${pattern}": ${(error as Error).message.replace(/^Invalid regular expression: /, '')}; use JavaScript regex syntax`);
  }
}
