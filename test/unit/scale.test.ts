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
