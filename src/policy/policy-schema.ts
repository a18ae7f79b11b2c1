/**
 * JSON Schema (draft 2020-12) of the policy file, for editors (yaml-language-server, VS Code):
 * `krill policy schema > policy.schema.json`. parsePolicy is the authority (it also compiles
 * regexes and ranges); a unit test keeps the two in step.
 */
function budget(description: string) {
  return {
    oneOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: '^\\d+(\\.\\d+)?%$' },
    ],
    description,
  };
}
function size(description: string) {
  return {
    oneOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: '^\\d+(\\.\\d+)?\\s*[a-zA-Z]*$' },
    ],
    description,
  };
}

const rule = {
  keep: { type: 'integer', minimum: 0, maximum: 100000, description: 'keep the N newest images' },
  'older-than': {
    type: 'string',
    pattern: '^(\\d+(ms|s|m|h|d|w))+$',
    description: 'only delete images older than this (30d, 12h, 2w)',
  },
  'unpulled-for': {
    type: 'string',
    pattern: '^(\\d+(ms|s|m|h|d|w))+$',
    description: 'only delete images nobody pulled for this long (needs the ledger: krill listen)',
  },
  'allow-before-ledger': {
    type: 'boolean',
    description: 'with unpulled-for: images pushed before the ledger began may go (default false: kept)',
  },
  'delete-regex': {
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'only tags matching are candidates (RE2)',
  },
  'keep-regex': {
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'tags matching are always kept (RE2)',
  },
  semver: { type: 'string', description: "only semantic versions in this range are candidates, e.g. '<1.4'" },
  version: { type: 'string', description: 'deprecated spelling of semver' },
  'protect-latest': { type: 'boolean', description: 'keep the tag latest (default true)' },
  sort: { enum: ['date', 'semver'], description: 'what "newest" means for keep' },
  'max-delete': budget('the most tags a plan may remove from one repository: N or P%'),
  'max-bytes': size('the most bytes a plan may free in one repository'),
} as const;

export const POLICY_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'krill cleanup policy',
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: { const: 1 },
    registry: { type: 'string', description: 'registry host[:port] or URL' },
    'max-delete': budget('the most tags the whole plan may remove: N or P% (default 50% for policy files)'),
    'max-bytes': size('the most bytes the whole plan may free'),
    'keep-in-use': {
      oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
      description: 'files of image references that workloads run: never deleted',
    },
    defaults: { type: 'object', additionalProperties: false, properties: rule },
    rules: {
      type: 'array',
      description:
        'the first rule whose repos matches wins; keys it leaves out come from defaults. Rules with tags all count: a tag is kept when any rule that selects it keeps it',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['repos'],
        properties: {
          repos: { type: 'string', description: 'glob (* ** ?) or ~/REGEX/' },
          tags: { type: 'string', description: 'REGEX: the rule decides only the tags it matches' },
          ...rule,
        },
      },
    },
  },
} as const;
