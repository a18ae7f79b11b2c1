import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import type { FakeRegistry } from '../harness/fake-registry.js';
import { startFakeRegistry } from '../harness/fake-registry.js';
import { seedApiRepository } from '../harness/fixtures.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill, terminalIo } from '../harness/run-cli.js';
import { TOKEN_USERS } from '../harness/token-issuer.js';

// What people coming from lstags, docker and terraform expect (issue 12, "wrong results"): the real
// registry, and a labelled fake (test/harness/fake-registry.ts) where the request log matters.
let registry: TestRegistry;
let fake: FakeRegistry;

beforeAll(async () => {
  [registry, fake] = await Promise.all([startRegistry(), startFakeRegistry()]);
  await seedApiRepository(registry, 'apps/api');
  for (const tag of ['3.19', '3.20', '3.21', 'edge'])
    fake.add('library/alpine', buildImage({ layers: [`alpine ${tag}`] }), tag);
});
afterAll(async () => {
  await Promise.all([registry?.stop(), fake?.close()]);
});

describe('REPO=TAG1,TAG2 means only those tags (lstags)', () => {
  it('pull and sync take exactly the named tags and never read the tag list', async () => {
    const before = fake.log.length;
    const pull = await runKrill([
      'pull',
      `${fake.host}/library/alpine=3.19,3.20`,
      '--dry-run',
      '--json',
      '--plain-http',
    ]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(JSON.parse(pull.stdout)).toEqual([`${fake.host}/library/alpine:3.19`, `${fake.host}/library/alpine:3.20`]);
    const sync = await runKrill([
      'sync',
      `${fake.host}/library/alpine=3.21`,
      '--to',
      `${registry.host}/mirror`,
      '--plain-http',
      '--json',
    ]);
    expect(sync.code, sync.stderr).toBe(0);
    expect(JSON.parse(sync.stdout).map((o: { tag: string }) => o.tag)).toEqual(['3.21']);
    expect(fake.log.slice(before).filter((r) => r.path.includes('/tags/list'))).toEqual([]);
  });
});

describe('--plan-out', () => {
  it('saves the plan and exits 0 without asking or applying; with --yes it saves and applies', async () => {
    const env = isolatedEnv();
    const planPath = join(env.HOME!, 'plan.json');
    const before = await new Pusher(registry).tags('apps/api');
    const saved = await runKrill(['rm', `${registry.host}/apps/api:1.0.0`, '--plan-out', planPath], { env });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stderr).toMatch(/plan saved to .*plan\.json; apply it with: krill apply/);
    expect(await new Pusher(registry).tags('apps/api')).toEqual(before);
    const applied = await runKrill(['rm', `${registry.host}/apps/api:1.0.0`, '--plan-out', planPath, '--yes'], { env });
    expect(applied.code, applied.stderr).toBe(0);
    expect(await new Pusher(registry).tags('apps/api')).not.toContain('1.0.0');
    // In a CI log, "apply it with" would read as "nothing was done".
    expect(applied.stderr).not.toMatch(/apply it with/);
    expect(applied.stderr).toMatch(/^krill: applied; plan saved to .*plan\.json$/m);
  });
});

describe('a docker config.json that docker tolerates does not stop krill', () => {
  it.each([
    ['empty', ''],
    ['a newline only', '\n'],
    ['whitespace', '  \n\t\n'],
    ['{}', '{}'],
  ])('%s', async (_name, text) => {
    const env = isolatedEnv();
    mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
    writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), text);
    const res = await runKrill(['tags', `${registry.host}/apps/api`, '--no-details'], { env });
    expect(res.code, res.stderr).toBe(0);
  });

  it('config.json being a directory (an optional secret mount)', async () => {
    const env = isolatedEnv();
    mkdirSync(join(env.DOCKER_CONFIG!, 'config.json'), { recursive: true });
    const res = await runKrill(['tags', `${registry.host}/apps/api`, '--no-details'], { env });
    expect(res.code, res.stderr).toBe(0);
  });
});

