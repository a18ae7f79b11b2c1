import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Limiter, mapConcurrent } from '../../src/http/limiter.js';
import { ContentCache } from '../../src/registry/content-cache.js';
import { computeDigest } from '../../src/manifest/digest.js';
import { compareWithLocal, compareWithRegistry } from '../../src/engine/compare.js';
import { judgeRestore, restoreOrder, undoJournal } from '../../src/plan/undo.js';
import type { JournalEntry } from '../../src/plan/journal.js';
import type { RegistryApi } from '../../src/registry/api.js';
import { AbortedError, RegistryError } from '../../src/errors.js';

// Pure and local parts that had no unit test: the limiter, the pack cache, compare states, undo's verdict.
describe('Limiter and mapConcurrent', () => {
  it('never runs more than the limit, keeps FIFO order, and lowers/raises the limit', async () => {
    const limiter = new Limiter(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (n: number) => () =>
      new Promise<number>((resolve) => {
        started.push(n);
        active++;
        peak = Math.max(peak, active);
        setTimeout(() => {
          active--;
          resolve(n);
        }, 5);
      });
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => limiter.run(task(n))));
    expect(results).toEqual([1, 2, 3, 4, 5]);
    expect(peak).toBe(2);
    expect(started).toEqual([1, 2, 3, 4, 5]);
    limiter.setLimit(0.4);
    expect(limiter.limit).toBe(1);
    limiter.setLimit(99);
    expect(limiter.limit).toBe(2);
  });

  it('mapConcurrent keeps input order', async () => {
    expect(await mapConcurrent([30, 10, 20], 3, async (ms) => new Promise((r) => setTimeout(() => r(ms), ms)))).toEqual(
      [30, 10, 20],
    );
  });
});

describe('ContentCache (pack files)', () => {
  const entry = (text: string) => {
    const bytes = Buffer.from(text);
    return { digest: computeDigest(bytes), bytes };
  };

  it('flushes to a pack, serves it to the next run, and merges packs past eight', () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-cache-'));
    const entries = Array.from({ length: 10 }, (_, i) => entry(`manifest ${i}`));
    for (const { digest, bytes } of entries) {
      const run = new ContentCache(dir);
      run.put(digest, bytes);
      run.flush();
      run.close();
    }
    const later = new ContentCache(dir);
    for (const { digest, bytes } of entries) expect(later.get(digest)).toEqual(bytes);
    later.close();
    expect(readdirSync(join(dir, 'packs')).filter((n) => n.endsWith('.pack')).length).toBeLessThanOrEqual(9);
  });

  it('a damaged pack is a miss, never wrong data; a damaged index only costs its entries', () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-cache-'));
    const a = entry('{"a":1}');
    const cache = new ContentCache(dir);
    cache.put(a.digest, a.bytes);
    cache.flush();
    cache.close();
    const pack = readdirSync(join(dir, 'packs')).find((n) => n.endsWith('.pack'))!;
    const bytes = readFileSync(join(dir, 'packs', pack));
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(join(dir, 'packs', pack), bytes);
    expect(new ContentCache(dir).get(a.digest)).toBeUndefined();
    writeFileSync(join(dir, 'packs', pack.replace(/\.pack$/, '.idx')), '{not json');
    expect(new ContentCache(dir).get(a.digest)).toBeUndefined();
  });
});

describe('compare states', () => {
  const name = 'registry.example.com/apps/web';
  const remote = {
    listed: new Map([
      ['1', 'sha256:a'],
      ['2', 'sha256:b'],
    ]),
    assumed: new Map<string, string | null>([['9', null]]),
  };

  it('against the engine: PRESENT, CHANGED, ABSENT, LOCAL-ONLY, ASSUMED', () => {
    const local = [
      { id: 'sha256:i1', tags: [`${name}:1`], digests: [`${name}@sha256:a`], created: null },
      { id: 'sha256:i2', tags: [`${name}:2`, `${name}:local`], digests: [`${name}@sha256:old`], created: null },
    ];
    const states = Object.fromEntries(compareWithLocal(name, remote, local).map((r) => [r.tag, r.state]));
    expect(states).toEqual({ '1': 'PRESENT', '2': 'CHANGED', '9': 'ASSUMED', local: 'LOCAL-ONLY' });
  });

  it('against a second registry', () => {
    const states = Object.fromEntries(
      compareWithRegistry(
        remote,
        new Map([
          ['1', 'sha256:a'],
          ['x', 'sha256:c'],
        ]),
      ).map((r) => [r.tag, r.state]),
    );
    expect(states).toEqual({ '1': 'PRESENT', '2': 'ABSENT', '9': 'ASSUMED', x: 'LOCAL-ONLY' });
  });
});

