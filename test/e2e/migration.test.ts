import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';

// The README's migration tables (Plankton, docker-registry-util, lstags, cleanreg): every krill
// command in them runs, in process, against a real registry — a flag that no longer exists, or a
// row that no longer parses, fails here. Rows with `…` (placeholders) and --daemon are left out.
const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
const SECTIONS = ['For Plankton users', 'For docker-registry-util users', 'For lstags users', 'For cleanreg users'];

/** The first `krill …` command of each table row's krill column. */
function tableCommands(section: string): string[] {
  const start = README.indexOf(`### ${section}`);
  const end = README.indexOf('\n### ', start + 4);
  const rows = README.slice(start, end)
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  return rows.flatMap((row) => {
    const cell = row.split(' | ')[1] ?? '';
    const command = /`(krill [^`]+)`/.exec(cell)?.[1];
    return command && !command.includes('…') && !command.includes('--daemon') ? [command] : [];
  });
}

/** Splits a command line like a shell would for these rows (single quotes and backslash escapes). */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!.replace(/\\(.)/g, '$1'));
}

let registry: TestRegistry;
let dir: string;
beforeAll(async () => {
  registry = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), 'krill-migration-'));
  const pusher = new Pusher(registry);
  let n = 0;
  const push = async (repository: string, ...tags: string[]) => {
    for (const tag of tags)
      await pusher.push(
        repository,
        buildImage({ created: `2024-01-${String(++n).padStart(2, '0')}T00:00:00Z`, layers: [`${repository} ${tag}`] }),
        tag,
      );
  };
  await push('apps/fancy', '1.0.0', '1.1.0', '1.2.0');
  await push('my-repo', '1.2.0', '1.3.2', '1.4.0', 'latest');
  await push('mysql', '5.7', '8.0');
  await push('alpine', '3.19', '3.20');
  await push('nginx', '1.27');
  writeFileSync(join(dir, 'cleanreg-example.conf'), 'mysql 1\n');
  writeFileSync(join(dir, 'repos.conf'), 'mysql 1\n');
  writeFileSync(join(dir, 'lstags.yaml'), 'lstags:\n  repositories:\n    - alpine\n');
});
afterAll(async () => {
  await registry?.stop();
});

describe('the README migration tables', () => {
  for (const section of SECTIONS) {
    it(`${section}: every krill command runs`, async () => {
      const commands = tableCommands(section);
      expect(commands.length).toBeGreaterThan(0);
      for (const command of commands) {
        const args = words(command)
          .slice(1)
          .map((w) =>
            w
              .replace(/^(registry\.example\.com|localhost:5000|HOST:5000|HOST)/, registry.host)
              .replace(/^(cleanreg-example\.conf|repos\.conf|lstags\.yaml)$/, (f) => join(dir, f)),
          );
        // A row that would ask for confirmation runs as a dry run (there is no terminal to answer on).
        const deletes = ['cleanup', 'rm'].includes(args[0]!);
        if (deletes && !args.includes('--yes') && !args.includes('--dry-run')) args.push('--dry-run');
        // Short names resolve against the test registry, as KRILL_REGISTRY makes them do.
        const res = await runKrill(args, { env: isolatedEnv({ KRILL_REGISTRY: registry.host }) });
        // The engine commands (compare, pull) have no engine here: exactly 1, saying so; all else 0.
        const engine = ['compare', 'pull'].includes(args[0]!);
        expect(res.code, `${command}\n${res.stderr}`).toBe(engine ? 1 : 0);
        if (engine) expect(res.stderr, command).toMatch(/docker|engine|DOCKER_HOST/i);
        expect(res.stderr, command).not.toMatch(/unknown option|unknown command|internal error/);
      }
    });
  }
});
