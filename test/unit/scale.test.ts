import { describe, expect, it } from 'vitest';
import { writeJsonArray } from '../../src/cli/render.js';
import { inShard, parseShard, shardOf } from '../../src/plan/shard.js';
import { UsageError } from '../../src/errors.js';

describe('writeJsonArray: JSON.stringify(items, null, 2), written in parts', () => {
  it.each([
    ['empty', []],
    ['one', [1]],
    ['mixed, with newlines inside strings', [{ a: 1, b: [1, 2, { c: 'x\ny' }] }, null, 'q']],
    ['more than one part', Array.from({ length: 2500 }, (_, i) => ({ i, s: [i] }))],
  ])('%s', (_name, items) => {
    const parts: string[] = [];
    writeJsonArray((text) => parts.push(text), items);
    expect(parts.join('')).toBe(`${JSON.stringify(items, null, 2)}\n`);
    if (items.length > 1000) expect(parts.length).toBeGreaterThan(2);
  });
});

describe('shards', () => {
  const names = Array.from({ length: 3000 }, (_, i) => `team-${i % 7}/service-${i}`);
  it('spreads repositories evenly and keeps each in one shard', () => {
    const counts = [0, 0, 0, 0, 0];
    for (const name of names) counts[shardOf(name, 5) - 1]!++;
    for (const n of counts) expect(Math.abs(n - 600)).toBeLessThan(90);
    for (const name of names.slice(0, 50))
      expect([1, 2, 3, 4, 5].filter((i) => inShard(name, { index: i, total: 5 }))).toHaveLength(1);
  });
  it.each([
    ['2/3', {}, { index: 2, total: 3 }],
    ['auto', { CI_NODE_INDEX: '3', CI_NODE_TOTAL: '4' }, { index: 3, total: 4 }],
    ['auto/5', { JOB_COMPLETION_INDEX: '4' }, { index: 5, total: 5 }],
  ] as const)('parses %s', (text, env, expected) => {
    expect(parseShard(text, env)).toEqual(expected);
  });
  it.each([['0/3'], ['4/3'], ['1/0'], ['a/b'], ['auto'], ['auto/2']])('refuses %s without its variables', (text) => {
    expect(() => parseShard(text, { JOB_COMPLETION_INDEX: '5' })).toThrow(UsageError);
  });
});

describe("a plan's space per repository", () => {
  it('counts in each repository the blobs only its own deletions reference', async () => {
    const { makePlan } = await import('../../src/plan/make-plan.js');
    const dg = (n: string) => `sha256:${Buffer.from(n).toString('hex').padEnd(64, '0').slice(0, 64)}`;
    const node = (name: string, blobs: Array<[string, number]>) => ({
      digest: dg(name),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      kind: 'image' as const,
      size: 10,
      children: [],
      blobs: blobs.map(([b, size]) => ({ mediaType: 'layer', digest: dg(b), size })),
      created: null,
    });
    // a/x and b/y are deleted; they share `both`; a keeps a/k, which shares `kept`.
    const snapshots = [
      {
        registry: 'r',
        repository: 'a',
        tags: [],
        manifests: Object.fromEntries(
          [
            node('ax', [
              ['only-a', 100],
              ['both', 1000],
              ['kept', 7],
            ]),
            node('ak', [['kept', 7]]),
          ].map((n) => [n.digest, n]),
        ),
      },
      {
        registry: 'r',
        repository: 'b',
        tags: [],
        manifests: Object.fromEntries(
          [
            node('by', [
              ['only-b', 50],
              ['both', 1000],
            ]),
          ].map((n) => [n.digest, n]),
        ),
      },
    ];
    const plans = [
      {
        repository: 'a',
        keep: [],
        delete: [],
        actions: [{ kind: 'delete-manifest' as const, digest: dg('ax'), tags: ['x'] }],
      },
      {
        repository: 'b',
        keep: [],
        delete: [],
        actions: [{ kind: 'delete-manifest' as const, digest: dg('by'), tags: ['y'] }],
      },
    ];
    const plan = makePlan({ host: 'r', scheme: 'https' }, plans, snapshots, true);
    expect(plan.repositories.map((r) => [r.repository, r.reclaimableBytes])).toEqual([
      ['a', 110], // only-a and the manifest ax
      ['b', 60], // only-b and the manifest by
    ]);
    expect(plan.reclaimableBytes).toBe(110 + 60 + 1000); // together they also free `both`
  });
});
