import { KrillError } from '../../errors.js';
import { escapeControl } from '../../text.js';
import type { CliContext } from '../context.js';
import type { ArgsOf } from '../program.js';
import { readUserFile } from '../files.js';

export async function execute(ctx: CliContext, [policyPath, casesPath]: ArgsOf<'policyTest'>): Promise<void> {
  const results = ctx.krill.testPolicy(
    { text: await readUserFile(policyPath, 'policy file'), path: policyPath },
    { text: await readUserFile(casesPath, 'cases file'), path: casesPath },
  );
  const failed = results.filter((r) => !r.ok);
  if (ctx.options.json) ctx.io.out(`${JSON.stringify(results, null, 2)}\n`);
  else {
    for (const r of results) {
      const want = `${r.expected}${r.expectedReason ? ` (reason containing "${r.expectedReason}")` : ''}`;
      ctx.io.out(
        r.ok
          ? `ok    ${r.repository}:${r.tag} ${r.actual}\n`
          : `FAIL  ${r.where}: ${r.repository}:${r.tag}: expected ${escapeControl(want)}, got ${r.actual} (${escapeControl(r.reason)})\n`,
      );
    }
    ctx.io.out(`${results.length - failed.length} of ${results.length} expectations met.\n`);
  }
  if (failed.length > 0)
    throw new KrillError(
      'REFUSED',
      `${failed.length} expectation${failed.length === 1 ? '' : 's'} failed (listed above)`,
    );
}
