import { UsageError } from '../errors.js';
import type { Login } from '../krill.js';
import type { CliContext } from './context.js';

/**
 * Credentials for one side of a two-registry command, so no password needs the command line:
 * `--src-username` with `--src-password-stdin` (or `--src-password`), else `KRILL_SRC_USERNAME` /
 * `KRILL_SRC_PASSWORD`; the same with `dest`. Standard input can be read once: only one
 * `--*-password-stdin` per run.
 */
export async function sideLogin(
  ctx: CliContext,
  side: 'src' | 'dest',
  flags: { username?: string | undefined; password?: string | undefined; passwordStdin?: boolean | undefined },
): Promise<Login> {
  const env =
    side === 'src' ? ['KRILL_SRC_USERNAME', 'KRILL_SRC_PASSWORD'] : ['KRILL_DEST_USERNAME', 'KRILL_DEST_PASSWORD'];
  if (flags.passwordStdin) {
    if (ctx.options.passwordStdin)
      throw new UsageError(`--${side}-password-stdin and --password-stdin both read standard input: use one`);
    if (flags.password !== undefined)
      throw new UsageError(`use either --${side}-password or --${side}-password-stdin, not both`);
    if (flags.username === undefined) throw new UsageError(`--${side}-password-stdin needs --${side}-username`);
    const password = (await ctx.io.readStdin()).replace(/\r?\n$/, '');
    if (password === '')
      throw new UsageError(`--${side}-password-stdin read an empty password: pipe the password into krill`);
    return { username: flags.username, password };
  }
  if (flags.username !== undefined || flags.password !== undefined)
    return { username: flags.username, password: flags.password };
  const [user, pass] = [ctx.io.env[env[0]!], ctx.io.env[env[1]!]];
  return user && pass ? { username: user, password: pass } : {};
}
