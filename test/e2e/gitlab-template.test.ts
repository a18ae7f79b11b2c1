import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, isolatedEnv, runProcess } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { TOKEN_USERS } from '../harness/token-issuer.js';

// What users run as shipped: the GitLab CI template's own script lines, and `npm run demo`.
// (How krill is packaged, as an npm tarball, a container image and a binary: test/release.)
const ROOT = join(import.meta.dirname, '../..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'krill-job-'));
});

describe('the GitLab CI template', () => {
  let gitlab: TestRegistry;
  beforeAll(async () => {
    gitlab = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => {
    await gitlab?.stop();
  });

  const template = parse(readFileSync(join(ROOT, 'ci/gitlab/krill-cleanup.yml'), 'utf8')) as {
    variables: Record<string, string>;
    'krill-cleanup': { before_script: string[]; script: string[]; artifacts: { paths: string[] } };
  };

  /** Runs the job's before_script and script lines in one shell, like the runner, with krill on PATH. */
  async function runJob(project: string, variables: Record<string, string> = {}) {
    const work = mkdtempSync(join(dir, 'job-'));
    const binDir = join(work, 'bin');
    mkdirSync(binDir);
    writeFileSync(join(binDir, 'krill'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(binDir, 'krill'), 0o755);
    const job = template['krill-cleanup'];
    const script = ['set -e', ...job.before_script, ...job.script].join('\n');
    const env = {
      ...isolatedEnv(),
      PATH: `${binDir}:${process.env.PATH}`,
      ...template.variables,
      CI_REGISTRY_IMAGE: `${gitlab.host}/${project}`,
      CI_JOB_TOKEN: TOKEN_USERS['gitlab-ci-token']!.password,
      CI_PIPELINE_SOURCE: 'schedule',
      ...variables,
    };
    return { ...(await runProcess('sh', ['-c', script], { cwd: work, env })), work };
  }

  async function seed(repository: string) {
    const pusher = new Pusher(gitlab);
    for (let i = 1; i <= 4; i++)
      await pusher.push(
        repository,
        buildImage({ created: `2024-0${i}-01T00:00:00Z`, layers: [`${repository} ${i}`] }),
        `v${i}`,
      );
    for (let i = 1; i <= 3; i++)
      await pusher.push(
        repository,
        buildImage({ created: `2024-02-1${i}T00:00:00Z`, layers: [`${repository} mr ${i}`] }),
        `mr-${i}`,
      );
    return pusher;
  }

  it('cleans its own project with the job token and keeps the plan and journal as artifacts', async () => {
    const pusher = await seed('group/project');
    const job = await runJob('group/project', { KRILL_KEEP: '1', KRILL_DELETE_REGEX: '^mr-' });
    expect(job.code, `${job.stdout}\n${job.stderr}`).toBe(0);
    expect(await pusher.tags('group/project')).toEqual(['mr-3', 'v1', 'v2', 'v3', 'v4']);
    expect(template['krill-cleanup'].artifacts.paths).toEqual(['krill-plan*.json', 'krill-undo*.jsonl']);
    for (const artifact of ['krill-plan.json', 'krill-undo.jsonl'])
      expect(existsSync(join(job.work, artifact))).toBe(true);
    expect(job.stdout + job.stderr).not.toContain(TOKEN_USERS['gitlab-ci-token']!.password);
  });

  it('KRILL_POLICY: one plan for every tag family (the README recipe), the age variables unused', async () => {
    const pusher = await seed('group/project/families');
    const policy = join(dir, 'krill-policy.yaml');
    writeFileSync(
      policy,
      'version: 1\nmax-delete: 100%\nrules:\n  - repos: "**"\n    tags: ^v\n    keep: 2\n  - repos: "**"\n    tags: ^mr-\n    keep: 1\n',
    );
    const job = await runJob('group/project/families', {
      KRILL_POLICY: policy,
      KRILL_KEEP: '100',
      KRILL_OLDER_THAN: '10000d',
    });
    expect(job.code, `${job.stdout}\n${job.stderr}`).toBe(0);
    expect(await pusher.tags('group/project/families')).toEqual(['mr-3', 'v3', 'v4']);
    expect(job.stdout).toMatch(/rule 1: not among the newest 2/);
  });

  it('parallel: 3 over a whole catalog: each job cleans its share, together exactly the unsharded plan', async () => {
    const repositories = Array.from({ length: 9 }, (_, i) => `fleet/service-${i}`);
    const pusher = new Pusher(gitlab);
    for (const repository of repositories)
      for (let i = 1; i <= 3; i++)
        await pusher.push(
          repository,
          buildImage({ created: `2024-0${i}-01T00:00:00Z`, layers: [`${repository} ${i}`] }),
          `v${i}`,
        );
    const admin = { KRILL_USERNAME: 'admin', KRILL_PASSWORD: TOKEN_USERS.admin!.password };
    // The three jobs GitLab starts for `parallel: 3`, at once.
    const jobs = await Promise.all(
      [1, 2, 3].map((index) =>
        runJob('group/project', {
          ...admin,
          KRILL_ALL_REPOS: gitlab.host,
          KRILL_SHARD: 'auto',
          KRILL_KEEP: '2',
          CI_NODE_INDEX: String(index),
          CI_NODE_TOTAL: '3',
        }),
      ),
    );
    for (const job of jobs) expect(job.code, `${job.stdout}\n${job.stderr}`).toBe(0);
    const { shardOf } = await import('../../src/plan/shard.js');
    jobs.forEach((job, i) => {
      const plan = JSON.parse(readFileSync(join(job.work, `krill-plan-${i + 1}.json`), 'utf8')) as {
        shard: string;
        repositories: Array<{ repository: string }>;
      };
      expect(plan.shard).toBe(`${i + 1}/3`);
      const fleet = plan.repositories.map((r) => r.repository).filter((r) => r.startsWith('fleet/'));
      expect(fleet.sort()).toEqual(repositories.filter((r) => shardOf(r, 3) === i + 1).sort());
      expect(existsSync(join(job.work, `krill-undo-${i + 1}.jsonl`))).toBe(true);
      expect(job.stdout + job.stderr).not.toContain(TOKEN_USERS.admin!.password);
    });
    for (const repository of repositories) expect(await pusher.tags(repository)).toEqual(['v2', 'v3']);
  });

  it('a dry run changes nothing; another project is refused with a clear message', async () => {
    const pusher = await seed('group/project/sub');
    const dry = await runJob('group/project/sub', { KRILL_KEEP: '1', KRILL_DRY_RUN: 'true' });
    expect(dry.code, dry.stderr).toBe(0);
    expect(await pusher.tags('group/project/sub')).toHaveLength(7);
    expect(existsSync(join(dry.work, 'krill-plan.json'))).toBe(true);

    const others = await seed('group/other');
    const refused = await runJob('group/other', { KRILL_KEEP: '1' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /refused delete on repository group\/other for the credentials from command-line flags/,
    );
    expect(await others.tags('group/other')).toHaveLength(7);
  });
});

describe('npm run demo', () => {
  it('walks through tags, a dry run, a cleanup and its undo on a throwaway registry', async () => {
    const res = await runProcess(process.execPath, [join(ROOT, 'scripts/demo.mjs')], { env: isolatedEnv() });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(
      /\$ krill cleanup 127\.0\.0\.1:\d+\/demo\/app --keep 2 --delete-regex '\^\(mr-\|main-\)' --dry-run/,
    );
    expect(res.stdout).toMatch(/Deleted 7, untagged 0, already gone 0, skipped 0, failed 0\./);
    const after = res.stdout.slice(res.stdout.indexOf('# Back as it was'));
    expect(after.match(/^(mr|main)-/gm)).toHaveLength(9);
    expect(res.stdout).toMatch(/Demo done/);
  }, 120_000);
});
