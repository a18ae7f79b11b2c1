import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { UsageError } from '../errors.js';
import type { RuleInput, Rules } from './rules.js';
import type { Pattern } from '../pattern.js';
import { compilePattern } from '../pattern.js';
import type { Budget } from './rules.js';
import { compileRules, parseBudget, parseSize } from './rules.js';
import type { CleanregRule } from './cleanreg.js';
import { parseCleanregFile } from './cleanreg.js';

/**
 * The cleanup policy file (README "Policy files"): validated with line-numbered errors, pure.
 *
 *   version: 1
 *   registry: registry.example.com     # optional
 *   defaults: {keep: 10}
 *   rules:                             # first matching rule wins; unset keys come from defaults
 *     - repos: "apps/*"                # glob on the repository path, or ~/REGEX/
 *       keep: 5
 *     - repos: "apps/*"                # with tags: every matching tag rule counts, a tag is
 *       tags: ^mr-                     # kept when any rule keeps it (rule-set.ts)
 *       keep: 0
 *       older-than: 7d
 */

export interface PolicyRule {
  repos: string;
  /** `tags: REGEX`: the rule decides only these tags, beside the other matching rules (rule-set.ts). */
  tags?: Pattern;
  /** `file:line` of the rule, for messages. */
  where: string;
  matches: (repository: string) => boolean;
  rules: Rules;
}

export interface Policy {
  registry?: string;
  defaults: Rules;
  rules: PolicyRule[];
  /** Budgets for the whole plan (`max-delete`, `max-bytes` at the top level). */
  limits?: { maxDelete?: Budget; maxBytes?: number };
  /** Live-set sources (`keep-in-use:`): files of image references. */
  keepInUse?: string[];
}

export const RULE_KEYS = [
  'keep',
  'older-than',
  'unpulled-for',
  'allow-before-ledger',
  'delete-regex',
  'keep-regex',
  'semver',
  'version',
  'protect-latest',
  'sort',
  'max-delete',
  'max-bytes',
] as const;
export const TOP_KEYS = ['version', 'registry', 'defaults', 'rules', 'max-delete', 'max-bytes', 'keep-in-use'];

/** `*` stays inside one path component, `**` crosses them, `?` is one character. */
export function globToRegExp(glob: string): Pattern {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return compilePattern(`^${source}$`, 'repos glob');
}

/** Where a YAML node is (`file:line`), and errors that say so. */
class Source {
  readonly lines = new LineCounter();
  constructor(readonly path: string) {}

  at(node: Node | null | undefined): string {
    const offset = node?.range?.[0];
    return offset === undefined ? this.path : `${this.path}:${this.lines.linePos(offset).line}`;
  }

  fail(node: Node | null | undefined, message: string): never {
    throw new UsageError(`${this.at(node)}: ${message}`);
  }
}

const scalarOf = (node: unknown): unknown => (isScalar(node) ? node.value : undefined);
const keyName = (key: unknown) => String(scalarOf(key));

