import { POLICY_SCHEMA } from '../../policy/policy-schema.js';
import type { CliContext } from '../context.js';

export async function execute(ctx: CliContext): Promise<void> {
  ctx.io.out(`${JSON.stringify(POLICY_SCHEMA, null, 2)}\n`);
}
