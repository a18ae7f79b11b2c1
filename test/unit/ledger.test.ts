import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import type { LedgerEvent } from '../../src/ledger/events.js';
import { MAX_EVENTS, countsAsPull, parseNotification } from '../../src/ledger/events.js';
import { LedgerListener } from '../../src/ledger/listener.js';
import { openLedger, parseLedgerSpec, redactLedger } from '../../src/ledger/open.js';
import type { LedgerStore } from '../../src/ledger/store.js';
import { silentLogger } from '../../src/logger.js';
import type { DigestUsage, ManifestNode, RepositorySnapshot } from '../../src/model/snapshot.js';
import { judgeRepository } from '../../src/plan/judge.js';
import type { RepositoryPlan } from '../../src/plan/plan.js';
import { evaluateRules } from '../../src/policy/evaluate.js';
import { parsePolicy } from '../../src/policy/policy-file.js';
import { compileRules } from '../../src/policy/rules.js';

// The ledger's pure parts (notification validation, pull counting, --unpulled-for, apply's re-check)
// as tables, and the listener against hostile senders with a real SQLite store.
const dg = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const NOW = Date.parse('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

function event(overrides: Record<string, unknown> = {}, target: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `ev-${Math.random().toString(36).slice(2)}`,
    timestamp: new Date(NOW - 1000).toISOString(),
    action: 'pull',
    target: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: dg(1),
      repository: 'apps/web',
      tag: 'v1',
      ...target,
    },
    request: { method: 'GET', useragent: 'containerd/1.7.2', host: 'registry.example.com' },
    source: { instanceID: 'i-1' },
    ...overrides,
  };
}

describe('parseNotification: everything from the registry is validated', () => {
  it('takes manifest events, skips blob and mount events, drops invalid ones with the reason', () => {
    const body = {
      events: [
        event({ id: 'ok' }),
        event({ id: 'blob' }, { mediaType: 'application/octet-stream' }),
        event({ id: 'mount', action: 'mount' }),
        event({ id: 'repo' }, { repository: 'Apps/<script>' }),
        event({ id: 'digest' }, { digest: 'sha256:xyz' }),
        event({ id: 'tag' }, { tag: 'a'.repeat(129) }),
        event({ id: 'future', timestamp: new Date(NOW + 2 * DAY).toISOString() }),
        event({ id: 'zero', timestamp: '0001-01-01T00:00:00Z' }),
        event({ id: 'what', action: 'explode' }),
        event({ id: 'bad\nid' }),
        'not an object',
      ],
    };
    const parsed = parseNotification(body, NOW);
    expect(parsed.events.map((e) => e.id)).toEqual(['ok']);
    expect(parsed.events[0]).toMatchObject({
      action: 'pull',
      repository: 'apps/web',
      digest: dg(1),
      tag: 'v1',
      method: 'GET',
      userAgent: 'containerd/1.7.2',
      instance: 'i-1',
      host: 'registry.example.com',
    });
    expect(parsed.rejected).toEqual([
      'event repo: invalid repository',
      'event digest: invalid digest',
      'event tag: invalid tag',
      'event future: invalid timestamp',
      'event zero: invalid timestamp',
      'event what: unknown action',
      'an event without a usable id',
      'an event that is not an object',
    ]);
  });

  it('refuses envelopes that are not one, and more than the bound of events', () => {
    expect(() => parseNotification([], NOW)).toThrow('expected {"events": [...]}');
    expect(() => parseNotification({ events: {} }, NOW)).toThrow('expected {"events": [...]}');
    const many = { events: Array.from({ length: MAX_EVENTS + 1 }, () => event()) };
    expect(() => parseNotification(many, NOW)).toThrow(`more than ${MAX_EVENTS} events`);
    expect(parseNotification({ events: many.events.slice(1) }, NOW).events).toHaveLength(MAX_EVENTS);
  });

  it('neutralises terminal sequences in user agents and cuts long ones; a bad host is no host', () => {
    const parsed = parseNotification(
      {
        events: [
          event({ request: { method: 'GET', useragent: `\x1b]0;owned\x07evil${'x'.repeat(400)}`, host: 'a b' } }),
        ],
      },
      NOW,
    );
    expect(parsed.events[0]!.userAgent).toMatch(/^\?\]0;owned\?evilx+$/);
    expect(parsed.events[0]!.userAgent).toHaveLength(256);
    expect(parsed.events[0]!.host).toBe('');
  });

  it("takes distribution 3's tag delete: the tag, no digest", () => {
    const parsed = parseNotification(
      { events: [event({ action: 'delete' }, { mediaType: '', digest: '', tag: 'a' })] },
      NOW,
    );
    expect(parsed.events[0]).toMatchObject({ action: 'delete', digest: '', tag: 'a' });
    expect(parseNotification({ events: [event({}, { digest: '' })] }, NOW).rejected).toHaveLength(1);
  });

  it('takes a delete event without a media type (distribution sends none)', () => {
    const parsed = parseNotification(
      { events: [event({ action: 'delete' }, { mediaType: undefined, tag: undefined })] },
      NOW,
    );
    expect(parsed.events).toHaveLength(1);
    expect(parsed.events[0]).not.toHaveProperty('tag');
  });
});

