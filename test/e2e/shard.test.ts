import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';

// --shard on a seeded catalog: N shard plans are disjoint and their union is the unsharded plan;
// each shard's budget applies to its own part; du and sync take their share too.
let registry: TestRegistry;
let mirror: TestRegistry;
const REPOS = Array.from({ length: 12 }, (_, i) => `team-${i % 3}/service-${i}`);

beforeAll(async () => {
  [registry, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  const pusher = new Pusher(registry);
  for (const repository of REPOS)
    for (let i = 1; i <= 3; i++)
      await pusher.push(
        repository,
        buildImage({ created: `2024-0${i}-01T00:00:00Z`, layers: [`${repository} ${i}`] }),
        `v${i}`,
      );
}, 60_000);
afterAll(async () => {
  await Promise.all([registry?.stop(), mirror?.stop()]);
});

interface PlanJson {
  shard?: string;
  repositories: Array<{ repository: string; delete: Array<{ tag: string }>; keep: Array<{ tag: string }> }>;
  limits?: { refused?: string };
}

async function plan(...flags: string[]): Promise<PlanJson> {
  const res = await runKrill(
    ['cleanup', '--all-repos', registry.host, '--keep', '1', '--dry-run', '--json', '--max-delete', '100%', ...flags],
    {
      env: isolatedEnv(),
    },
  );
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as PlanJson;
}

const byRepository = (p: PlanJson) =>
  Object.fromEntries(
    p.repositories.map((r) => [
      r.repository,
      { delete: r.delete.map((t) => t.tag).sort(), keep: r.keep.map((t) => t.tag).sort() },
    ]),
  );

describe('--shard', () => {
  it('3 shard plans are disjoint, each non-empty here, and their union is the unsharded plan', async () => {
    const whole = byRepository(await plan());
    const shards = await Promise.all([1, 2, 3].map((i) => plan('--shard', `${i}/3`)));
    const seen = shards.flatMap((s) => s.repositories.map((r) => r.repository));
    expect(new Set(seen).size).toBe(seen.length); // disjoint
    expect(shards.map((s) => s.shard)).toEqual(['1/3', '2/3', '3/3']);
    expect(shards.every((s) => s.repositories.length > 0)).toBe(true);
    expect(Object.assign({}, ...shards.map(byRepository))).toEqual(whole);
  });

  it('is stable: the same repository lands in the same shard whatever else the catalog holds', async () => {
    const { shardOf } = await import('../../src/plan/shard.js');
    const before = REPOS.map((r) => shardOf(r, 3));
    expect(REPOS.map((r) => shardOf(r, 3))).toEqual(before);
    const second = await plan('--shard', '2/3');
    expect(second.repositories.map((r) => r.repository).sort()).toEqual(
      REPOS.filter((r) => shardOf(r, 3) === 2).sort(),
    );
  });

  it("reads GitLab's CI_NODE_INDEX/CI_NODE_TOTAL and a Kubernetes Indexed Job's JOB_COMPLETION_INDEX", async () => {
    const env = (extra: Record<string, string>) => isolatedEnv(extra);
    const run = async (extra: Record<string, string>, shard: string) =>
      JSON.parse(
        (
          await runKrill(
            ['cleanup', '--all-repos', registry.host, '--keep', '1', '--dry-run', '--json', '--shard', shard],
            { env: env(extra) },
          )
        ).stdout,
      ) as PlanJson;
    expect((await run({ CI_NODE_INDEX: '2', CI_NODE_TOTAL: '3' }, 'auto')).shard).toBe('2/3');
    expect((await run({ JOB_COMPLETION_INDEX: '0' }, 'auto/3')).shard).toBe('1/3');
  });

  it("applies each shard's budget to its own part", async () => {
    const res = await runKrill(
      [
        'cleanup',
        '--all-repos',
        registry.host,
        '--keep',
        '1',
        '--dry-run',
        '--json',
        '--shard',
        '1/3',
        '--max-delete',
        '3',
      ],
      {
        env: isolatedEnv(),
      },
    );
    const p = JSON.parse(res.stdout) as PlanJson;
    const planned = p.repositories.reduce((n, r) => n + r.delete.length, 0);
    expect(planned).toBeGreaterThan(3);
    expect(p.limits?.refused).toMatch(new RegExp(`${planned} tags`));
  });

  it('du and sync take their share', async () => {
    const du = JSON.parse(
      (await runKrill(['du', registry.host, '--shard', '3/3', '--json'], { env: isolatedEnv() })).stdout,
    ) as {
      complete: boolean;
      repositories: Array<{ repository: string }>;
    };
    const { shardOf } = await import('../../src/plan/shard.js');
    expect(du.complete).toBe(false);
    expect(du.repositories.map((r) => r.repository).sort()).toEqual(REPOS.filter((r) => shardOf(r, 3) === 3).sort());
    const specs = REPOS.map((r) => `${registry.host}/${r}`);
    const sync = await runKrill(['sync', ...specs, '--to', mirror.host, '--shard', '1/3', '--json'], {
      env: isolatedEnv(),
    });
    expect(sync.code, sync.stderr).toBe(0);
    const outcomes = JSON.parse(sync.stdout) as Array<{ destination: string }>;
    // HOST/REPO:TAG at the mirror → REPO
    const copied = new Set(
      outcomes.map((o) => o.destination.slice(o.destination.indexOf('/') + 1).replace(/:[^:/]*$/, '')),
    );
    expect([...copied].sort()).toEqual(REPOS.filter((r) => shardOf(r, 3) === 1).sort());
  });

  it('refuses a bad shard and named repositories, before any request', async () => {
    const bad = await runKrill(['cleanup', '--all-repos', registry.host, '--keep', '1', '--shard', '4/3'], {
      env: isolatedEnv(),
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid shard 4\/3/);
    const named = await runKrill(['cleanup', `${registry.host}/${REPOS[0]}`, '--keep', '1', '--shard', '1/3'], {
      env: isolatedEnv(),
    });
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/--shard splits a catalog/);
    const auto = await runKrill(['du', registry.host, '--shard', 'auto'], { env: isolatedEnv() });
    expect(auto.stderr).toMatch(/--shard auto needs CI_NODE_INDEX/);
  });
});
