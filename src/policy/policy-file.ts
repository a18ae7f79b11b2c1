import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { UsageError } from '../errors.js';
import type { RuleInput, Rules } from './rules.js';
import type { Pattern } from './pattern.js';
import { compilePattern } from './pattern.js';
import type { Budget } from './rules.js';
import { compileRules, parseBudget, parseSize } from './rules.js';
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
 */

export interface PolicyRule {
  repos: string;
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

export function parsePolicy(text: string, path: string): Policy {
  // cleanreg's repositories file is accepted as is (like lstags YAML for sync).
  const cleanreg = /^version\s*:/m.test(text) ? undefined : parseCleanregFile(text, path);
  if (cleanreg) {
    return {
      defaults: compileRules({}),
      rules: cleanreg.map((r) => ({
        repos: r.repository,
        where: r.where,
        matches: (repository: string) => repository === r.repository,
        rules: compileRules(r.input, r.where),
      })),
    };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const at = (node: Node | null | undefined): string => {
    const offset = node?.range?.[0];
    return offset === undefined ? path : `${path}:${lineCounter.linePos(offset).line}`;
  };
  const fail = (node: Node | null | undefined, message: string): never => {
    throw new UsageError(`${at(node)}: ${message}`);
  };
  if (doc.errors.length > 0) {
    const error = doc.errors[0]!;
    throw new UsageError(`${path}:${error.linePos?.[0]?.line ?? '?'}: invalid YAML: ${error.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(root, 'expected a mapping with version, defaults and rules');

  const scalarOf = (node: unknown): unknown => (isScalar(node) ? node.value : undefined);
  const keyName = (key: unknown) => String(scalarOf(key));

  for (const pair of root.items) {
    if (!TOP_KEYS.includes(keyName(pair.key)))
      fail(pair.key as Node, `unknown key "${keyName(pair.key)}" (expected one of ${TOP_KEYS.join(', ')})`);
  }
  const version = root.get('version', true);
  if (scalarOf(version) !== 1) fail(version ?? root, 'version must be 1');

  const readRule = (map: unknown, allowRepos: boolean): { input: RuleInput; repos?: string; node: Node } => {
    if (!isMap(map)) return fail(map as Node, 'expected a mapping of rule keys');
    const input: RuleInput = {};
    let repos: string | undefined;
    for (const pair of map.items) {
      const key = keyName(pair.key);
      const value = pair.value as Node | null;
      const where = `${at(value ?? (pair.key as Node))}`;
      const str = (): string => {
        const v = scalarOf(value);
        if (typeof v !== 'string' && typeof v !== 'number') return fail(value, `${key} must be a string`);
        return String(v);
      };
      const list = (): string[] => {
        if (isSeq(value))
          return value.items.map((item) =>
            typeof scalarOf(item) === 'string'
              ? (scalarOf(item) as string)
              : fail(item as Node, `${key} entries must be strings`),
          );
        return [str()];
      };
      try {
        switch (key) {
          case 'repos':
            if (!allowRepos) fail(pair.key as Node, '"repos" belongs in a rule, not in defaults');
            repos = str();
            break;
          case 'keep': {
            const v = scalarOf(value);
            if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(value, 'keep must be a whole number ≥ 0');
            input.keep = v as number;
            break;
          }
          case 'older-than':
            input.olderThan = str();
            break;
          case 'delete-regex':
            input.deleteRegex = list();
            break;
          case 'keep-regex':
            input.keepRegex = list();
            break;
          case 'semver':
          case 'version': // the older spelling of semver
            input.version = str();
            break;
          case 'sort':
            input.sort = str();
            break;
          case 'max-delete':
            input.maxDelete = str();
            break;
          case 'max-bytes':
            input.maxBytes = str();
            break;
          case 'protect-latest': {
            const v = scalarOf(value);
            if (typeof v !== 'boolean') fail(value, 'protect-latest must be true or false');
            input.protectLatest = v as boolean;
            break;
          }
          default:
            fail(
              pair.key as Node,
              `unknown key "${key}" (expected ${allowRepos ? 'repos, ' : ''}${RULE_KEYS.join(', ')})`,
            );
        }
        // Validate now, so the error carries this line.
        compileRules(input);
      } catch (error) {
        if (error instanceof UsageError && !error.message.startsWith(path))
          throw new UsageError(`${where}: ${error.message}`);
        throw error;
      }
    }
    return { input, ...(repos === undefined ? {} : { repos }), node: map as Node };
  };

  const defaultsNode = root.get('defaults', true);
  const defaults = defaultsNode === undefined ? { input: {} as RuleInput } : readRule(defaultsNode, false);
  const rulesNode = root.get('rules', true);
  const rules: PolicyRule[] = [];
  if (rulesNode !== undefined) {
    if (!isSeq(rulesNode)) return fail(rulesNode, 'rules must be a list');
    for (const item of rulesNode.items) {
      const rule = readRule(item, true);
      if (rule.repos === undefined) fail(rule.node, 'each rule needs "repos": a glob such as "apps/*" or ~/REGEX/');
      const repos = rule.repos!;
      const regex = /^~\/(.*)\/$/.exec(repos);
      const pattern = regex ? compilePattern(regex[1]!, `${at(rule.node)}: repos`) : globToRegExp(repos);
      rules.push({
        repos,
        where: at(rule.node),
        matches: (repository) => pattern.test(repository),
        rules: compileRules({ ...defaults.input, ...rule.input }),
      });
    }
  }
  const registry = scalarOf(root.get('registry', true));
  if (registry !== undefined && typeof registry !== 'string')
    fail(root.get('registry', true) as Node, 'registry must be a string such as registry.example.com');
  const limits: { maxDelete?: Budget; maxBytes?: number } = {};
  const topMaxDelete = root.get('max-delete', true) as Node | undefined;
  const topMaxBytes = root.get('max-bytes', true) as Node | undefined;
  try {
    if (topMaxDelete !== undefined) limits.maxDelete = parseBudget(String(scalarOf(topMaxDelete)), 'max-delete');
    if (topMaxBytes !== undefined) limits.maxBytes = parseSize(String(scalarOf(topMaxBytes)), 'max-bytes');
  } catch (error) {
    if (error instanceof UsageError) fail(topMaxDelete ?? topMaxBytes, error.message);
    throw error;
  }
  const keepInUseNode = root.get('keep-in-use', true) as Node | undefined;
  let keepInUse: string[] | undefined;
  if (keepInUseNode !== undefined) {
    const items = isSeq(keepInUseNode) ? keepInUseNode.items : [keepInUseNode];
    keepInUse = items.map((item) =>
      typeof scalarOf(item) === 'string'
        ? (scalarOf(item) as string)
        : fail(item as Node, 'keep-in-use entries must be file paths (strings)'),
    );
  }
  return {
    ...(typeof registry === 'string' ? { registry } : {}),
    defaults: compileRules(defaults.input),
    rules,
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(keepInUse ? { keepInUse } : {}),
  };
}

/** The rules for a repository: the first matching rule, else the defaults (or undefined: not covered). */
export function rulesFor(policy: Policy, repository: string, useDefaults: boolean): Rules | undefined {
  return policy.rules.find((r) => r.matches(repository))?.rules ?? (useDefaults ? policy.defaults : undefined);
}