describe('countsAsPull', () => {
  const base: LedgerEvent = {
    id: 'x',
    action: 'pull',
    time: NOW,
    repository: 'apps/web',
    digest: dg(1),
    method: 'GET',
    userAgent: 'containerd/1.7.2',
    instance: '',
    host: '',
  };
  const filter = { countHead: false, ignoreAgents: [/^Trivy/] };
  it.each([
    ['a GET by containerd', {}, true],
    ['a HEAD (resolving a tag is not using the image)', { method: 'HEAD' }, false],
    ["krill's own read", { userAgent: 'krill' }, false],
    ["krill's own read with a version", { userAgent: 'krill/0.3.0 node/20' }, false],
    ['a client named krillian', { userAgent: 'krillian/1.0' }, true],
    ['an ignored scanner', { userAgent: 'Trivy/0.50' }, false],
    ['a push', { action: 'push' }, false],
    ['a DELETE', { method: 'DELETE' }, false],
  ] as const)('%s', (_name, change, expected) => {
    expect(countsAsPull({ ...base, ...change } as LedgerEvent, filter)).toBe(expected);
  });
  it('counts HEADs when asked', () => {
    expect(countsAsPull({ ...base, method: 'HEAD' }, { countHead: true, ignoreAgents: [] })).toBe(true);
  });
});

function image(n: number, created: string | null, children: string[] = []): ManifestNode {
  return {
    digest: dg(n),
    mediaType: children.length
      ? 'application/vnd.oci.image.index.v1+json'
      : 'application/vnd.oci.image.manifest.v1+json',
    kind: children.length ? 'index' : 'image',
    size: 10,
    children,
    blobs: [],
    created,
  };
}

function snapshot(
  nodes: ManifestNode[],
  tags: Array<[string, number]>,
  usage: Record<number, DigestUsage> | undefined,
  coverage: number | null = NOW - 100 * DAY,
): RepositorySnapshot {
  const since = coverage ?? undefined;
  return {
    registry: 'r',
    repository: 'apps/web',
    manifests: Object.fromEntries(nodes.map((n) => [n.digest, n])),
    tags: tags.map(([tag, n]) => ({ tag, digest: dg(n) })),
    ...(usage
      ? { usage: { since, digests: Object.fromEntries(Object.entries(usage).map(([n, u]) => [dg(Number(n)), u])) } }
      : {}),
  };
}

const decide = (s: RepositorySnapshot, input: Parameters<typeof compileRules>[0]) =>
  Object.fromEntries(evaluateRules(s, compileRules(input), NOW).map((d) => [d.tag, `${d.action}: ${d.reason}`]));

