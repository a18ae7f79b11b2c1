import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { History } from '../../src/state/history.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describe('History: the digests krill has seen under a tag', () => {
  it('knows nothing before the first remember, then adds what is listed and forgets what is gone', async () => {
    const history = new History(mkdtempSync(join(tmpdir(), 'krill-history-')));
    expect(await history.known('r.example', 'apps/web')).toBeUndefined();
    await history.remember('r.example', 'apps/web', [d(2), d(1)], []);
    expect(await history.known('r.example', 'apps/web')).toEqual([d(1), d(2)]);
    await history.remember('r.example', 'apps/web', [d(3)], [d(1)]);
    expect(await history.known('r.example', 'apps/web')).toEqual([d(2), d(3)]);
    expect(await history.known('r.example', 'apps/other')).toBeUndefined();
  });

  it('forget drops digests krill deleted, and never starts a known list (that would claim knowledge)', async () => {
    const history = new History(mkdtempSync(join(tmpdir(), 'krill-history-')));
    await history.forget('r.example', 'apps/web', [d(1)]);
    expect(await history.known('r.example', 'apps/web')).toBeUndefined();
    await history.remember('r.example', 'apps/web', [d(1), d(2)], []);
    await history.forget('r.example', 'apps/web', [d(1)]);
    expect(await history.known('r.example', 'apps/web')).toEqual([d(2)]);
  });

  it('keeps the known digests when runs are recorded and tags marked removed', async () => {
    const history = new History(mkdtempSync(join(tmpdir(), 'krill-history-')));
    await history.remember('r.example', 'apps/web', [d(1)], []);
    await history.record('r.example', 'apps/web', {
      time: '2026-01-01T00:00:00Z',
      tags: { v1: d(1) },
      removed: [],
      planned: 1,
    });
    await history.markRemoved('r.example', 'apps/web', ['v1']);
    expect(await history.known('r.example', 'apps/web')).toEqual([d(1)]);
    expect((await history.runs('r.example', 'apps/web'))[0]!.removed).toEqual(['v1']);
  });

  it('a file whose known list holds a non-digest is not trusted: krill says it does not know', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krill-history-'));
    const history = new History(dir);
    await history.remember('r.example', 'apps/web', [d(1)], []);
    const file = join(dir, readdirSync(dir)[0]!);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...doc, known: [d(1), '../../etc/passwd'] }));
    // The next run (a History serves one run: it keeps what it read) reads the damaged file.
    expect(await new History(dir).known('r.example', 'apps/web')).toBeUndefined();
  });
});
