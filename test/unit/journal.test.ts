import { mkdtempSync, readFileSync, existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalError, UsageError } from '../../src/errors.js';
import { computeDigest } from '../../src/manifest/digest.js';
import { Journal, checkJournalPath, defaultJournalPath, readJournal } from '../../src/plan/journal.js';

// The undo journal on a real filesystem: what is written, what is read back, what is refused.
const dir = () => mkdtempSync(join(tmpdir(), 'krill-journal-'));
const manifest = Buffer.from('{"schemaVersion":2,"layers":[]}');
const entry = {
  kind: 'delete-manifest' as const,
  registry: { host: 'r.example:5000', scheme: 'https' as const },
  repository: 'apps/web',
  digest: computeDigest(manifest),
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  manifest: manifest.toString('base64'),
  tags: ['v1', 'latest'],
};
const line = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({ ...entry, time: '2026-01-01T00:00:00Z', ...overrides });

async function read(text: string) {
  const path = join(dir(), 'j.jsonl');
  writeFileSync(path, text);
  return readJournal(path);
}

describe('Journal (writing)', () => {
  it('appends intents and removals, synced, and reads them back as written', async () => {
    const path = join(dir(), 'sub', 'undo.jsonl');
    const journal = await Journal.open(path);
    await journal.recordAll([entry, { ...entry, kind: 'untag', tags: ['old'] }]);
    await journal.recordDone([{ repository: 'apps/web', digest: entry.digest, tags: ['v1'], status: 'deleted' }]);
    expect(journal.entries).toBe(2);
    await journal.close();
    expect(journal.kept).toBe(true);
    const back = await readJournal(path);
    expect(back.entries.map((e) => [e.kind, e.tags])).toEqual([
      ['delete-manifest', ['v1', 'latest']],
      ['untag', ['old']],
    ]);
    expect(back.entries[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(back.done).toEqual([{ repository: 'apps/web', digest: entry.digest, tags: ['v1'], status: 'deleted' }]);
    expect(back.warnings).toEqual([]);
  });

  it('a journal krill created and never wrote is removed; one that existed is kept, and appended to', async () => {
    const empty = join(dir(), 'empty.jsonl');
    const unused = await Journal.open(empty);
    await unused.recordAll([]);
    await unused.recordDone([]);
    await unused.close();
    expect(existsSync(empty)).toBe(false);

    const given = join(dir(), 'given.jsonl');
    writeFileSync(given, `${line()}\n`);
    const again = await Journal.open(given);
    expect(again.kept).toBe(true);
    await again.recordAll([{ ...entry, tags: ['v2'] }]);
    await again.close();
    expect(readFileSync(given, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('a directory, or a symlink, given as the journal is refused; an unwritable place is a JournalError', async () => {
    const d = dir();
    await expect(Journal.open(d)).rejects.toThrow(UsageError);
    symlinkSync(join(d, 'elsewhere'), join(d, 'link.jsonl'));
    await expect(Journal.open(join(d, 'link.jsonl'))).rejects.toThrow(/exists and is not a regular file/);
    writeFileSync(join(d, 'file'), '');
    await expect(Journal.open(join(d, 'file', 'under.jsonl'))).rejects.toThrow(JournalError);
  });

  it('checkJournalPath: a regular file or a new name in an existing directory, nothing else', async () => {
    const d = dir();
    await expect(checkJournalPath(join(d, 'new.jsonl'))).resolves.toBeUndefined();
    writeFileSync(join(d, 'old.jsonl'), '');
    await expect(checkJournalPath(join(d, 'old.jsonl'))).resolves.toBeUndefined();
    await expect(checkJournalPath(d)).rejects.toThrow(
      /^--journal .*: exists and is not a regular file; choose another path$/,
    );
    await expect(checkJournalPath(join(d, 'missing', 'j.jsonl'))).rejects.toThrow(UsageError);
    await expect(checkJournalPath(join(d, 'old.jsonl', 'j.jsonl'))).rejects.toThrow(UsageError);
  });

  it('the default path: the state directory, a sortable time, the host made file-safe', () => {
    const path = defaultJournalPath({ XDG_STATE_HOME: '/state' }, '[::1]:5000', new Date('2026-01-02T03:04:05.678Z'));
    expect(path).toBe('/state/krill/journals/2026-01-02T03-04-05-678Z-___1__5000.jsonl');
  });
});

describe('readJournal (a journal is input like any other)', () => {
  it('a cut last line after valid ones is a warning; a cut line elsewhere is refused', async () => {
    const ok = await read(`${line()}\n${line().slice(0, 30)}`);
    expect(ok.entries).toHaveLength(1);
    expect(ok.warnings).toEqual([expect.stringMatching(/:2: the last line is incomplete/)]);
    await expect(read(`${line().slice(0, 30)}\n${line()}\n`)).rejects.toThrow(/:1: not JSON/);
  });

  it('an empty file, garbage or another program JSON is not a journal', async () => {
    for (const text of ['', '\n\n', '\u0000\u0001binary', '{"name":"package"}\n'])
      await expect(read(text)).rejects.toThrow(UsageError);
    await expect(read('')).rejects.toThrow(/is not a krill journal \(no valid entry\)/);
  });

  it.each([
    ['repository', { repository: '../etc' }, 'invalid "repository"'],
    ['digest', { digest: 'sha256:nothex' }, 'invalid "digest"'],
    ['tags', { tags: ['ok', 'bad tag'] }, 'invalid "tags"'],
    ['tags not a list', { tags: 'v1' }, 'invalid "tags"'],
    ['kind', { kind: 'delete-everything' }, 'invalid "kind"'],
    ['registry scheme', { registry: { host: 'r.example', scheme: 'ftp' } }, 'invalid "registry"'],
    ['registry host', { registry: { host: 'R.Example:5000/x', scheme: 'https' } }, 'invalid "registry"'],
    ['registry missing', { registry: undefined }, 'invalid "registry"'],
    ['mediaType', { mediaType: 7 }, 'missing fields'],
    ['time', { time: undefined }, 'missing fields'],
    [
      'manifest bytes of another digest',
      { manifest: Buffer.from('{}').toString('base64') },
      '"manifest" does not match "digest"',
    ],
    ['parent', { parent: 'not-a-digest' }, 'invalid "parent"'],
  ])('refuses a line with a bad %s, naming the line', async (_, overrides, message) => {
    const error = await read(`${line()}\n${line(overrides)}\n`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(`:2: ${message}`);
    expect((error as Error).message).toMatch(/pass the journal file krill named after the cleanup$/);
  });

  it('done lines need a known status; a parent digest is kept', async () => {
    const done = JSON.stringify({
      kind: 'done',
      repository: 'apps/web',
      digest: entry.digest,
      tags: [],
      status: 'gone',
    });
    await expect(read(`${line()}\n${done}\n`)).rejects.toThrow(/:2: invalid "status"/);
    const parent = `sha256:${'a'.repeat(64)}`;
    const withParent = await read(`${line({ parent, tags: [] })}\n`);
    expect(withParent.entries[0]!.parent).toBe(parent);
    expect(withParent.entries[0]!.registry).toEqual({ host: 'r.example:5000', scheme: 'https' });
  });

  it('a missing file is a usage error naming it', async () => {
    const path = join(dir(), 'nope.jsonl');
    await expect(readJournal(path)).rejects.toThrow(`cannot read journal ${path}: ENOENT; check the path`);
  });
});
