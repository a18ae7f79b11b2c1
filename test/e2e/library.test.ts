import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, UsageError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { Krill } from '../../src/krill.js';
import { isolatedEnv } from '../harness/cli.js';
import { seedWebRepository } from '../harness/fixtures.js';
import { Pusher } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// The README's Library example, run as written against two real registries: only the host names
// are replaced, and `import … from 'krill-registry'` resolves to this package (Node's self-reference).
let source: TestRegistry;
let mirror: TestRegistry;

beforeAll(async () => {
  [source, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  await seedWebRepository(source);
});
afterAll(async () => {
  await Promise.all([source?.stop(), mirror?.stop()]);
});

function readmeExample(): string {
  const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library'));
  return /```ts\n([\s\S]*?)```/.exec(section)![1]!;
}

describe('the README library example', () => {
  it('runs as written: tags, inspect, planCleanup, apply, copy', async () => {
    const dir = join(import.meta.dirname, '../../.test-output');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, 'readme-example.mjs');
    writeFileSync(
      script,
      readmeExample().replaceAll('localhost:5000', source.host).replaceAll('mirror.example.com', mirror.host),
    );
    const env = isolatedEnv();
    const { stdout } = await promisify(execFile)(process.execPath, [script], { env, cwd: env.HOME });
    expect(stdout).toMatch(/^\d+ sha256:[a-f0-9]{64}\n\d+ deleted\n$/);
    expect(await new Pusher(mirror).resolve('apps/web', '2.0.0')).toBe(
      await new Pusher(source).resolve('apps/web', '2.0.0'),
    );
    expect(readFileSync(join(env.HOME!, 'undo.jsonl'), 'utf8')).toContain('"kind":"delete-manifest"');
  });
});

describe('per-call options', () => {
  const recorder = (onDebug: () => void = () => {}) => {
    const lines: string[] = [];
    const logger: Logger = {
      debugEnabled: true,
      debug: (message) => {
        lines.push(message);
        onDebug();
      },
      warn: (message) => lines.push(message),
    };
    return { lines, logger };
  };

  it("a call's signal stops that call only, and its logger gets that call's lines", async () => {
    const facade = recorder();
    const krill = new Krill({ registry: source.host, cache: false, env: isolatedEnv(), logger: facade.logger });
    try {
      // The call's first logged request aborts it: the rest of its reads never start.
      const controller = new AbortController();
      const call = recorder(() => controller.abort());
      await expect(krill.tags('apps/web', { signal: controller.signal, logger: call.logger })).rejects.toBeInstanceOf(
        AbortedError,
      );
      expect(call.lines.length).toBeGreaterThan(0);
      expect(facade.lines).toEqual([]);
      // The facade is not stopped: the next call reads every tag, logging to the facade's logger.
      expect((await krill.tags('apps/web')).length).toBeGreaterThan(3);
      expect(facade.lines.length).toBeGreaterThan(0);
    } finally {
      await krill.close();
    }
  });

  it('a call stopped by its own signal does not stop another call waiting on the same ping', async () => {
    const krill = new Krill({ registry: source.host, cache: false, env: isolatedEnv() });
    try {
      const controller = new AbortController();
      const call = recorder(() => controller.abort());
      // The first call starts the client's ping and is stopped during it; the second waits on that ping.
      const [stopped, other] = await Promise.allSettled([
        krill.tags('apps/web', { signal: controller.signal, logger: call.logger }),
        krill.tags('apps/web'),
      ]);
      expect(stopped.status).toBe('rejected');
      expect(other.status === 'fulfilled' ? other.value.length : String(other.reason)).toBeGreaterThan(3);
    } finally {
      await krill.close();
    }
  });
});

describe('objects from JavaScript callers are checked at run time', () => {
  // No type checker on the caller's side: a misspelt or policy-file-spelt key must not be dropped.
  const cases: Array<[string, (k: Krill) => Promise<unknown>, RegExp]> = [
    [
      "the policy file's spelling",
      (k) => k.planCleanup({ repositories: ['apps/web'], rules: { keep: 5, 'delete-regex': ['^mr-'] } as never }),
      /^planCleanup options\.rules: unknown key "delete-regex" — did you mean "deleteRegex"\? \(expected one of tags, keep, deleteRegex, /,
    ],
    [
      'a misspelt key',
      (k) => k.planCleanup({ repositories: ['apps/web'], rules: { kep: 5 } as never }),
      /^planCleanup options\.rules: unknown key "kep" \(expected one of tags, keep, /,
    ],
    [
      'a string where a list is expected',
      (k) => k.planCleanup({ repositories: ['apps/web'], rules: { deleteRegex: '^v' as never } }),
      /^planCleanup options\.rules\.deleteRegex must be a list of strings$/,
    ],
    [
      'an unknown request key',
      (k) => k.planCleanup({ repositories: ['apps/web'], dryRun: true } as never),
      /^planCleanup options: unknown key "dryRun"/,
    ],
    [
      'a copy login',
      (k) => k.copy('apps/web:1.0.0', 'apps/copy', { sourceLogin: { user: 'x' } as never }),
      /^copy options\.sourceLogin: unknown key "user" \(expected one of username, password\)$/,
    ],
  ];
  it.each(cases)('%s: a UsageError (exit 2) before any request', async (_, call, message) => {
    const requests: string[] = [];
    const logger: Logger = { debugEnabled: true, debug: (m) => requests.push(m), warn: () => {} };
    const k = new Krill({ registry: source.host, plainHttp: true, env: isolatedEnv(), logger });
    const error = await call(k).catch((e: unknown) => e);
    await k.close();
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).code).toBe('USAGE');
    expect((error as Error).message).toMatch(message);
    expect(requests).toEqual([]);
  });

  it('the constructor checks its options too', () => {
    expect(() => new Krill({ concurency: 4 } as never)).toThrow(/^Krill options: unknown key "concurency"/);
  });
});
