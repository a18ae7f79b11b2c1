import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/registry.js';
import { isolatedEnv, krill } from '../harness/cli.js';
import { runKrill } from '../harness/run-cli.js';

/**
 * Bad input, table-driven: each case must exit 2 with one line naming the problem, and send no
 * request at all. The "registry" here only counts requests (any request is a failure). The table
 * runs the CLI in process (runCli, the same code bin/krill.js runs): milliseconds per case.
 */
let counter: Server;
let host: string;
let requests = 0;
const dir = mkdtempSync(join(tmpdir(), 'krill-bad-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeAll(async () => {
  counter = createServer((_req, res) => {
    requests++;
    res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(counter.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => counter.close(() => resolve())));

const digest = `sha256:${'a'.repeat(64)}`;

const cases: Array<[string, () => string[], RegExp]> = [
  ['uppercase repository', () => ['tags', `${host}/Apps/Web`], /invalid repository .*must be lowercase/],
  ['empty path component', () => ['tags', `${host}/apps//web`], /invalid repository/],
  ['empty reference', () => ['tags', ''], /missing image reference/],
  ['empty tag', () => ['inspect', `${host}/web:`], /invalid tag ""/],
  ['tag starting with -', () => ['inspect', `${host}/web:-x`], /invalid tag "-x"/],
  ['tag too long', () => ['inspect', `${host}/web:${'x'.repeat(129)}`], /invalid tag/],
  ['short digest', () => ['inspect', `${host}/web@sha256:abc`], /invalid digest "sha256:abc"/],
  ['unknown digest algorithm', () => ['inspect', `${host}/web@md5:${'a'.repeat(32)}`], /invalid digest/],
  ['URL as reference', () => ['inspect', `http://${host}/web:1`], /references take no URL scheme/],
  ['tag where a repository is expected', () => ['tags', `${host}/web:1.0`], /drop the :TAG or @DIGEST/],
  ['rm without tag or digest', () => ['rm', `${host}/web`, '--yes'], /names no tag or digest/],
  ['rm with tag and digest', () => ['rm', `${host}/web:1@${digest}`, '--yes'], /names both a tag and a digest/],
  ['copy to a digest', () => ['copy', `${host}/web:1`, `${host}/other@${digest}`], /names a tag, not a digest/],
  ['registry with a bad scheme', () => ['repos', 'ftp://example.com'], /only http:\/\/ and https:\/\//],
  ['registry with a path', () => ['repos', `${host}/some/path`], /expected host\[:port\]/],
  ['unknown flag', () => ['tags', `${host}/web`, '--bogus'], /unknown option '--bogus'/],
  ['missing argument', () => ['tags'], /missing required argument 'repository'/],
  ['unknown command', () => ['tagz', `${host}/web`], /unknown command 'tagz'/],
  ['zero concurrency', () => ['--concurrency', '0', 'tags', `${host}/web`], /--concurrency must be between 1 and 256/],
  [
    'non-numeric concurrency',
    () => ['--concurrency', 'many', 'tags', `${host}/web`],
    /--concurrency must be a whole number/,
  ],
  ['bad timeout', () => ['--timeout', '5x', 'tags', `${host}/web`], /expected a duration such as 30s/],
  ['zero limit', () => ['tags', `${host}/web`, '--limit', '0'], /--limit must be between 1/],
  ['negative keep', () => ['cleanup', `${host}/web`, '--keep', '-1'], /--keep|unknown option '-1'/],
  ['absurd keep', () => ['cleanup', `${host}/web`, '--keep', '1000000000'], /--keep must be between 0 and 100000/],
  ['non-numeric keep', () => ['cleanup', `${host}/web`, '--keep', 'ten'], /--keep must be a whole number/],
  ['bad --filter regex', () => ['tags', `${host}/web`, '--filter', '('], /invalid --filter regex "\("/],
  ['bad --exclude regex', () => ['tags', `${host}/web`, '--exclude', '['], /invalid --exclude regex "\["/],
  ['bad --delete-regex', () => ['cleanup', `${host}/web`, '--delete-regex', '*'], /invalid delete-regex regex "\*"/],
  ['bad --keep-regex', () => ['cleanup', `${host}/web`, '--keep-regex', '(?<'], /invalid keep-regex regex/],
  [
    'duration without unit',
    () => ['cleanup', `${host}/web`, '--older-than', '30'],
    /invalid older-than "30": expected a duration such as 30d/,
  ],
  ['duration with unknown unit', () => ['cleanup', `${host}/web`, '--older-than', '3y'], /invalid older-than "3y"/],
  ['zero duration', () => ['cleanup', `${host}/web`, '--older-than', '0d'], /must be greater than zero/],
  [
    'bad semver range',
    () => ['cleanup', `${host}/web`, '--semver', 'not a range'],
    /invalid version range "not a range"/,
  ],
  ['another bad semver range', () => ['cleanup', `${host}/web`, '--version', '>>1'], /invalid version range/],
  [
    'missing policy file',
    () => ['cleanup', '-f', '/nonexistent/policy.yaml'],
    /cannot read policy file \/nonexistent\/policy\.yaml: ENOENT/,
  ],
  [
    'invalid YAML',
    () => ['cleanup', '-f', file('bad.yaml', 'version: 1\nrules:\n  - repos: [x\n')],
    /bad\.yaml:\d+: invalid YAML/,
  ],
  [
    'unknown policy key',
    () => ['cleanup', '-f', file('kep.yaml', 'version: 1\nrules:\n  - repos: x\n    kep: 3\n')],
    /kep\.yaml:4: unknown key "kep"/,
  ],
  ['policy version', () => ['cleanup', '-f', file('v2.yaml', 'version: 2\n')], /v2\.yaml:1: version must be 1/],
  [
    'policy with rule flags',
    () => ['cleanup', '-f', file('ok.yaml', 'version: 1\n'), '--keep', '3'],
    /cannot be combined with -f/,
  ],
  ['cleanup without target', () => ['cleanup'], /name what to clean up/],
  [
    'missing plan',
    () => ['apply', '/nonexistent/plan.json', '--yes'],
    /cannot read plan \/nonexistent\/plan\.json: ENOENT/,
  ],
  ['plan that is not JSON', () => ['apply', file('plan.txt', 'hello'), '--yes'], /is not JSON/],
  ['JSON that is not a plan', () => ['apply', file('plan.json', '{"a":1}'), '--yes'], /is not a krill plan/],
  ['missing journal', () => ['undo', '/nonexistent/journal.jsonl'], /cannot read journal/],
  [
    'journal that is not one',
    () => ['undo', file('journal.jsonl', 'nonsense\n')],
    /journal\.jsonl:1: not JSON; pass the journal file/,
  ],
  ['journal that is an empty file', () => ['undo', file('empty.jsonl', '')], /empty\.jsonl is not a krill journal/],
  [
    'journal of binary garbage without a newline',
    () => ['undo', file('garbage.jsonl', '\u0000\u00ff\u0001garbage')],
    /garbage\.jsonl is not a krill journal/,
  ],
  [
    '--journal under a regular file',
    () => ['cleanup', `${host}/web`, '--keep', '1', '--yes', '--journal', join(file('plain', 'x'), 'j.jsonl')],
    /--journal .*plain\/j\.jsonl: a part of the path is a file, not a directory/,
  ],
  [
    '--journal in a missing directory',
    () => ['rm', `${host}/web:1`, '--yes', '--journal', join(dir, 'no-such-dir', 'j.jsonl')],
    /--journal .*: the directory .*no-such-dir does not exist/,
  ],
  [
    '--journal that is a directory',
    () => ['cleanup', `${host}/web`, '--keep', '1', '--journal', dir],
    /--journal .*: exists and is not a regular file/,
  ],
  [
    '--journal that is a device',
    () => ['apply', file('p.json', '{}'), '--journal', '/dev/null'],
    /--journal \/dev\/null: exists and is not a regular file/,
  ],
  [
    'missing CA file',
    () => ['--ca-cert', '/nonexistent/ca.pem', 'tags', `${host}/web`],
    /cannot read --ca-cert \/nonexistent\/ca\.pem: ENOENT/,
  ],
  [
    'client cert without key',
    () => ['--client-cert', file('c.pem', 'x'), 'tags', `${host}/web`],
    /--client-cert needs --client-key/,
  ],
  [
    'password without username',
    () => ['-p', 'secret', 'tags', `${host}/web`],
    /a password was given without --username/,
  ],
  [
    'both password flags',
    () => ['-u', 'u', '-p', 'x', '--password-stdin', 'tags', `${host}/web`],
    /either --password or --password-stdin/,
  ],
  ['bad --platform', () => ['inspect', `${host}/web:1`, '--platform', 'linux'], /invalid --platform "linux"/],
  [
    'bad copy --platform',
    () => ['copy', `${host}/web:1`, `${host}/x:1`, '--platform', 'x/y/z/w'],
    /invalid --platform/,
  ],
  ['rm across registries', () => ['rm', `${host}/web:1`, 'other.example.com/web:1', '--yes'], /one registry at a time/],
  ['catalog of Docker Hub', () => ['repos'], /Docker Hub does not offer the catalog API/],
  ['port above 65535', () => ['tags', '127.0.0.1:99999/web'], /port 99999 is outside 1-65535/],
  ['malformed IPv6 literal', () => ['tags', '[1::2::3]:5000/web'], /\[1::2::3\] is not an IPv6 address/],
  [
    'credentials in --registry',
    () => ['-r', 'http://user:hunter2@example.com', 'tags', 'web'],
    /credentials in the URL are not accepted; pass --username/,
  ],
  [
    '--ca-cert that is not PEM',
    () => ['--ca-cert', file('ca.der', 'not a certificate'), 'tags', `${host}/web`],
    /--ca-cert .*ca\.der is not a PEM file/,
  ],
  [
    '--client-key that is not PEM',
    () => [
      '--client-cert',
      file('c2.pem', '-----BEGIN CERTIFICATE-----\nx\n'),
      '--client-key',
      file('k.bin', 'binary'),
      'tags',
      `${host}/web`,
    ],
    /--client-key .*k\.bin is not a PEM file/,
  ],
  [
    'plan with a hostile digest',
    () => [
      'apply',
      file(
        'hostile-plan.json',
        JSON.stringify({
          kind: 'krill-plan',
          version: 1,
          registry: { host, scheme: 'auto' },
          createdAt: 'x',
          reclaimableBytes: 0,
          assumption: null,
          repositories: [
            {
              repository: 'web',
              keep: [],
              delete: [],
              actions: [{ kind: 'delete-manifest', digest: 'sha256:../../x', tags: [] }],
            },
          ],
        }),
      ),
      '--yes',
    ],
    /\$\.repositories\[0\]\.actions\[0\]\.digest/,
  ],
  [
    'journal with a hostile repository',
    () => [
      'undo',
      file(
        'hostile.jsonl',
        `${JSON.stringify({ kind: 'untag', registry: { host, scheme: 'auto' }, repository: '../victim', digest, mediaType: 'x', manifest: '', tags: ['a'], time: 'x' })}\n`,
      ),
      '--yes',
    ],
    /hostile\.jsonl:1: invalid "repository"/,
  ],
  ['--sort that is not date or semver', () => ['cleanup', `${host}/web`, '--sort', 'name'], /--sort/],
  [
    '--unpulled-for that is not a duration',
    () => ['cleanup', `${host}/web`, '--unpulled-for', '90 days'],
    /invalid unpulled-for "90 days"/,
  ],
  [
    '--allow-before-ledger alone',
    () => ['cleanup', `${host}/web`, '--allow-before-ledger'],
    /works with --unpulled-for/,
  ],
  [
    'a ledger that is neither sqlite: nor postgres://',
    () => ['--ledger', 'mysql://u:hunter2@db/x', 'cleanup', `${host}/web`, '--unpulled-for', '9d'],
    /invalid --ledger "mysql:\/\/u:\*\*\*@db\/x": expected sqlite:PATH/,
  ],
  [
    'listen without a secret',
    () => ['listen', '--addr', '127.0.0.1:0'],
    /needs a shared secret: --secret-file FILE or KRILL_LEDGER_SECRET/,
  ],
  [
    'listen with a short secret',
    () => ['listen', '--addr', '127.0.0.1:0', '--secret-file', file('short.secret', 'abc\n')],
    /secret is too short/,
  ],
  [
    'listen with an unreadable secret file',
    () => ['listen', '--secret-file', join(dir, 'none')],
    /cannot read --secret-file .*ENOENT/,
  ],
  [
    'listen with a bad --addr',
    () => ['listen', '--addr', 'localhost', '--secret-file', file('ok.secret', 'x'.repeat(32))],
    /invalid --addr "localhost": expected HOST:PORT/,
  ],
  ['history of an invalid tag', () => ['history', `${host}/web:-x`], /invalid tag "-x"/],
  ['history of a digest', () => ['history', `${host}/web@${digest}`], /krill history follows tags/],
  [
    'ledger status with a bad --stale-after',
    () => ['ledger', 'status', '--stale-after', 'soon'],
    /invalid --stale-after "soon"/,
  ],
];

describe('bad input: exit 2, one line, no request', () => {
  it(`has at least 40 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  for (const [name, args, message] of cases) {
    it(name, async () => {
      const before = requests;
      const res = await runKrill(args(), { env: isolatedEnv() });
      const lines = res.stderr.split('\n').filter((l) => l !== '' && !l.includes('warning:'));
      expect(res.code, res.stderr).toBe(2);
      expect(lines, res.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^krill: /);
      expect(lines[0]).toMatch(message);
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(requests - before).toBe(0);
    });
  }

  it('a broken docker config.json stops krill only when the registry asks for credentials (like docker)', async () => {
    const env = isolatedEnv();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
    writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), '{broken');
    const anonymous = await runKrill(['tags', `${host}/web`, '--no-details'], { env });
    expect(anonymous.stderr).not.toMatch(/config\.json/);
    const { startRegistry } = await import('../harness/registry.js');
    const basic = await startRegistry({ auth: 'basic' });
    try {
      const res = await runKrill(['tags', `${basic.host}/web`], { env });
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/config\.json is not valid JSON/);
    } finally {
      await basic.stop();
    }
  });
});

describe('remote failures: exit 1, one line', () => {
  it('an unreachable host names the address tried', async () => {
    const port = await freePort();
    const res = await krill(['tags', `127.0.0.1:${port}/web`]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toBe(
      `krill: cannot reach https://127.0.0.1:${port} (connection refused): check the address and that the registry is running`,
    );
  });

  it('an HTML error page from a proxy is one line naming the registry and request', async () => {
    const res = await krill(['--timeout', '5s', 'tags', `${host}/web`]);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(new RegExp(`${host.replace(/\./g, '\\.')}`));
  });
});
