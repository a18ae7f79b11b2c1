import { RE2JS } from 're2js';
import { UsageError } from './errors.js';

/** A compiled user regex. */
export interface Pattern {
  readonly source: string;
  test(text: string): boolean;
}

/**
 * User regexes (--filter, --delete-regex, ~/REGEX/ specs, policy files) run on RE2 (re2js), which
 * matches in linear time: a catastrophic pattern such as `(a+)+$` cannot freeze krill (V8's
 * backtracking engine would, beyond the reach of Ctrl-C). RE2 has no backreferences or lookaround.
 */
export function compilePattern(pattern: string, where: string): Pattern {
  try {
    const re = RE2JS.compile(pattern);
    return { source: pattern, test: (text) => re.test(text) };
  } catch (error) {
    const reason = (error as Error).message.replace(/^error parsing regexp: /, '');
    throw new UsageError(
      `invalid ${where} regex "${pattern}": ${reason}; krill uses RE2 syntax (no backreferences or lookaround)`,
    );
  }
}
