import { describe, expect, it } from 'vitest';
import type { FreshState } from '../../src/plan/judge.js';
import { judgeRepository } from '../../src/plan/judge.js';
import type { RepositoryPlan } from '../../src/plan/plan.js';

// Apply's verdicts against every race the Safety section names: pure, so each race is one row.
const d = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const A = d(1);
const B = d(2);
const C = d(3);
const IDX = d(4);
const THROWAWAY = d(5);

function state(
  tags: Record<string, string>,
  children: Record<string, string[]> = {},
  throwaways: string[] = [],
): FreshState {
  return {
    tags: new Map(Object.entries(tags)),
    children: new Map(Object.entries(children)),
    throwaways: new Set(throwaways),
  };
}

/** Plan: delete A (tags old-1, old-2), untag `shared` on B (kept as stable), keep `stable` on B. */
const plan: RepositoryPlan = {
  repository: 'apps/web',
  keep: [{ tag: 'stable', digest: B, reason: 'newest 1' }],
  delete: [
    { tag: 'old-1', digest: A, reason: 'not among the newest 1' },
    { tag: 'old-2', digest: A, reason: 'not among the newest 1' },
    { tag: 'shared', digest: B, reason: 'untag only' },
  ],
  actions: [
    { kind: 'untag', tag: 'shared', digest: B },
    { kind: 'delete-manifest', digest: A, tags: ['old-1', 'old-2'] },
  ],
};

