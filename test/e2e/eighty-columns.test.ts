import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { seedApiRepository } from '../harness/fixtures.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';

// Every human-readable output at 80 columns (the width krill assumes when it cannot ask the
// terminal): no line longer, whatever the command. One exception: a word cannot wrap, so a line
// longer only because of one long word (a path, a reference, a full digest) is allowed when the
// rest of it is short (a label or an arrow).
let a: TestRegistry;
let b: TestRegistry;

beforeAll(async () => {
  [a, b] = await Promise.all([startRegistry(), startRegistry()]);
  await seedApiRepository(a, 'apps/a-rather-long-repository-name/service');
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const repo = () => `${a.host}/apps/a-rather-long-repository-name/service`;

function tooLong(output: string): string[] {
  return output.split('\n').filter((line) => {
    if (line.length <= 80) return false;
    const longest = Math.max(...line.split(/\s+/).map((word) => word.length));
    return line.length - longest > 14;
  });
}

describe('80 columns', () => {
  const env = isolatedEnv();
  it.each([
    ['tags', () => ['tags', repo()]],
    ['tags --all', () => ['tags', repo(), '--all']],
    ['inspect of an index', () => ['inspect', `${repo()}:2.0.0`]],
    ['inspect --tree', () => ['inspect', `${repo()}:1.0.0`, '--tree']],
    ['cleanup --dry-run', () => ['cleanup', repo(), '--keep', '1', '--dry-run']],
    ['rm --dry-run', () => ['rm', `${repo()}:1.0.0`, '--dry-run']],
    ['copy', () => ['copy', `${repo()}:2.0.0`, `${b.host}/mirror/a-rather-long-repository-name/service:2.0.0`]],
    ['copy --all-tags', () => ['copy', '--all-tags', repo(), `${b.host}/mirror/all/service`]],
    ['sync', () => ['sync', repo(), '--to', `${b.host}/synced`]],
    ['sync --dry-run', () => ['sync', repo(), '--to', `${b.host}/dry`, '--dry-run']],
    ['repos', () => ['repos', a.host]],
    ['config', () => ['config']],
  ])('%s', async (_, args) => {
    const res = await runKrill(args(), { env });
    expect(res.code, res.stderr).toBe(0);
    expect(tooLong(res.stdout), res.stdout).toEqual([]);
    expect(tooLong(res.stderr), res.stderr).toEqual([]);
  });

  // With a ledger configured (an empty one: the columns and messages, not the figures, matter here).
  const ledgerEnv = { ...env, KRILL_LEDGER: `sqlite:${env.HOME}/ledger.db` };
  it.each([
    ['tags with the ledger columns', () => ['tags', repo()]],
    ['history', () => ['history', `${repo()}:1.0.0`]],
    ['ledger status', () => ['ledger', 'status']],
    ['cleanup --unpulled-for --dry-run', () => ['cleanup', repo(), '--unpulled-for', '30d', '--dry-run']],
  ])('%s', async (_, args) => {
    const res = await runKrill(args(), { env: ledgerEnv });
    expect(res.code, res.stderr).toBe(0);
    expect(tooLong(res.stdout), res.stdout).toEqual([]);
    expect(tooLong(res.stderr), res.stderr).toEqual([]);
  });

  it('cleanup --yes, then undo', async () => {
    const cleanup = await runKrill(['cleanup', repo(), '--keep', '0', '--no-protect-latest', '--yes'], { env });
    expect(cleanup.code, cleanup.stderr).toBe(0);
    expect(tooLong(cleanup.stdout), cleanup.stdout).toEqual([]);
    const journal = /krill undo (\S+)/.exec(cleanup.stdout)![1]!;
    const undo = await runKrill(['undo', journal, '--yes'], { env });
    expect(undo.code, undo.stderr).toBe(0);
    expect(tooLong(undo.stdout), undo.stdout).toEqual([]);
  });
});