describe("imageUsage: an index's use is its platforms' too", () => {
  it('sums pulls, takes the latest pull with its agent, the first and last push, and survives a cycle', async () => {
    const { imageUsage } = await import('../../src/policy/usage.js');
    // A hostile index listing itself through its child: the walk ends.
    const s = snapshot([image(1, null, [dg(2), dg(3)]), image(2, null, [dg(1)]), image(3, null)], [['multi', 1]], {
      1: {
        pulls: 2,
        lastPull: NOW - 5 * DAY,
        lastPullAgent: 'docker',
        firstPush: NOW - 9 * DAY,
        lastPush: NOW - 9 * DAY,
      },
      2: { pulls: 3, lastPull: NOW - DAY, lastPullAgent: 'containerd', lastPush: NOW - 2 * DAY },
      3: { pulls: 1, lastPull: NOW - 3 * DAY, firstPush: NOW - 20 * DAY },
    });
    expect(imageUsage(s, dg(1))).toEqual({
      pulls: 6,
      lastPull: NOW - DAY,
      lastPullAgent: 'containerd',
      firstPush: NOW - 20 * DAY,
      lastPush: NOW - 2 * DAY,
    });
    expect(imageUsage(s, dg(3))).toEqual({ pulls: 1, lastPull: NOW - 3 * DAY, firstPush: NOW - 20 * DAY });
    expect(imageUsage(snapshot([image(1, null)], [['a', 1]], undefined), dg(1))).toBeUndefined();
  });
});

describe('--unpulled-for: judged by use, and what the ledger cannot know is kept', () => {
  const old = '2025-01-01T00:00:00Z';
  it('deletes only images whose last pull or push is older than the window', () => {
    const s = snapshot(
      [image(1, old), image(2, old), image(3, old), image(4, old), image(5, old)],
      [
        ['pulled-recently', 1],
        ['pulled-long-ago', 2],
        ['pushed-recently', 3],
        ['never-pulled', 4],
        ['repushed', 5],
      ],
      {
        1: { pulls: 3, lastPull: NOW - 2 * DAY, lastPullAgent: 'containerd/1.7.2 (linux)', lastPush: NOW - 50 * DAY },
        2: { pulls: 1, lastPull: NOW - 40 * DAY, lastPullAgent: 'docker/27.0', lastPush: NOW - 50 * DAY },
        3: { pulls: 0, lastPush: NOW - 5 * DAY },
        4: { pulls: 0, lastPush: NOW - 60 * DAY },
        5: { pulls: 2, lastPull: NOW - 40 * DAY, lastPullAgent: 'docker/27.0', lastPush: NOW - DAY },
      },
    );
    expect(decide(s, { unpulledFor: '30d' })).toEqual({
      'pulled-recently': 'keep: pulled 2026-05-30 by containerd',
      'pulled-long-ago': 'delete: last pulled 2026-04-22 by docker',
      'pushed-recently': 'keep: never pulled; pushed 2026-05-27, within 30d',
      'never-pulled': 'delete: never pulled since 2026-04-02',
      repushed: 'keep: pushed 2026-05-31, within 30d',
    });
  });

  it('keeps everything when the ledger never heard from the registry', () => {
    const s = snapshot([image(1, old)], [['a', 1]], {}, null);
    expect(decide(s, { unpulledFor: '30d' })).toEqual({
      a: 'keep: no pull data: the ledger has no events from this registry (krill listen)',
    });
    expect(decide(snapshot([image(1, old)], [['a', 1]], undefined), { unpulledFor: '30d' }).a).toMatch(
      /^keep: no pull data/,
    );
  });

  it('an image from before the coverage, never pulled since, is kept unless --allow-before-ledger', () => {
    const s = snapshot(
      [image(1, '2024-01-01T00:00:00Z'), image(2, null)],
      [
        ['old', 1],
        ['undated', 2],
      ],
      {},
    );
    expect(decide(s, { unpulledFor: '30d' })).toEqual({
      old: 'keep: no pull data before 2026-02-21 (--allow-before-ledger)',
      undated: 'keep: never pulled, and its push and created dates are unknown',
    });
    expect(decide(s, { unpulledFor: '30d', allowBeforeLedger: true }).old).toBe(
      'delete: never pulled since 2026-02-21',
    );
  });

  it('a pulled platform keeps its index (containerd pulls the child by digest)', () => {
    const s = snapshot([image(1, old, [dg(2), dg(3)]), image(2, old), image(3, old)], [['multi', 1]], {
      1: { pulls: 0, lastPush: NOW - 90 * DAY },
      3: { pulls: 1, lastPull: NOW - DAY, lastPullAgent: 'containerd' },
    });
    expect(decide(s, { unpulledFor: '30d' }).multi).toBe('keep: pulled 2026-05-31 by containerd');
  });

  it('combines with the other rules: what they keep stays kept, with their reason', () => {
    const s = snapshot(
      [image(1, '2026-05-01T00:00:00Z'), image(2, old)],
      [
        ['newest', 1],
        ['older', 2],
      ],
      { 1: { pulls: 0, lastPush: NOW - 90 * DAY }, 2: { pulls: 0, lastPush: NOW - 90 * DAY } },
    );
    expect(decide(s, { keep: 1, unpulledFor: '30d' })).toEqual({
      newest: 'keep: newest 1',
      older: 'delete: never pulled since 2026-03-03',
    });
  });

  it('shows times to the second for windows under a day', () => {
    const s = snapshot([image(1, old)], [['a', 1]], { 1: { pulls: 1, lastPull: NOW - 10_000, lastPullAgent: 'x' } });
    expect(decide(s, { unpulledFor: '5s' }).a).toBe('delete: last pulled 2026-05-31T23:59:50Z by x');
  });

  it('is a rule key in policy files and --rule, validated like any duration', () => {
    expect(() => compileRules({ unpulledFor: '90 days' })).toThrow(UsageError);
    const policy = parsePolicy(
      'version: 1\nrules:\n  - repos: "**"\n    unpulled-for: 90d\n    allow-before-ledger: true\n',
      'p.yaml',
    );
    expect(policy.rules[0]!.rules.unpulledFor).toEqual({ ms: 90 * DAY, text: '90d' });
    expect(policy.rules[0]!.rules.allowBeforeLedger).toBe(true);
    expect(compileRules({ unpulledFor: '90d' }).keep).toBe(0); // the rule alone: no default keep 3
  });
});

