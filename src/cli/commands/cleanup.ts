import { UsageError } from '../../errors.js';
import type { RuleInput } from '../../policy/rules.js';
import type { CliContext } from '../context.js';
import type { ArgsOf, OptionsOf } from '../program.js';
import { executePlan } from '../deletion.js';
import { renderChanges } from '../render-plan.js';
import { checkJournalFlag, liveSources, readUserFile } from '../files.js';
import { startProgress } from '../progress.js';

export async function execute(
  ctx: CliContext,
  [positional]: ArgsOf<'cleanup'>,
  opts: OptionsOf<'cleanup'>,
): Promise<void> {
  if (opts.version !== undefined)
    ctx.logger.warn('cleanup --version RANGE is deprecated and will be removed: use --semver RANGE');
  const version = opts.semver ?? opts.version;
  const rules = {
    keep: opts.keep,
    deleteRegex: opts.deleteRegex,
    keepRegex: opts.keepRegex,
    protectLatest: opts.protectLatest,
    olderThan: opts.olderThan,
    unpulledFor: opts.unpulledFor,
    version,
    sort: opts.sort,
  };
  if (opts.allowBeforeLedger && opts.unpulledFor === undefined && !opts.rule && opts.file === undefined)
    throw new UsageError('--allow-before-ledger works with --unpulled-for DURATION: add it, or drop the flag');
  const ruleFlags = Object.entries(rules).some(([key, value]) =>
    key === 'protectLatest' ? value === false : value !== undefined,
  );
  if (opts.rule && ruleFlags)
    throw new UsageError(
      '--rule cannot be combined with --keep, --delete-regex and the other rule flags: put them in the --rule',
    );
  if (opts.rule && opts.file !== undefined)
    throw new UsageError('--rule cannot be combined with -f: put the rules in the policy file (with tags:)');
  if (opts.file !== undefined && ruleFlags)
    throw new UsageError(
      'rule flags (--keep, --delete-regex, …) cannot be combined with -f: put the rules in the policy file',
    );
  if (opts.allRepos && positional.length > 1)
    throw new UsageError('--all-repos takes at most one argument, the registry: krill cleanup --all-repos REGISTRY');
  await checkJournalFlag(ctx, opts.journal);
  const policy =
    opts.file !== undefined ? { text: await readUserFile(opts.file, 'policy file'), path: opts.file } : undefined;

  // Read once (stdin cannot be read twice): the plan and its apply re-read the same sources.
  const keepInUse = opts.keepInUse ? await liveSources(ctx, opts.keepInUse) : undefined;
  const progress = startProgress(ctx, 'reading repositories');
  let plan;
  try {
    plan = await ctx.krill.planCleanup({
      ...(opts.allRepos ? { allRepos: positional[0] ?? true } : { repositories: positional }),
      ...(policy ? { policy } : { rules: opts.rule ? opts.rule.map(parseRuleFlag) : rules }),
      ...(opts.allowBeforeLedger ? { allowBeforeLedger: true } : {}),
      scanAll: opts.scanAll === true,
      ...(opts.shard !== undefined ? { shard: opts.shard } : {}),
      strict: opts.strict === true,
      deleteOrphans: opts.deleteOrphans === true,
      ...(keepInUse ? { keepInUse } : {}),
      ...(opts.maxDelete !== undefined ? { maxDelete: opts.maxDelete } : {}),
      ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      acceptListing: opts.acceptListing === true,
      ...(opts.rollbackDepth !== undefined ? { rollbackDepth: opts.rollbackDepth } : {}),
      diff: opts.diff === true,
      onProgress: progress.update,
    });
  } finally {
    progress.done();
  }
  if (plan.changes && !ctx.options.json) ctx.io.out(renderChanges(plan.changes));
  if (!policy && rules.keep === undefined && rules.olderThan !== undefined && !ctx.options.json) {
    // Users coming from "keep N, and only what is older" expect some kept; say plainly none are.
    const latest = rules.protectLatest === false ? '' : ', `latest` excepted';
    const kept = rules.keepRegex?.length ? ' and what --keep-regex names' : '';
    ctx.io.out(`No --keep: every tag older than ${rules.olderThan} goes${latest}${kept}.\n`);
  }
  await executePlan(ctx, plan, opts, {
    question: `Apply this plan to ${plan.registry.host}?`,
    ...(keepInUse ? { keepInUse } : {}),
  });
}

/** The policy file's keys a --rule takes, and how each is read. */
const RULE_FLAG_KEYS: Record<string, (input: RuleInput, value: string) => void> = {
  tags: (input, value) => (input.tags = value),
  keep: (input, value) => {
    if (!/^\d+$/.test(value)) throw new UsageError(`--rule keep=${value}: keep must be a whole number ≥ 0`);
    input.keep = Number(value);
  },
  'older-than': (input, value) => (input.olderThan = value),
  'unpulled-for': (input, value) => (input.unpulledFor = value),
  'delete-regex': (input, value) => (input.deleteRegex = [...(input.deleteRegex ?? []), value]),
  'keep-regex': (input, value) => (input.keepRegex = [...(input.keepRegex ?? []), value]),
  semver: (input, value) => (input.version = value),
  sort: (input, value) => (input.sort = value),
  'protect-latest': (input, value) => {
    if (value !== 'true' && value !== 'false')
      throw new UsageError(`--rule protect-latest=${value}: protect-latest must be true or false`);
    input.protectLatest = value === 'true';
  },
};

/** `--rule 'tags=^v keep=5'`: space-separated KEY=VALUE pairs with the policy file's keys. */
export function parseRuleFlag(spec: string): RuleInput {
  const input: RuleInput = {};
  const pairs = spec.trim().split(/\s+/).filter(Boolean);
  if (pairs.length === 0) throw new UsageError("--rule is empty: give KEY=VALUE pairs such as 'tags=^v keep=5'");
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const read = RULE_FLAG_KEYS[key];
    if (eq === -1 || !read)
      throw new UsageError(
        `--rule ${JSON.stringify(spec)}: ${eq === -1 ? `"${pair}" is not KEY=VALUE` : `unknown key "${key}"`} (keys: ${Object.keys(RULE_FLAG_KEYS).join(', ')})`,
      );
    read(input, pair.slice(eq + 1));
  }
  return input;
}
