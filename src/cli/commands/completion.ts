import { UsageError } from '../../errors.js';
import { SHELLS, completionScript } from '../completion.js';
import type { Shell } from '../completion.js';
import type { CliContext } from '../context.js';
import type { ArgsOf } from '../program.js';
import { buildProgram } from '../program.js';

export async function execute(ctx: CliContext, [shell]: ArgsOf<'completion'>): Promise<void> {
  if (!(SHELLS as readonly string[]).includes(shell))
    throw new UsageError(`unknown shell "${shell}": krill completion bash, zsh or fish`);
  // The same program the CLI runs, built only to be read.
  const program = buildProgram(async () => {}, ctx.io);
  ctx.io.out(completionScript(program, shell as Shell));
}