export function parsePolicy(text: string, path: string): Policy {
  // cleanreg's repositories file is accepted as is (like lstags YAML for sync).
  const cleanreg = /^version\s*:/m.test(text) ? undefined : parseCleanregFile(text, path);
  if (cleanreg) return cleanregPolicy(cleanreg);
  const src = new Source(path);
  const doc = parseDocument(text, { lineCounter: src.lines, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    throw new UsageError(`${path}:${error.linePos?.[0]?.line ?? '?'}: invalid YAML: ${error.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) return src.fail(root, 'expected a mapping with version, defaults and rules');
  for (const pair of root.items) {
    if (!TOP_KEYS.includes(keyName(pair.key)))
      src.fail(pair.key as Node, `unknown key "${keyName(pair.key)}" (expected one of ${TOP_KEYS.join(', ')})`);
  }
  const version = root.get('version', true);
  if (scalarOf(version) !== 1) src.fail(version ?? root, 'version must be 1');
  const defaultsNode = root.get('defaults', true);
  const defaults = defaultsNode === undefined ? { input: {} as RuleInput } : readRule(src, defaultsNode, false);
  const registry = scalarOf(root.get('registry', true));
  if (registry !== undefined && typeof registry !== 'string')
    src.fail(root.get('registry', true) as Node, 'registry must be a string such as registry.example.com');
  const limits = readLimits(src, root.get('max-delete', true) as Node, root.get('max-bytes', true) as Node);
  const keepInUse = readKeepInUse(src, root.get('keep-in-use', true) as Node | undefined);
  return {
    ...(typeof registry === 'string' ? { registry } : {}),
    defaults: compileRules(defaults.input),
    rules: readRules(src, root.get('rules', true), defaults.input),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(keepInUse ? { keepInUse } : {}),
  };
}

function cleanregPolicy(rules: CleanregRule[]): Policy {
  return {
    defaults: compileRules({}),
    rules: rules.map((r) => ({
      repos: r.repository,
      where: r.where,
      matches: (repository: string) => repository === r.repository,
      rules: compileRules(r.input, r.where),
    })),
  };
}

/** `rules:`: each needs `repos` (a glob or ~/REGEX/); keys it leaves out come from defaults. */
function readRules(src: Source, node: unknown, defaults: RuleInput): PolicyRule[] {
  if (node === undefined) return [];
  if (!isSeq(node)) return src.fail(node as Node, 'rules must be a list');
  return node.items.map((item) => {
    const rule = readRule(src, item, true);
    if (rule.repos === undefined) src.fail(rule.node, 'each rule needs "repos": a glob such as "apps/*" or ~/REGEX/');
    const repos = rule.repos!;
    const regex = /^~\/(.*)\/$/.exec(repos);
    const pattern = regex ? compilePattern(regex[1]!, `${src.at(rule.node)}: repos`) : globToRegExp(repos);
    if (rule.tags !== undefined && (rule.input.maxDelete !== undefined || rule.input.maxBytes !== undefined))
      src.fail(
        rule.node,
        'a rule with "tags" cannot set max-delete or max-bytes: put budgets in defaults, at the top level or in a rule without tags',
      );
    return {
      repos,
      ...(rule.tags !== undefined ? { tags: compilePattern(rule.tags, `${src.at(rule.node)}: tags`) } : {}),
      where: src.at(rule.node),
      matches: (repository: string) => pattern.test(repository),
      rules: compileRules({ ...defaults, ...rule.input }),
    };
  });
}

/** One rule (or `defaults`): every key checked and compiled now, so an error carries its line. */
function readRule(
  src: Source,
  map: unknown,
  allowRepos: boolean,
): { input: RuleInput; repos?: string; tags?: string; node: Node } {
  if (!isMap(map)) return src.fail(map as Node, 'expected a mapping of rule keys');
  const input: RuleInput = {};
  let repos: string | undefined;
  let tags: string | undefined;
  for (const pair of map.items) {
    const key = keyName(pair.key);
    const value = pair.value as Node | null;
    try {
      if (key === 'repos') {
        if (!allowRepos) src.fail(pair.key as Node, '"repos" belongs in a rule, not in defaults');
        repos = ruleString(src, key, value);
      } else if (key === 'tags') {
        if (!allowRepos) src.fail(pair.key as Node, '"tags" belongs in a rule, not in defaults');
        tags = ruleString(src, key, value);
        compilePattern(tags, 'tags');
      } else if (!readRuleKey(src, key, value, input)) {
        src.fail(
          pair.key as Node,
          `unknown key "${key}" (expected ${allowRepos ? 'repos, tags, ' : ''}${RULE_KEYS.join(', ')})`,
        );
      }
      compileRules(input); // validate now, so the error carries this line
    } catch (error) {
      if (error instanceof UsageError && !error.message.startsWith(src.path))
        throw new UsageError(`${src.at(value ?? (pair.key as Node))}: ${error.message}`);
      throw error;
    }
  }
  return {
    input,
    ...(repos === undefined ? {} : { repos }),
    ...(tags === undefined ? {} : { tags }),
    node: map as Node,
  };
}

function ruleString(src: Source, key: string, value: Node | null): string {
  const v = scalarOf(value);
  if (typeof v !== 'string' && typeof v !== 'number') return src.fail(value, `${key} must be a string`);
  return String(v);
}

function ruleBoolean(src: Source, key: string, value: Node | null): boolean {
  const v = scalarOf(value);
  if (typeof v !== 'boolean') return src.fail(value, `${key} must be true or false`);
  return v;
}

/** Sets one rule key on `input`; false for a key that is not a rule key. */
function readRuleKey(src: Source, key: string, value: Node | null, input: RuleInput): boolean {
  const list = (): string[] => {
    if (!isSeq(value)) return [ruleString(src, key, value)];
    return value.items.map((item) =>
      typeof scalarOf(item) === 'string'
        ? (scalarOf(item) as string)
        : src.fail(item as Node, `${key} entries must be strings`),
    );
  };
  switch (key) {
    case 'keep': {
      const v = scalarOf(value);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) src.fail(value, 'keep must be a whole number ≥ 0');
      input.keep = v as number;
      return true;
    }
    case 'protect-latest':
      input.protectLatest = ruleBoolean(src, key, value);
      return true;
    case 'older-than':
      input.olderThan = ruleString(src, key, value);
      return true;
    case 'unpulled-for':
      input.unpulledFor = ruleString(src, key, value);
      return true;
    case 'allow-before-ledger':
      input.allowBeforeLedger = ruleBoolean(src, key, value);
      return true;
    case 'delete-regex':
      input.deleteRegex = list();
      return true;
    case 'keep-regex':
      input.keepRegex = list();
      return true;
    case 'semver':
    case 'version': // the older spelling of semver
      input.version = ruleString(src, key, value);
      return true;
    case 'sort':
      input.sort = ruleString(src, key, value);
      return true;
    case 'max-delete':
      input.maxDelete = ruleString(src, key, value);
      return true;
    case 'max-bytes':
      input.maxBytes = ruleString(src, key, value);
      return true;
    default:
      return false;
  }
}

/** Top-level `max-delete` and `max-bytes`: budgets of the whole plan. */
function readLimits(src: Source, maxDelete: Node | undefined, maxBytes: Node | undefined) {
  const limits: { maxDelete?: Budget; maxBytes?: number } = {};
  try {
    if (maxDelete !== undefined) limits.maxDelete = parseBudget(String(scalarOf(maxDelete)), 'max-delete');
    if (maxBytes !== undefined) limits.maxBytes = parseSize(String(scalarOf(maxBytes)), 'max-bytes');
  } catch (error) {
    if (error instanceof UsageError) src.fail(maxDelete ?? maxBytes, error.message);
    throw error;
  }
  return limits;
}

/** Top-level `keep-in-use`: one file or a list of files of image references. */
function readKeepInUse(src: Source, node: Node | undefined): string[] | undefined {
  if (node === undefined) return undefined;
  const items = isSeq(node) ? node.items : [node];
  return items.map((item) =>
    typeof scalarOf(item) === 'string'
      ? (scalarOf(item) as string)
      : src.fail(item as Node, 'keep-in-use entries must be file paths (strings)'),
  );
}

/** The rules for a repository: the first matching rule, else the defaults (or undefined: not covered). */
export function rulesFor(policy: Policy, repository: string, useDefaults: boolean): Rules | undefined {
  return policy.rules.find((r) => r.matches(repository))?.rules ?? (useDefaults ? policy.defaults : undefined);
}