describe("apply's re-check: what was pulled since the plan stays", () => {
  const plan: RepositoryPlan = {
    repository: 'apps/web',
    keep: [],
    delete: [
      { tag: 'a', digest: dg(1), reason: 'never pulled' },
      { tag: 'multi', digest: dg(2), reason: 'never pulled' },
      { tag: 'shared', digest: dg(4), reason: 'never pulled' },
    ],
    actions: [
      { kind: 'delete-manifest', digest: dg(1), tags: ['a'] },
      { kind: 'delete-manifest', digest: dg(2), tags: ['multi'] },
      { kind: 'untag', tag: 'shared', digest: dg(4) },
    ],
  };
  const fresh = (pulled: Record<number, string>) => ({
    tags: new Map([
      ['a', dg(1)],
      ['multi', dg(2)],
      ['shared', dg(4)],
      ['other', dg(4)],
    ]),
    children: new Map([[dg(2), [dg(3)]]]),
    throwaways: new Set<string>(),
    pulled: new Map(Object.entries(pulled).map(([n, why]) => [dg(Number(n)), why])),
  });

  it('deletes all when nothing was pulled', () => {
    expect(judgeRepository(plan, fresh({})).map((v) => v.kind)).toEqual([
      'delete-manifest',
      'delete-manifest',
      'untag',
    ]);
  });

  it('skips a pulled digest, an index whose platform was pulled, and an untag of a pulled digest', () => {
    const verdicts = judgeRepository(
      plan,
      fresh({
        1: 'pulled X since the plan was made',
        3: 'pulled Y since the plan was made',
        4: 'pulled Z since the plan was made',
      }),
    );
    expect(verdicts).toEqual([
      { kind: 'skip', digest: dg(1), tags: ['a'], detail: 'kept: pulled X since the plan was made' },
      { kind: 'skip', digest: dg(2), tags: ['multi'], detail: 'kept: a platform pulled Y since the plan was made' },
      { kind: 'skip', digest: dg(4), tags: ['shared'], detail: 'kept: pulled Z since the plan was made' },
    ]);
  });
});

