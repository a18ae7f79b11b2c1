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

describe('judgeRepository: dangling tags, fallback indexes, attachments', () => {
  const only = (actions: RepositoryPlan['actions']): RepositoryPlan => ({
    repository: 'r',
    keep: [],
    delete: [],
    actions,
  });
  const SIG = `sha256-${'1'.repeat(64)}.sig`; // an attachment tag whose subject is A

  it('a dangling tag is removed while it still dangles, skipped if it resolves again, gone otherwise', () => {
    const removal = only([{ kind: 'remove-dangling', tag: 'broken' }]);
    expect(judgeRepository(removal, { ...state({}), dangling: new Set(['broken']) })).toEqual([
      { kind: 'remove-dangling', tag: 'broken' },
    ]);
    expect(judgeRepository(removal, state({ broken: B }))).toEqual([
      { kind: 'skip', digest: B, tags: ['broken'], detail: 'the tag resolves again since the plan was made' },
    ]);
    expect(judgeRepository(removal, state({}))).toEqual([{ kind: 'gone', digest: '', tags: ['broken'] }]);
  });

  it('a referrer is taken out of a fallback index only while the index tag exists', () => {
    const unlist = only([{ kind: 'unlist-referrer', tag: 'sha256-x', index: IDX, referrer: C }]);
    expect(judgeRepository(unlist, state({ 'sha256-x': IDX }))).toEqual(unlist.actions);
    expect(judgeRepository(unlist, state({}))).toEqual([{ kind: 'gone', digest: IDX, tags: ['sha256-x'] }]);
  });

  it('an attachment tag whose subject gained a tag since the plan stays: no untag, no delete', () => {
    const untag = only([{ kind: 'untag', tag: SIG, digest: C }]);
    expect(judgeRepository(untag, state({ [SIG]: C }))).toEqual([{ kind: 'untag', tag: SIG, digest: C }]);
    expect(judgeRepository(untag, state({ [SIG]: C, fresh: A }))).toEqual([
      { kind: 'skip', digest: C, tags: [SIG], detail: 'kept: its subject stays' },
    ]);
    const remove = only([{ kind: 'delete-manifest', digest: C, tags: [SIG] }]);
    expect(judgeRepository(remove, state({ [SIG]: C, fresh: A }))).toEqual([
      // The attachment tag stays with its subject, so it holds its own digest too.
      { kind: 'skip', digest: C, tags: [], detail: `kept: ${SIG}, fresh use this digest since the plan was made` },
    ]);
  });

  it('a delete carries its parent index and its subject to the executor', () => {
    const remove = only([{ kind: 'delete-manifest', digest: C, tags: [], parent: IDX, subject: A }]);
    expect(judgeRepository(remove, state({}))).toEqual([
      { kind: 'delete-manifest', digest: C, tags: [], parent: IDX, subject: A },
    ]);
  });

  it('a workload running an index holds its platforms, and the reason says so', () => {
    const remove = only([{ kind: 'delete-manifest', digest: C, tags: [] }]);
    expect(judgeRepository(remove, { ...state({}, { [IDX]: [C] }), live: new Set([IDX]) })).toEqual([
      { kind: 'skip', digest: C, tags: [], detail: 'kept: a workload uses this digest since the plan was made' },
    ]);
  });

  it('a moved tag is named with both short digests', () => {
    const verdicts = judgeRepository(plan, state({ 'old-1': C, 'old-2': A, shared: B, stable: B }));
    expect(verdicts).toContainEqual({
      kind: 'skip',
      digest: A,
      tags: ['old-1'],
      detail: `old-1 now points at ${C.slice(0, 19)}, not the planned ${A.slice(0, 19)}`,
    });
  });
});

describe('judgeRepository: a rerun after a stopped delete', () => {
  it('planned tags left listed without their manifest are removed as dangling tags', () => {
    const remove: RepositoryPlan = {
      repository: 'r',
      keep: [],
      delete: [],
      actions: [
        { kind: 'delete-manifest', digest: A, tags: ['old-1', 'old-2'] },
        { kind: 'untag', tag: 'shared', digest: B },
      ],
    };
    const fresh = { ...state({ stable: B }), dangling: new Set(['old-1', 'old-2', 'shared']) };
    expect(judgeRepository(remove, fresh)).toEqual([
      { kind: 'remove-dangling', tag: 'old-1' },
      { kind: 'remove-dangling', tag: 'old-2' },
      { kind: 'delete-manifest', digest: A, tags: [] },
      { kind: 'remove-dangling', tag: 'shared' },
    ]);
  });
});
