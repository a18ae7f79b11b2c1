import { UsageError } from './errors.js';

/**
 * Run-time checks of the objects the library takes. JavaScript callers have no type checker: a
 * misspelt rule key (`kep: 5`, the policy file's `delete-regex`) silently dropped would plan to
 * delete what the caller meant to keep. Unknown keys and wrong types are usage errors with the
 * same wording as the policy parser's. Pure.
 */

export type Kind =
  | 'string'
  | 'number'
  | 'boolean'
  | 'function'
  | 'object'
  | 'strings'
  | 'array'
  | 'string|number'
  | 'boolean|string'
  | 'boolean|object'
  | 'object|array'
  | 'string|function'
  | 'string|object';

export type Shape = Readonly<Record<string, Kind>>;

const DESCRIBE: Record<Kind, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  function: 'a function',
  object: 'an object',
  strings: 'a list of strings',
  array: 'a list',
  'string|number': 'a string or a number',
  'boolean|string': 'true, false or a string',
  'boolean|object': 'true, false or an object',
  'object|array': 'an object or a list of objects',
  'string|function': 'a string or a function',
  'string|object': 'a string or an object',
};

function fits(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'array':
      return Array.isArray(value);
    case 'object|array':
      return Array.isArray(value) || fits(value, 'object');
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return kind.split('|').some((k) => (k === 'object' ? fits(value, 'object') : typeof value === k));
  }
}

/** `delete-regex` → `deleteRegex`: the policy file's spelling of a library key. */
const camel = (key: string) => key.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());

/** Throws a UsageError naming `where` when `value` is not an object of `shape` (undefined values pass). */
export function checkOptions(value: unknown, where: string, shape: Shape): void {
  if (value === undefined) return;
  if (!fits(value, 'object')) throw new UsageError(`${where} must be an object`);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const kind = shape[key];
    if (kind === undefined) {
      const spelled = shape[camel(key)] !== undefined ? ` — did you mean "${camel(key)}"?` : '';
      const keys = Object.keys(shape).join(', ');
      throw new UsageError(`${where}: unknown key "${key.slice(0, 60)}"${spelled} (expected one of ${keys})`);
    }
    if (v !== undefined && !fits(v, kind)) throw new UsageError(`${where}.${key} must be ${DESCRIBE[kind]}`);
  }
}

const CALL: Shape = { signal: 'object', logger: 'object' };
const PROGRESS: Shape = { onProgress: 'function' };

/** The shapes of the facade's arguments (see the interfaces in krill.ts). */
export const SHAPES = {
  krill: {
    listLimits: 'object',
    registry: 'string',
    plainHttp: 'boolean',
    username: 'string',
    password: 'string|function',
    env: 'object',
    concurrency: 'number',
    timeoutMs: 'number',
    tls: 'object',
    cache: 'boolean|string',
    logger: 'object',
    signal: 'object',
    retryDelayMs: 'number',
    clientFactory: 'function',
    ledger: 'string',
  },
  call: CALL,
  du: { ...CALL, ...PROGRESS, registry: 'string', repositories: 'strings', shard: 'string' },
  listen: {
    ...CALL,
    addr: 'string',
    secret: 'string',
    secretFile: 'string',
    registry: 'string',
    countHead: 'boolean',
    ignoreAgents: 'strings',
  },
  tags: { ...CALL, ...PROGRESS, filter: 'string', exclude: 'string', namesOnly: 'boolean', limit: 'number' },
  platform: { ...CALL, platform: 'string' },
  rules: {
    tags: 'string',
    keep: 'number',
    deleteRegex: 'strings',
    keepRegex: 'strings',
    protectLatest: 'boolean',
    olderThan: 'string',
    unpulledFor: 'string',
    allowBeforeLedger: 'boolean',
    version: 'string',
    sort: 'string',
    maxDelete: 'string|number',
    maxBytes: 'string|number',
  },
  cleanup: {
    ...CALL,
    ...PROGRESS,
    repositories: 'strings',
    allRepos: 'boolean|string',
    rules: 'object|array',
    policy: 'object',
    scanAll: 'boolean',
    strict: 'boolean',
    deleteOrphans: 'boolean',
    allowBeforeLedger: 'boolean',
    shard: 'string',
    keepInUse: 'array',
    rollbackDepth: 'number',
    maxDelete: 'string|number',
    maxBytes: 'string|number',
    acceptListing: 'boolean',
    history: 'boolean',
    diff: 'boolean',
  },
  removal: { ...CALL, force: 'boolean', keepReferrers: 'boolean' },
  apply: { ...CALL, ...PROGRESS, journal: 'string|object', keepInUse: 'array', allowStaleLiveSet: 'boolean' },
  undo: { ...CALL, force: 'boolean' },
  compare: { ...CALL, with: 'string', local: 'array' },
  copy: {
    ...CALL,
    platform: 'string',
    allTags: 'boolean',
    sourceLogin: 'object',
    destinationLogin: 'object',
    onProgress: 'function',
    referrers: 'boolean',
    referrerTypes: 'strings',
    onImage: 'function',
  },
  login: { username: 'string', password: 'string' },
  syncJobs: {
    ...CALL,
    to: 'string',
    prefix: 'string',
    destinationLogin: 'object',
    shard: 'string',
    immutable: 'string',
    immutableBySpec: 'object',
  },
  sync: {
    ...CALL,
    dryRun: 'boolean',
    continueOnError: 'boolean',
    concurrency: 'number',
    onOutcome: 'function',
    shouldStop: 'function',
    onSelected: 'function',
    referrers: 'boolean|object',
    daemon: 'boolean',
  },
  syncDaemon: {
    ...CALL,
    dryRun: 'boolean',
    continueOnError: 'boolean',
    concurrency: 'number',
    onOutcome: 'function',
    onSelected: 'function',
    referrers: 'boolean|object',
    intervalMs: 'number',
    stopped: 'function',
    onRoundStart: 'function',
    onRound: 'function',
  },
  pull: { ...CALL, dryRun: 'boolean', onPulled: 'function' },
} satisfies Record<string, Shape>;