describe('--ledger', () => {
  it('parses sqlite: and postgres:// and never shows a password', () => {
    expect(parseLedgerSpec('sqlite:/var/lib/krill/l.db', {})).toEqual({ kind: 'sqlite', path: '/var/lib/krill/l.db' });
    expect(parseLedgerSpec(undefined, { XDG_STATE_HOME: '/s' })).toEqual({
      kind: 'sqlite',
      path: '/s/krill/ledger.sqlite',
    });
    expect(parseLedgerSpec('postgres://u:pw@db:5432/krill', {})).toEqual({
      kind: 'postgres',
      url: 'postgres://u:pw@db:5432/krill',
    });
    expect(() => parseLedgerSpec('mysql://u:hunter2@db/x', {})).toThrow(UsageError);
    expect(() => parseLedgerSpec('sqlite:', {})).toThrow('give a file');
    expect(redactLedger('postgresql://u:hunter2@db/x')).toBe('postgresql://u:***@db/x');
    try {
      parseLedgerSpec('postgres://u:hunter2@[bad/x', {});
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});

describe('the listener against hostile senders (a real SQLite store)', () => {
  const SECRET = 'unit-secret-0123456789abcdef';
  let store: LedgerStore;
  let listener: LedgerListener;
  let url: string;

  beforeAll(async () => {
    store = await openLedger({ kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'krill-ledger-unit-')), 'l.db') });
    listener = new LedgerListener({
      store,
      secret: SECRET,
      filter: { countHead: false, ignoreAgents: [] },
      logger: silentLogger,
      maxBody: 64 * 1024,
    });
    const { port } = await listener.listen('127.0.0.1', 0);
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await agent.close();
    await listener.close();
    await store.close();
  });

  // 300 requests over 32 connections (the listener takes at most 256 at once).
  const agent = new Agent({ connections: 32 });
  const post = async (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${SECRET}` }) => {
    const res = await request(`${url}/events`, {
      dispatcher: agent,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.statusCode, text: await res.body.text() };
  };
  const pulls = async (n: number) =>
    (await store.usage('registry.example.com', 'apps/web', [dg(n)])).get(dg(n))?.pulls ?? 0;

  it('refuses a wrong, missing or prefixed-only secret and stores nothing', async () => {
    const body = { events: [event({}, { digest: dg(7) })] };
    expect((await post(body, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(body, {})).status).toBe(401);
    expect((await post(body, { authorization: `Bearer ${SECRET.slice(0, -1)}` })).status).toBe(401);
    expect(await pulls(7)).toBe(0);
    expect((await post(body, { authorization: SECRET })).status).toBe(200); // the bare secret works too
    expect(await pulls(7)).toBe(1);
  });

  it('refuses oversized bodies, non-JSON and too many events; drops invalid events but stores the rest', async () => {
    expect((await post({ events: [], pad: 'x'.repeat(70_000) })).status).toBe(413);
    expect((await post('{not json')).status).toBe(400);
    expect((await post({ events: Array.from({ length: MAX_EVENTS + 1 }, () => ({})) })).status).toBe(400);
    const mixed = await post({ events: [event({}, { repository: '../../etc' }), event({}, { digest: dg(8) })] });
    expect(mixed.status).toBe(200);
    expect(await pulls(8)).toBe(1);
    expect(listener.counts.rejected).toBeGreaterThanOrEqual(1);
  });

  it('is idempotent by event id: retries and replicas never double-count', async () => {
    const once = event({ id: 'retry-me' }, { digest: dg(9) });
    for (let i = 0; i < 3; i++) expect((await post({ events: [once, once] })).status).toBe(200);
    expect(await pulls(9)).toBe(1);
  });

  it('answers a flood of concurrent requests, each committed once (group commit)', async () => {
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => post({ events: [event({ id: `flood-${i}` }, { digest: dg(6) })] })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await pulls(6)).toBe(300);
  });

  it('answers other paths and methods without touching the store', async () => {
    expect((await request(`${url}/events`)).statusCode).toBe(405);
    expect((await request(`${url}/admin`)).statusCode).toBe(404);
    expect((await request(`${url}/healthz`)).statusCode).toBe(200);
  });

  it('answers 503 (the registry retries) when the store fails, never 200', async () => {
    const broken = await openLedger({
      kind: 'sqlite',
      path: join(mkdtempSync(join(tmpdir(), 'krill-ledger-broken-')), 'l.db'),
    });
    const failing = new LedgerListener({
      store: broken,
      secret: SECRET,
      filter: { countHead: false, ignoreAgents: [] },
      logger: silentLogger,
    });
    const { port } = await failing.listen('127.0.0.1', 0);
    await broken.close();
    const res = await request(`http://127.0.0.1:${port}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({ events: [event()] }),
    });
    expect(res.statusCode).toBe(503);
    await res.body.dump();
    await failing.close();
  });
});