describe('policy files', () => {
  const policy = (text: string) => {
    const env = isolatedEnv();
    const path = join(env.HOME!, 'policy.yaml');
    writeFileSync(path, text);
    return { env, path };
  };

  it('the command line and the policy file naming different registries is an error naming both', async () => {
    const { env, path } = policy(`version: 1\nregistry: prod.example.com\ndefaults: {keep: 3}\n`);
    const res = await runKrill(['-r', registry.host, 'cleanup', '-f', path, '--dry-run'], { env });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/names registry prod\.example\.com but the command line names 127\.0\.0\.1:\d+/);
  });

  it('a rule that matches no repository is a warning naming the file and line; --strict makes it exit 2', async () => {
    const { env, path } = policy(
      `version: 1\nregistry: ${registry.host}\nrules:\n  - repos: "apps/*"\n    keep: 100\n  - repos: "appz/*"\n    keep: 1\n`,
    );
    const warned = await runKrill(['cleanup', '-f', path, '--dry-run'], { env });
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/policy\.yaml:6: the rule for repos "appz\/\*" matches no repository/);
    const strict = await runKrill(['cleanup', '-f', path, '--dry-run', '--strict'], { env });
    expect(strict.code).toBe(2);
  });
});

describe('one plan for every tag family', () => {
  const day = 86_400_000;
  const ago = (days: number) => new Date(Date.now() - days * day).toISOString();
  let families: string;
  beforeAll(async () => {
    families = 'apps/families';
    const p = new Pusher(registry);
    for (let n = 1; n <= 7; n++)
      await p.push(families, buildImage({ created: ago(100 - n), layers: [`release ${n}`] }), `v${n}`);
    await p.push(families, buildImage({ created: ago(20), layers: ['mr 1'] }), 'mr-1');
    await p.push(families, buildImage({ created: ago(2), layers: ['mr 2'] }), 'mr-2');
    await p.push(families, buildImage({ created: ago(40), layers: ['main 1'] }), 'main-1');
    await p.push(families, buildImage({ created: ago(10), layers: ['main 2'] }), 'main-2');
    await p.push(families, buildImage({ created: ago(90), layers: ['feature'] }), 'feature-x');
  });
  const expected = ['mr-1', 'main-1', 'v1', 'v2'].sort();

  it('--rule, repeated: one plan, a reason naming the rule, tags no rule selects kept', async () => {
    const res = await runKrill([
      'cleanup',
      `${registry.host}/${families}`,
      '--rule',
      'tags=^v keep=5',
      '--rule',
      'tags=^mr- keep=0 older-than=7d',
      '--rule',
      'tags=^main- keep=0 older-than=30d',
      '--dry-run',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout).repositories[0];
    expect(plan.delete.map((t: { tag: string }) => t.tag).sort()).toEqual(expected);
    const reasons = Object.fromEntries(
      [...plan.keep, ...plan.delete].map((t: { tag: string; reason: string }) => [t.tag, t.reason]),
    );
    expect(reasons['mr-1']).toBe('rule 2 (^mr-): older than 7d');
    expect(reasons['feature-x']).toBe('no rule selects this tag');
  });

  it('the same as a policy file with tags:, the README recipe', async () => {
    const env = isolatedEnv();
    const path = join(env.HOME!, 'policy.yaml');
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const recipe = /### Policy files\n[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    writeFileSync(path, recipe.replace('registry.example.com', registry.host).replaceAll('apps/*', families));
    const res = await runKrill(['cleanup', '-f', path, '--dry-run', '--json'], { env });
    expect(res.code, res.stderr).toBe(0);
    const plan = JSON.parse(res.stdout).repositories.find((r: { repository: string }) => r.repository === families);
    expect(plan.delete.map((t: { tag: string }) => t.tag).sort()).toEqual(expected);
  });

  it('--rule with a rule flag, or a key it does not know, is exit 2 naming the fix', async () => {
    const mixed = await runKrill([
      'cleanup',
      `${registry.host}/${families}`,
      '--rule',
      'tags=^v keep=5',
      '--keep',
      '3',
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/--rule cannot be combined with --keep/);
    const unknown = await runKrill(['cleanup', `${registry.host}/${families}`, '--rule', 'tag=^v keep=5']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown key "tag" \(keys: tags, keep, older-than/);
  });
});

describe('messages and conventions', () => {
  it('aliases: ls, catalog, delete, cp', async () => {
    const ls = await runKrill(['ls', `${registry.host}/apps/api`, '--no-details']);
    expect(ls.code, ls.stderr).toBe(0);
    const catalog = await runKrill(['catalog', registry.host]);
    expect(catalog.stdout).toContain('apps/api');
    const del = await runKrill(['delete', `${registry.host}/apps/api:nope`, '--yes']);
    expect(del.stderr).toMatch(/has no tag nope/);
    const cp = await runKrill(['cp', '--help']);
    expect(cp.stdout).toMatch(/Usage: krill copy/);
  });

  it('no command prints the help on stdout and exits 2; help of an unknown command exits 2', async () => {
    const none = await runKrill([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^Usage: krill/);
    const nope = await runKrill(['help', 'nope']);
    expect(nope.code).toBe(2);
    expect(nope.stderr).toMatch(/unknown command 'nope'/);
  });

  it('krill version (and --json) tells the version, Node and platform', async () => {
    const res = await runKrill(['version', '--json']);
    expect(JSON.parse(res.stdout)).toEqual({
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      node: process.version,
      platform: `${process.platform}/${process.arch}`,
    });
  });

  it('--version after global flags prints the version like --version alone', async () => {
    const alone = await runKrill(['--version']);
    expect(alone.stdout).toMatch(/^\d+\.\d+\.\d+/);
    for (const argv of [
      ['--verbose', '--version'],
      ['-r', 'localhost:1', '-q', '-V'],
      ['--no-color', '--version'],
    ]) {
      const res = await runKrill(argv);
      expect({ argv, code: res.code, stdout: res.stdout }).toEqual({ argv, code: 0, stdout: alone.stdout });
    }
    // After a command, --version is that command's option, not the program's.
    expect((await runKrill(['cleanup', '--version', '>=1'])).stdout).not.toBe(alone.stdout);
  });

  it('an option value starting with - gets a message naming the = form', async () => {
    const res = await runKrill(['tags', `${registry.host}/apps/api`, '--exclude', '-rc']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/a value starting with - needs the = form: --exclude=-VALUE/);
  });

  it('a registry answering plain HTTP on https:// says to use --plain-http', async () => {
    const res = await runKrill(['tags', 'apps/api', '-r', `https://${registry.host}`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/answered plain HTTP on its HTTPS port: pass --plain-http or use http:\/\//);
  });

  it('a web server that is not a registry is named as such, also when no ping went first (known scheme, anonymous)', async () => {
    const web = createServer((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'),
    );
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    try {
      const host = `127.0.0.1:${(web.address() as AddressInfo).port}`;
      for (const argv of [
        ['tags', 'apps/api', '-r', `http://${host}`],
        ['inspect', `${host}/apps/api:1`, '--plain-http'],
      ]) {
        const res = await runKrill(argv);
        expect(res.code).toBe(1);
        expect(res.stderr).toMatch(
          /does not look like a registry: GET http:\/\/127\.0\.0\.1:\d+\/v2\/ answered HTTP 404/,
        );
      }
    } finally {
      web.close();
    }
  });

  it('every --help fits 80 columns, lists version, names --semver, and policy has examples', async () => {
    const commands = [
      [],
      ...[
        'repos',
        'tags',
        'inspect',
        'rm',
        'cleanup',
        'apply',
        'copy',
        'sync',
        'compare',
        'pull',
        'undo',
        'digest',
        'login',
        'logout',
        'config',
        'completion',
        'policy',
      ].map((c) => [c]),
      ['policy', 'test'],
      ['policy', 'schema'],
    ];
    for (const command of commands) {
      const res = await runKrill([...command, '--help']);
      expect(res.code, command.join(' ')).toBe(0);
      const long = res.stdout.split('\n').filter((line) => line.length > 80);
      expect(long, `krill ${command.join(' ')} --help`).toEqual([]);
    }
    expect((await runKrill(['--help'])).stdout).toMatch(/^ {2}version +print the version/m);
    const cleanup = (await runKrill(['cleanup', '--help'])).stdout;
    expect(cleanup).toContain('--semver');
    expect(cleanup).not.toMatch(/--version/);
    expect((await runKrill(['policy', '--help'])).stdout).toMatch(/Examples:\n {2}\$ krill policy test/);
  });

  it('a misspelt repository gets a did-you-mean from the catalog', async () => {
    const res = await runKrill(['tags', `${registry.host}/apps/aip`]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(`krill: repository apps/aip does not exist on ${registry.host}: did you mean apps/api?\n`);
    const far = await runKrill(['tags', `${registry.host}/nothing/like/it`]);
    expect(far.stderr).not.toMatch(/did you mean/);
  });

  it('-o json points to --json', async () => {
    const res = await runKrill(['tags', `${registry.host}/apps/api`, '-o', 'json']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/; for JSON pass --json \(see krill --help\)\n$/);
  });

  it('--older-than without --keep says in one line that only protected tags stay', async () => {
    const res = await runKrill(['cleanup', `${registry.host}/apps/api`, '--older-than', '30d', '--dry-run']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('No --keep: every tag older than 30d goes, `latest` excepted.');
    const kept = await runKrill([
      'cleanup',
      `${registry.host}/apps/api`,
      '--older-than',
      '30d',
      '--keep',
      '2',
      '--dry-run',
    ]);
    expect(kept.stdout).not.toContain('No --keep');
  });

  it('planning one repository on a terminal counts its tags (not "repositories 0/1")', async () => {
    const { runCli } = await import('../../src/cli/main.js');
    let err = '';
    const code = await runCli(
      ['cleanup', `${registry.host}/apps/api`, '--keep', '2', '--dry-run'],
      terminalIo({ err: (t) => void (err += t) }),
    );
    expect(code, err).toBe(0);
    const tags = (await new Pusher(registry).tags('apps/api')).length;
    expect(err).toContain(`reading tags ${tags}/${tags}`);
    expect(err).not.toContain('reading repositories');
  });

  it('Ctrl-C at the confirmation prompt: "cancelled; nothing was changed", exit 130; end of input is "no"', async () => {
    const { runCli } = await import('../../src/cli/main.js');
    const { AbortedError } = await import('../../src/errors.js');
    const run = async (prompt: () => Promise<string>) => {
      let err = '';
      const code = await runCli(
        ['rm', `${registry.host}/apps/api:1.1.0`],
        terminalIo({ err: (t) => void (err += t), prompt }),
      );
      return { code, err };
    };
    const interrupted = await run(async () => {
      throw new AbortedError('cancelled; nothing was changed');
    });
    expect(interrupted).toEqual({ code: 130, err: 'krill: cancelled; nothing was changed\n' });
    const eof = await run(async () => '');
    expect(eof.code).toBe(0);
    expect(eof.err).toMatch(/cancelled; nothing was changed/);
    expect(await new Pusher(registry).tags('apps/api')).toContain('1.1.0');
  });
});

describe('crane-like reads', () => {
  it('krill digest and inspect --config print what crane digest and crane config print', async () => {
    const image = buildImage({ created: '2025-05-05T00:00:00Z', layers: ['digest test'], labels: { a: 'b' } });
    await new Pusher(registry).push('apps/crane', image, 'v1');
    const digest = await runKrill(['digest', `${registry.host}/apps/crane:v1`]);
    expect(digest.stdout).toBe(`${image.digest}\n`);
    const config = await runKrill(['inspect', `${registry.host}/apps/crane:v1`, '--config']);
    expect(config.code, config.stderr).toBe(0);
    const configDigest = (JSON.parse(image.bytes.toString()) as { config: { digest: string } }).config.digest;
    const expected = image.blobs.find((b) => b.digest === configDigest)!.bytes.toString();
    expect(config.stdout).toBe(`${expected}\n`);
  });
});

describe('cleanup plans a person can check', () => {
  it('rows show CREATED and SIZE; more than ten kept tags are summarised unless --show-kept', async () => {
    const pusher = new Pusher(registry);
    for (let i = 1; i <= 13; i++) {
      const day = String(i).padStart(2, '0');
      await pusher.push(
        'apps/many',
        buildImage({ created: `2025-01-${day}T00:00:00Z`, layers: [`many ${i}`] }),
        `v${i}`,
      );
    }
    const plan = await runKrill(['cleanup', `${registry.host}/apps/many`, '--keep', '12', '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/ACTION\s+TAG\s+DIGEST\s+CREATED\s+SIZE\s+REASON/);
    // 80 columns: the date without its time, 12 hex digits, the kept summary on a line of its own.
    expect(plan.stdout).toMatch(/delete\s+v1\s+[0-9a-f]{12}\s+2025-01-01\s+\d+ B\s+not among the newest 12\n/);
    expect(plan.stdout).toMatch(/\n {2}kept: 12 tags, newest 12: 12 \(--show-kept lists them\)\n/);
    expect(plan.stdout.split('\n').filter((line) => line.length > 80)).toEqual([]);
    // -o wide: everything, whatever the width.
    const wide = await runKrill(['cleanup', `${registry.host}/apps/many`, '--keep', '12', '--dry-run', '-o', 'wide']);
    expect(wide.stdout).toMatch(
      /delete\s+v1\s+sha256:[0-9a-f]{64}\s+2025-01-01T00:00:00Z\s+\d+ B\s+not among the newest 12/,
    );
    const all = await runKrill(['cleanup', `${registry.host}/apps/many`, '--keep', '12', '--dry-run', '--show-kept']);
    expect(all.stdout.match(/^\s+keep\s+v\d+/gm)).toHaveLength(12);
  });
});

describe('notes', () => {
  it('the garbage-collection hint is one sentence (wrapped to 80 columns), and -q silences it', async () => {
    const pusher = new Pusher(registry);
    await pusher.push('apps/notes', buildImage({ layers: ['note a'] }), 'a', 'b');
    const loud = await runKrill(['rm', `${registry.host}/apps/notes:a`, '--yes']);
    const hint =
      'Space is freed when the registry garbage-collects: registry garbage-collect CONFIG (without --delete-untagged on distribution 2.8).';
    expect(loud.stdout.replaceAll('\n', ' ')).toContain(hint);
    // (A path is one word: the undo command's line is the only one allowed past 80 columns.)
    expect(loud.stdout.split('\n').filter((l) => l.length > 80 && !/^ {2}krill undo \S+$/.test(l))).toEqual([]);
    const quiet = await runKrill(['-q', 'rm', `${registry.host}/apps/notes:b`, '--yes']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).not.toContain('garbage-collect');
  });
});

describe('no credential needs the command line', () => {
  it('copy takes the destination password from --dest-password-stdin or KRILL_DEST_*', async () => {
    const { BASIC_PASSWORD, BASIC_USER } = await import('../harness/registry.js');
    const basic = await startRegistry({ auth: 'basic' });
    try {
      const piped = await runKrill(
        [
          'copy',
          `${registry.host}/apps/api:2.0.0`,
          `${basic.host}/copied/api:2.0.0`,
          '--dest-username',
          BASIC_USER,
          '--dest-password-stdin',
        ],
        { stdin: BASIC_PASSWORD },
      );
      expect(piped.code, piped.stderr).toBe(0);
      const fromEnv = await runKrill(['copy', `${registry.host}/apps/api:1.1.0`, `${basic.host}/copied/api:1.1.0`], {
        env: isolatedEnv({ KRILL_DEST_USERNAME: BASIC_USER, KRILL_DEST_PASSWORD: BASIC_PASSWORD }),
      });
      expect(fromEnv.code, fromEnv.stderr).toBe(0);
      // 2.0.0's legacy cosign signature travels with it (through the same destination credentials).
      const subject = (await new Pusher(registry).resolve('apps/api', '2.0.0'))!;
      const signature = `${subject.replace(':', '-')}.sig`;
      expect(await new Pusher(basic).tags('copied/api')).toEqual(['1.1.0', '2.0.0', signature].sort());
    } finally {
      await basic.stop();
    }
  });
});

describe('a short digest copied from a table', () => {
  it('resolves to the one digest with that prefix; none or several are clear errors', async () => {
    const full = (await new Pusher(registry).resolve('apps/api', '2.0.0'))!;
    const short = full.slice(0, 19); // sha256: and 12 hex, as the tables print it
    const inspect = await runKrill(['inspect', `${registry.host}/apps/api@${short}`, '--json']);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).digest).toBe(full);
    expect((await runKrill(['digest', `${registry.host}/apps/api@${short}`])).stdout.trim()).toBe(full);
    const none = await runKrill(['inspect', `${registry.host}/apps/api@sha256:0000000deadbeef`]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no tag of apps\/api points at a digest starting with sha256:0000000deadbeef/);
    // Two digests sharing a prefix (LABELLED FAKE registry: real content cannot be made to collide).
    const a = `sha256:abcdef1${'1'.repeat(57)}`;
    const b = `sha256:abcdef1${'2'.repeat(57)}`;
    fake.tags.set(
      'short/x',
      new Map([
        ['one', a],
        ['two', b],
      ]),
    );
    for (const d of [a, b])
      fake.manifests.set(d, { bytes: Buffer.from('{}'), mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    const ambiguous = await runKrill(['rm', `${fake.host}/short/x@sha256:abcdef1`, '--dry-run']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(
      /sha256:abcdef1 is ambiguous in short\/x: .*\(one\); .*\(two\); give more of the digest/,
    );
  });
});

describe('krill completion', () => {
  it('bash completes commands and each command’s flags, generated from the program itself', async () => {
    const res = await runKrill(['completion', 'bash']);
    expect(res.code, res.stderr).toBe(0);
    const complete = (words: string[]) => {
      const script = `${res.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _krill; echo "\${COMPREPLY[*]}"`;
      return spawnSync('bash', ['-c', script], { encoding: 'utf8' }).stdout.trim().split(' ');
    };
    expect(complete(['krill', 'cle'])).toEqual(['cleanup']);
    expect(complete(['krill', 'cleanup', '--keep-in'])).toEqual(['--keep-in-use']);
    expect(complete(['krill', 'ls', '--no-'])).toEqual(expect.arrayContaining(['--no-details', '--no-headers']));
    expect(complete(['krill', 'policy', ''])).toEqual(expect.arrayContaining(['test', 'schema']));
    const fish = await runKrill(['completion', 'fish']);
    expect(fish.stdout).toContain("complete -c krill -n '__fish_seen_subcommand_from copy cp' -l no-referrers");
    const zsh = await runKrill(['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef krill\n/);
    const bad = await runKrill(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown shell "tcsh": krill completion bash, zsh or fish/);
  });
});

describe('passwords on a terminal', () => {
  it('-u without a password, and --password-stdin on a terminal, ask without echo', async () => {
    const { BASIC_PASSWORD, BASIC_USER } = await import('../harness/registry.js');
    const basic = await startRegistry({ auth: 'basic' });
    try {
      await new Pusher(basic).push('apps/web', buildImage({ layers: ['prompted'] }), '1.0');
      const prompts: string[] = [];
      const asked = await runKrill(['-u', BASIC_USER, 'tags', `${basic.host}/apps/web`, '--no-details'], {
        tty: { secret: BASIC_PASSWORD, prompts },
      });
      expect(asked.code, asked.stderr).toBe(0);
      expect(asked.stdout.trim()).toBe('1.0');
      expect(prompts).toEqual(['Password: ']);
      const stdinFlag = await runKrill(['-u', BASIC_USER, '--password-stdin', 'tags', `${basic.host}/apps/web`], {
        tty: { secret: BASIC_PASSWORD },
      });
      expect(stdinFlag.code, stdinFlag.stderr).toBe(0);
      // No terminal: nothing is asked; a username alone is a usage error.
      const piped = await runKrill(['-u', BASIC_USER, 'tags', `${basic.host}/apps/web`]);
      expect(piped.code).toBe(2);
      expect(piped.stderr).toMatch(/--username and --password \(or --password-stdin\) must be given together/);
      const empty = await runKrill(['-u', BASIC_USER, 'tags', `${basic.host}/apps/web`], { tty: { secret: '' } });
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/no password given/);
    } finally {
      await basic.stop();
    }
  });
});

describe('krill login / logout', () => {
  it('checks the credentials, stores them in config.json (0600) for every later command, and removes them', async () => {
    const { BASIC_PASSWORD, BASIC_USER } = await import('../harness/registry.js');
    const basic = await startRegistry({ auth: 'basic' });
    try {
      await new Pusher(basic).push('apps/web', buildImage({ layers: ['login'] }), '1.0');
      const env = isolatedEnv();
      const config = join(env.DOCKER_CONFIG!, 'config.json');
      mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
      writeFileSync(config, JSON.stringify({ auths: {}, psFormat: 'table {{.ID}}' }));
      const wrong = await runKrill(['login', basic.host, '-u', BASIC_USER, '--password-stdin'], { env, stdin: 'nope' });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(new RegExp(`${basic.host} rejected the credentials of ${BASIC_USER}`));
      expect(JSON.parse(readFileSync(config, 'utf8')).auths).toEqual({});
      const ok = await runKrill(['login', basic.host, '-u', BASIC_USER, '--password-stdin'], {
        env,
        stdin: BASIC_PASSWORD,
      });
      expect(ok.code, ok.stderr).toBe(0);
      const stored = JSON.parse(readFileSync(config, 'utf8'));
      expect(stored.psFormat).toBe('table {{.ID}}'); // the rest of the file is kept
      expect(Buffer.from(stored.auths[basic.host].auth, 'base64').toString()).toBe(`${BASIC_USER}:${BASIC_PASSWORD}`);
      expect(statSync(config).mode & 0o777).toBe(0o600);
      const tags = await runKrill(['tags', `${basic.host}/apps/web`, '--no-details'], { env });
      expect(tags.stdout.trim()).toBe('1.0');
      const out = await runKrill(['logout', basic.host], { env });
      expect(out.code, out.stderr).toBe(0);
      expect(JSON.parse(readFileSync(config, 'utf8')).auths).toEqual({});
    } finally {
      await basic.stop();
    }
  });

  it('uses a configured credential helper (store, get, erase) and works against token registries', async () => {
    const token = await startRegistry({ auth: 'token' });
    try {
      await new Pusher(token).push('apps/web', buildImage({ layers: ['helper'] }), '1.0');
      const env = isolatedEnv();
      const bin = join(env.HOME!, 'bin');
      mkdirSync(bin, { recursive: true });
      const store = join(env.HOME!, 'helper-store.json');
      // A stand-in docker-credential helper (the protocol of docker-credential-helpers) in test code.
      writeFileSync(
        join(bin, 'docker-credential-fake'),
        `#!/bin/sh\ncase "$1" in\n  store) cat > "${store}" ;;\n  get) cat >/dev/null; cat "${store}" ;;\n  erase) cat >/dev/null; rm -f "${store}" ;;\nesac\n`,
        { mode: 0o755 },
      );
      mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
      writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ credsStore: 'fake' }));
      const withPath = { ...env, PATH: `${bin}:${env.PATH}` };
      const login = await runKrill(['login', token.host, '-u', 'admin', '--password-stdin'], {
        env: withPath,
        stdin: TOKEN_USERS.admin!.password,
      });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stderr).toMatch(/stored in credential helper docker-credential-fake/);
      expect(JSON.parse(readFileSync(store, 'utf8'))).toMatchObject({ ServerURL: token.host, Username: 'admin' });
      const config = JSON.parse(readFileSync(join(env.DOCKER_CONFIG!, 'config.json'), 'utf8'));
      expect(config.auths[token.host]).toEqual({}); // no secret in the file
      const tags = await runKrill(['tags', `${token.host}/apps/web`, '--no-details'], { env: withPath });
      expect(tags.stdout.trim(), tags.stderr).toBe('1.0');
      expect((await runKrill(['logout', token.host], { env: withPath })).code).toBe(0);
      expect(existsSync(store)).toBe(false);
    } finally {
      await token.stop();
    }
  });
});

describe('the config file', () => {
  it('gives defaults below flags and environment; krill config shows them; mistakes name the line', async () => {
    const env = isolatedEnv();
    const dir = join(env.HOME!, '.config', 'krill');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.yaml'), `registry: ${registry.host}\nconcurrency: 3\ntimeout: 20s\n`);
    const shown = JSON.parse((await runKrill(['config', '--json'], { env })).stdout);
    expect(shown).toMatchObject({ found: true, registry: registry.host, concurrency: 3, timeoutMs: 20_000 });
    // The file's registry serves short references…
    const tags = await runKrill(['tags', 'apps/api', '--no-details'], { env });
    expect(tags.code, tags.stderr).toBe(0);
    expect(tags.stdout).toMatch(/2\.0\.0/);
    // …but flags and the environment win.
    expect(JSON.parse((await runKrill(['config', '--json', '--concurrency', '5'], { env })).stdout).concurrency).toBe(
      5,
    );
    const fromEnv = JSON.parse(
      (await runKrill(['config', '--json'], { env: { ...env, KRILL_REGISTRY: 'r.example.com' } })).stdout,
    );
    expect(fromEnv.registry).toBe('r.example.com');
    writeFileSync(join(dir, 'config.yaml'), 'registry: x\nconcurency: 3\n');
    const bad = await runKrill(['tags', 'apps/api'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/config\.yaml:2: unknown key "concurency"/);
  });
});

describe('the garbage-collection hint names the product', () => {
  it('GitLab and Harbor (told apart by their token realm) get their own collector in the hint', async () => {
    // LABELLED FAKE registry answering like GitLab's and Harbor's: a bearer challenge with their realm paths.
    for (const [path, expected] of [
      ['/jwt/auth', /gitlab-ctl registry-garbage-collect/],
      ['/service/token', /Harbor's garbage collection runs/],
    ] as const) {
      const product = await startFakeRegistry();
      try {
        product.add('group/app', buildImage({ layers: [`gc ${path}`] }), 'old');
        product.intercept = (req, res, url) => {
          if (url.pathname === path) {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'fake-token' }));
            return true;
          }
          if (url.pathname.startsWith('/v2/') && req.headers.authorization !== 'Bearer fake-token') {
            const realm = `http://${product.host}${path}`;
            res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="registry"` }).end();
            return true;
          }
          return false;
        };
        const res = await runKrill(['rm', `${product.host}/group/app:old`, '--yes']);
        expect(res.code, res.stderr).toBe(0);
        expect(res.stdout.replaceAll('\n', ' ')).toMatch(expected);
        expect(res.stdout).not.toMatch(/registry garbage-collect CONFIG/);
      } finally {
        await product.close();
      }
    }
  });
});
