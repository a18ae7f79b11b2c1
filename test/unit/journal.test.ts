import { mkdtempSync, readFileSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
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

describe('Journal edges (each case pins one branch the mutation run found unpinned)', () => {
  it('a path under a regular file cannot be used: the error names the path and the cause', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), '');
    const path = join(d, 'file', 'under.jsonl');
    const error = (await Journal.open(path).catch((e: unknown) => e)) as JournalError;
    expect(error).toBeInstanceOf(JournalError);
    expect(error.message).toBe(`cannot use the undo journal ${path}: ENOTDIR`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOTDIR');
  });

  it('a directory that cannot be made is a JournalError naming the path and the cause', async () => {
    // A dangling symlink as the directory: lstat says ENOENT, mkdir fails (even for root).
    const d = dir();
    symlinkSync(join(d, 'nowhere', 'x'), join(d, 'dangling'));
    const path = join(d, 'dangling', 'undo.jsonl');
    const error = (await Journal.open(path).catch((e: unknown) => e)) as JournalError;
    expect(error).toBeInstanceOf(JournalError);
    expect(error.message).toBe(`cannot write the undo journal ${path}: ENOENT`);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('a write after close is a JournalError naming the path and the cause', async () => {
    const path = join(dir(), 'closed.jsonl');
    const journal = await Journal.open(path);
    await journal.recordAll([entry]);
    await journal.close();
    const error = (await journal.recordAll([entry]).catch((e: unknown) => e)) as JournalError;
    expect(error).toBeInstanceOf(JournalError);
    expect(error.message).toMatch(new RegExp(`^cannot write the undo journal ${path}: \\S+$`));
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('several removals in one record are separate lines', async () => {
    const path = join(dir(), 'done.jsonl');
    const journal = await Journal.open(path);
    await journal.recordAll([entry]);
    const done = [
      { repository: 'apps/web', digest: entry.digest, tags: ['v1'], status: 'deleted' as const },
      { repository: 'apps/web', digest: entry.digest, tags: ['old'], status: 'untagged' as const },
    ];
    await journal.recordDone(done);
    await journal.close();
    expect((await readJournal(path)).done).toEqual(done);
  });

  it('an unused journal whose file someone removed meanwhile closes without error', async () => {
    const path = join(dir(), 'gone.jsonl');
    const journal = await Journal.open(path);
    rmSync(path);
    await expect(journal.close()).resolves.toBeUndefined();
  });

  it('checkJournalPath names what is wrong with the path', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), '');
    await expect(checkJournalPath(join(d, 'file', 'j.jsonl'))).rejects.toThrow(
      `--journal ${join(d, 'file', 'j.jsonl')}: a part of the path is a file, not a directory; choose another path`,
    );
    await expect(checkJournalPath(join(d, 'missing', 'j.jsonl'))).rejects.toThrow(
      `--journal ${join(d, 'missing', 'j.jsonl')}: the directory ${join(d, 'missing')} does not exist; choose another path`,
    );
    // A name the filesystem refuses, in a directory that exists: refused, not taken as new.
    const long = join(d, 'x'.repeat(300));
    await expect(checkJournalPath(long)).rejects.toThrow(
      `--journal ${long}: cannot be used (ENAMETOOLONG); choose another path`,
    );
    symlinkSync('loop', join(d, 'loop'));
    await expect(checkJournalPath(join(d, 'loop', 'j.jsonl'))).rejects.toThrow(
      `--journal ${join(d, 'loop', 'j.jsonl')}: cannot be used (ELOOP); choose another path`,
    );
  });

  it('the default path falls back to ~/.local/state when XDG_STATE_HOME is empty', () => {
    const path = defaultJournalPath({ XDG_STATE_HOME: '' }, 'r.example', new Date('2026-01-02T03:04:05.678Z'));
    expect(path).toBe(
      join(homedir(), '.local', 'state', 'krill', 'journals', '2026-01-02T03-04-05-678Z-r.example.jsonl'),
    );
  });
});

describe('readJournal edges', () => {
  it('blank and whitespace-only lines are skipped anywhere', async () => {
    const back = await read(`${line()}\n   \n\t\n${line({ tags: ['v2'] })}\n`);
    expect(back.entries.map((e) => e.tags)).toEqual([['v1', 'latest'], ['v2']]);
  });

  it('a journal of removals only is a journal; both statuses are read', async () => {
    const done = (status: string) =>
      JSON.stringify({ kind: 'done', repository: 'apps/web', digest: entry.digest, tags: ['v1'], status });
    const back = await read(`${done('deleted')}\n${done('untagged')}\n`);
    expect(back.entries).toEqual([]);
    expect(back.done.map((d) => d.status)).toEqual(['deleted', 'untagged']);
  });

  it.each([
    ['null', 'null'],
    ['a number', '7'],
    ['a string', '"delete-manifest"'],
  ])('a line that is %s is not a journal entry', async (_, text) => {
    await expect(read(`${line()}\n${text}\n`)).rejects.toThrow(/:2: not a journal entry; pass the journal file/);
  });

  it('tags must be strings, not values that print as tags', async () => {
    await expect(read(`${line({ tags: [7] })}\n`)).rejects.toThrow(/:1: invalid "tags"/);
  });

  it('every scheme krill writes is read back; a host in another spelling than krill writes is refused', async () => {
    for (const scheme of ['https', 'http', 'auto'])
      expect((await read(`${line({ registry: { host: 'r.example', scheme } })}\n`)).entries[0]!.registry.scheme).toBe(
        scheme,
      );
    for (const host of ['R.Example', 'index.docker.io'])
      await expect(read(`${line({ registry: { host, scheme: 'https' } })}\n`)).rejects.toThrow(/invalid "registry"/);
  });

  it('an entry without a parent has no parent key', async () => {
    const back = await read(`${line()}\n`);
    expect(Object.keys(back.entries[0]!)).not.toContain('parent');
  });

  it('an unreadable journal keeps the cause', async () => {
    const error = (await readJournal(dir()).catch((e: unknown) => e)) as UsageError;
    expect(error.message).toMatch(/: EISDIR; check the path$/);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('EISDIR');
  });
});