describe("undo's verdict per tag", () => {
  it('restores absent tags, leaves restored ones, skips re-pushed ones unless forced', () => {
    expect(judgeRestore('sha256:a', undefined, false)).toBe('restore');
    expect(judgeRestore('sha256:a', 'sha256:a', false)).toBe('already');
    expect(judgeRestore('sha256:a', 'sha256:b', false)).toBe('skip');
    expect(judgeRestore('sha256:a', 'sha256:b', true)).toBe('restore');
  });
});

describe('undo restores what an index lists before the index', () => {
  const entry = (digest: string, manifest: object, tags: string[], kind: JournalEntry['kind'] = 'delete-manifest') => {
    const bytes = Buffer.from(JSON.stringify(manifest));
    return {
      kind,
      registry: { host: 'reg.example.com', scheme: 'https' as const },
      repository: 'apps/web',
      digest: digest || computeDigest(bytes),
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifest: bytes.toString('base64'),
      tags,
      time: '2026-12-01T00:00:00Z',
    };
  };
  const signature = entry('', { schemaVersion: 2, config: {}, layers: [], subject: {} }, []);
  const image = entry('', { schemaVersion: 2, config: {}, layers: [] }, ['v1']);
  const fallback = entry(
    '',
    { schemaVersion: 2, manifests: [{ digest: signature.digest }, { digest: `sha256:${'e'.repeat(64)}` }] },
    [`sha256-${image.digest.slice(7)}`],
  );

  /** Like distribution: an index is refused (400 MANIFEST_BLOB_UNKNOWN) while a manifest it lists is absent. */
  function memoryRegistry(refuse: Set<string> = new Set()) {
    const stored = new Set<string>([`sha256:${'e'.repeat(64)}`]);
    const puts: string[] = [];
    const api = {
      digestOf: async () => undefined,
      putManifest: async (_repository: string, reference: string, bytes: Buffer) => {
        const digest = computeDigest(bytes);
        const listed = (JSON.parse(bytes.toString()) as { manifests?: Array<{ digest: string }> }).manifests ?? [];
        if (refuse.has(digest) || listed.some((m) => !stored.has(m.digest)))
          throw new RegistryError('PUT refused', {
            status: 400,
            errors: [{ code: refuse.has(digest) ? 'BLOB_UNKNOWN' : 'MANIFEST_BLOB_UNKNOWN', message: 'x' }],
          });
        stored.add(digest);
        puts.push(reference);
        return digest;
      },
    } as unknown as RegistryApi;
    return { api, puts };
  }

  /** A tag table: tag or digest → where it points now; records every PUT. */
  function tagTable(now: Record<string, string>, fail?: (reference: string) => Error | undefined) {
    const puts: string[] = [];
    const api = {
      digestOf: async (_repository: string, reference: string) => now[reference],
      putManifest: async (_repository: string, reference: string, bytes: Buffer) => {
        const error = fail?.(reference);
        if (error) throw error;
        puts.push(reference);
        return computeDigest(bytes);
      },
    } as unknown as RegistryApi;
    return { api, puts };
  }

  it('per tag: absent is restored, back already is "already", re-pushed is skipped unless --force', async () => {
    const two = entry('', { schemaVersion: 2, config: {}, layers: [] }, ['gone', 'back', 'moved']);
    const now = { back: two.digest, moved: `sha256:${'9'.repeat(64)}` };
    const plain = tagTable(now);
    expect(await undoJournal(async () => plain.api, [two])).toEqual([
      { repository: 'apps/web', digest: two.digest, tags: ['gone'], status: 'restored' },
      { repository: 'apps/web', digest: two.digest, tags: ['back'], status: 'already' },
      {
        repository: 'apps/web',
        digest: two.digest,
        tags: ['moved'],
        status: 'skipped',
        detail: 'pushed again since the removal; pass --force to overwrite',
      },
    ]);
    expect(plain.puts).toEqual(['gone']);
    const forced = tagTable(now);
    const outcomes = await undoJournal(async () => forced.api, [two], { force: true });
    expect(outcomes.map((o) => [o.status, o.tags])).toEqual([
      ['restored', ['gone', 'moved']],
      ['already', ['back']],
    ]);
    expect(forced.puts).toEqual(['gone', 'moved']);
  });

  it('an untagged manifest: put back by digest when absent, "already" (nothing sent) when present', async () => {
    const absent = tagTable({});
    expect(await undoJournal(async () => absent.api, [signature])).toEqual([
      { repository: 'apps/web', digest: signature.digest, tags: [], status: 'restored' },
    ]);
    expect(absent.puts).toEqual([signature.digest]);
    const present = tagTable({ [signature.digest]: signature.digest });
    expect((await undoJournal(async () => present.api, [signature]))[0]!.status).toBe('already');
    expect(present.puts).toEqual([]);
  });

  it('failures: only "blob unknown" answers get a diagnosis; an interruption stops the undo', async () => {
    const refused = (code: string) => () =>
      new RegistryError('PUT refused', { status: 400, errors: [{ code, message: 'x' }] });
    const other = tagTable({}, refused('DENIED'));
    const [failed] = await undoJournal(async () => other.api, [image]);
    expect(failed).toMatchObject({ status: 'failed', tags: ['v1'], detail: 'PUT refused' });
    for (const code of ['BLOB_UNKNOWN', 'MANIFEST_BLOB_UNKNOWN', 'MANIFEST_UNKNOWN']) {
      const gone = tagTable({}, refused(code));
      const [outcome] = await undoJournal(async () => gone.api, [image]);
      expect(outcome!.detail).toBe('PUT refused (its blobs are gone: the garbage collector has run)');
    }
    // An index missing a manifest that is not in this journal says so.
    const lone = tagTable({}, refused('MANIFEST_BLOB_UNKNOWN'));
    const [index] = await undoJournal(async () => lone.api, [fallback]);
    expect(index!.detail).toBe('PUT refused (a manifest it lists is not in the registry and not in this journal)');
    const stopped = tagTable({}, () => Object.assign(new Error('aborted'), { name: 'AbortError' }));
    await expect(undoJournal(async () => stopped.api, [image])).rejects.toThrow(AbortedError);
  });

  it('the order groups platform manifests (reversed), then deleted manifests, then untags', () => {
    const platformA = { ...entry('', { schemaVersion: 2, config: {}, layers: [1] }, []), parent: image.digest };
    const platformB = { ...entry('', { schemaVersion: 2, config: {}, layers: [2] }, []), parent: image.digest };
    const untag = entry('', { schemaVersion: 2, config: {}, layers: [3] }, ['u'], 'untag');
    const deleted = entry('', { schemaVersion: 2, config: {}, layers: [4] }, ['d']);
    expect(restoreOrder([untag, platformA, deleted, platformB]).map((e) => e.digest)).toEqual([
      platformB.digest,
      platformA.digest,
      deleted.digest,
      untag.digest,
    ]);
  });

  it('orders children first whatever the journal order, deterministically', () => {
    const order = restoreOrder([fallback, image, signature]).map((e) => e.digest);
    expect(order).toEqual([signature.digest, fallback.digest, image.digest]);
    expect(restoreOrder([signature, image, fallback]).map((e) => e.digest)).toEqual([
      signature.digest,
      image.digest,
      fallback.digest,
    ]);
  });

  it('a fallback referrers index journaled before its signature is restored, not blamed on the garbage collector', async () => {
    const { api, puts } = memoryRegistry();
    const outcomes = await undoJournal(async () => api, [fallback, image, signature]);
    expect(outcomes.map((o) => o.status)).toEqual(['restored', 'restored', 'restored']);
    expect(puts).toEqual([signature.digest, fallback.tags[0], 'v1']);
  });

  it('an index whose listed manifest could not be restored says which one, not "garbage collector"', async () => {
    const { api } = memoryRegistry(new Set([signature.digest]));
    const outcomes = await undoJournal(async () => api, [fallback, signature]);
    const index = outcomes.find((o) => o.digest === fallback.digest)!;
    expect(index.status).toBe('failed');
    expect(index.detail).toBe(`PUT refused (it lists ${signature.digest}, which could not be restored: see its line)`);
    expect(index.detail).not.toMatch(/garbage collector/);
    expect(outcomes.find((o) => o.digest === signature.digest)?.detail).toMatch(/garbage collector has run/);
  });

  it('two listed manifests not restored: both named, "their lines"', async () => {
    const other = entry('', { schemaVersion: 2, config: {}, layers: [9], subject: {} }, []);
    const both = entry('', { schemaVersion: 2, manifests: [{ digest: signature.digest }, { digest: other.digest }] }, [
      'sha256-both',
    ]);
    const { api } = memoryRegistry(new Set([signature.digest, other.digest]));
    const outcomes = await undoJournal(async () => api, [both, signature, other]);
    expect(outcomes.find((o) => o.digest === both.digest)?.detail).toBe(
      `PUT refused (it lists ${signature.digest}, ${other.digest}, which could not be restored: see their lines)`,
    );
  });

  it('a journaled manifest that is not JSON lists nothing: a refusal blames the garbage collector', async () => {
    const bytes = Buffer.from('not json');
    const odd = { ...image, digest: computeDigest(bytes), manifest: bytes.toString('base64') };
    const gone = tagTable(
      {},
      () => new RegistryError('PUT refused', { status: 400, errors: [{ code: 'BLOB_UNKNOWN', message: 'x' }] }),
    );
    const [outcome] = await undoJournal(async () => gone.api, [odd]);
    expect(outcome!.detail).toBe('PUT refused (its blobs are gone: the garbage collector has run)');
    expect(restoreOrder([odd])).toEqual([odd]);
  });

  it('an interrupted undo says so and keeps the cause', async () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const stopped = tagTable({}, () => abort);
    const error = (await undoJournal(async () => stopped.api, [image]).catch((e: unknown) => e)) as AbortedError;
    expect(error).toBeInstanceOf(AbortedError);
    expect(error.message).toBe('interrupted');
    expect(error.cause).toBe(abort);
  });
});