describe('judgeRepository', () => {
  it('a digest deployed since the plan (live set re-read) keeps its tags: no untag, no delete', () => {
    const fresh = { ...state({ 'old-1': A, 'old-2': A, shared: B, stable: B }), live: new Set([A, B]) };
    expect(judgeRepository(plan, fresh)).toEqual([
      { kind: 'skip', digest: B, tags: ['shared'], detail: 'kept: in use (live set re-read)' },
      { kind: 'skip', digest: A, tags: ['old-1', 'old-2'], detail: 'kept: in use (live set re-read)' },
    ]);
    // Only B live: the untag is skipped, A still goes.
    const onlyB = { ...state({ 'old-1': A, 'old-2': A, shared: B, stable: B }), live: new Set([B]) };
    expect(judgeRepository(plan, onlyB)).toEqual([
      { kind: 'skip', digest: B, tags: ['shared'], detail: 'kept: in use (live set re-read)' },
      { kind: 'delete-manifest', digest: A, tags: ['old-1', 'old-2'] },
    ]);
  });

  it('nothing moved: the plan runs as made', () => {
    expect(judgeRepository(plan, state({ 'old-1': A, 'old-2': A, shared: B, stable: B }))).toEqual([
      { kind: 'untag', tag: 'shared', digest: B },
      { kind: 'delete-manifest', digest: A, tags: ['old-1', 'old-2'] },
    ]);
  });

  it('a planned tag re-pushed elsewhere is skipped; the digest still goes with the tags left on it', () => {
    const verdicts = judgeRepository(plan, state({ 'old-1': C, 'old-2': A, shared: B, stable: B }));
    expect(verdicts).toContainEqual(expect.objectContaining({ kind: 'skip', tags: ['old-1'] }));
    expect(verdicts).toContainEqual({ kind: 'delete-manifest', digest: A, tags: ['old-2'] });
  });

  it('a new tag on a planned digest: only untag, never delete', () => {
    const verdicts = judgeRepository(plan, state({ 'old-1': A, 'old-2': A, hotfix: A, shared: B, stable: B }));
    expect(verdicts.filter((v) => v.kind === 'delete-manifest')).toEqual([]);
    expect(verdicts).toContainEqual(expect.objectContaining({ kind: 'untag', tag: 'old-1', digest: A }));
    expect(verdicts).toContainEqual(expect.objectContaining({ kind: 'untag', tag: 'old-2', digest: A }));
  });

  it('the reason names what holds a digest: one tag "uses", several "use", past three "and N more"', () => {
    type Seen = { kind: string; digest?: string; detail?: string };
    const held = (tags: Record<string, string>) =>
      (judgeRepository(plan, state({ 'old-1': A, 'old-2': A, shared: B, stable: B, ...tags })) as Seen[]).filter(
        (v) => v.digest === A,
      );
    expect(held({ h1: A })).toEqual([
      { kind: 'untag', tag: 'old-1', digest: A, detail: 'untag only: h1 uses this digest since the plan was made' },
      { kind: 'untag', tag: 'old-2', digest: A, detail: 'untag only: h1 uses this digest since the plan was made' },
    ]);
    expect(held({ h1: A, h2: A })[0]!.detail).toBe('untag only: h1, h2 use this digest since the plan was made');
    expect(held({ h1: A, h2: A, h3: A, h4: A, h5: A })[0]!.detail).toBe(
      'untag only: h1, h2, h3 and 2 more use this digest since the plan was made',
    );
    // Every planned tag gone and the digest held: kept, with the reason, nothing sent.
    expect(
      (judgeRepository(plan, state({ shared: B, stable: B, h1: A })) as Seen[]).filter((v) => v.digest === A),
    ).toEqual([{ kind: 'skip', digest: A, tags: [], detail: 'kept: h1 uses this digest since the plan was made' }]);
  });

  it('a kept tag re-pushed onto a planned digest keeps it', () => {
    const verdicts = judgeRepository(plan, state({ 'old-1': A, 'old-2': A, shared: B, stable: A }));
    expect(verdicts.some((v) => v.kind === 'delete-manifest' && v.digest === A)).toBe(false);
  });

  it('an index pushed after the plan that references a planned digest keeps it', () => {
    const verdicts = judgeRepository(
      plan,
      state({ 'old-1': A, 'old-2': A, shared: B, stable: B, multi: IDX }, { [IDX]: [A, C] }),
    );
    expect(verdicts.some((v) => v.kind === 'delete-manifest')).toBe(false);
    expect(verdicts).toContainEqual(
      expect.objectContaining({ kind: 'untag', tag: 'old-1', detail: expect.stringContaining('multi') }),
    );
  });

  it('a platform manifest of a deleted index stays when a new index uses it, goes otherwise', () => {
    const childPlan: RepositoryPlan = {
      repository: 'r',
      keep: [],
      delete: [],
      actions: [{ kind: 'delete-manifest', digest: C, tags: [], parent: IDX }],
    };
    expect(judgeRepository(childPlan, state({ other: d(6) }, { [d(6)]: [C] }))).toEqual([
      expect.objectContaining({ kind: 'skip', digest: C }),
    ]);
    expect(judgeRepository(childPlan, state({}))).toEqual([
      { kind: 'delete-manifest', digest: C, tags: [], parent: IDX },
    ]);
  });

  it('tags already gone: the manifest is still deleted by digest (a 404 then counts as done)', () => {
    expect(judgeRepository(plan, state({ shared: B, stable: B }))).toContainEqual({
      kind: 'delete-manifest',
      digest: A,
      tags: [],
    });
  });

  it('an untag whose tag is gone is already done; one whose tag moved is skipped', () => {
    expect(judgeRepository(plan, state({ 'old-1': A, 'old-2': A, stable: B }))[0]).toEqual({
      kind: 'gone',
      digest: B,
      tags: ['shared'],
    });
    expect(judgeRepository(plan, state({ 'old-1': A, 'old-2': A, shared: C, stable: B }))[0]).toEqual(
      expect.objectContaining({ kind: 'skip', tags: ['shared'] }),
    );
  });

  it("a tag left on krill's throwaway by an interrupted untag is finished", () => {
    const verdicts = judgeRepository(
      plan,
      state({ 'old-1': A, 'old-2': A, shared: THROWAWAY, stable: B }, {}, [THROWAWAY]),
    );
    expect(verdicts[0]).toEqual({ kind: 'finish-untag', tag: 'shared', digest: THROWAWAY });
  });

  it('rm --force may break an index, but never a digest a tag points at directly', () => {
    const forced: RepositoryPlan = {
      repository: 'r',
      keep: [],
      delete: [],
      actions: [{ kind: 'delete-manifest', digest: C, tags: [], force: true }],
    };
    expect(judgeRepository(forced, state({ multi: IDX }, { [IDX]: [C] }))).toEqual([
      { kind: 'delete-manifest', digest: C, tags: [] },
    ]);
    expect(judgeRepository(forced, state({ multi: IDX, direct: C }, { [IDX]: [C] }))[0]).toEqual(
      expect.objectContaining({ kind: 'skip' }),
    );
  });

  it('every tag of a planned digest moved: nothing is deleted', () => {
    const verdicts = judgeRepository(plan, state({ 'old-1': C, 'old-2': C, shared: B, stable: B }));
    expect(verdicts.filter((v) => v.kind === 'delete-manifest')).toEqual([]);
  });
});
