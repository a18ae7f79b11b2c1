import { spawn } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/harness/registry.js';
import type { Stats } from './timing.js';
import { measure } from './timing.js';

/**
 * Scale rows: repositories of 1k, 10k and 100k tags and a catalog of 10,000 repositories, served
 * by the labelled fake of bench/scale-server.ts (why a fake: see there), each command once against
 * the protocol floor measured in the same run; then a 100k-tag plan saved, loaded and applied.
 * `node bench/.work/build/bench/scale.js` prints the section alone.
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BUILD = join(ROOT, 'bench/.work/build/bench');
const KRILL = join(ROOT, 'bin/krill.js');
const FLOOR = join(BUILD, 'floor.js');
const TARGET = 1.3;
const MEMORY_MIB = 300;

async function startFake(mode: 'big' | 'catalog'): Promise<{ host: string; url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn('node', ['--max-old-space-size=4096', join(BUILD, 'scale-server.js'), String(port), mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`scale-server exited ${code}`)));
  });
  return { host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, stop: () => child.kill() };
}

const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'krill-scale-'));
  return { XDG_CACHE_HOME: dir, XDG_STATE_HOME: join(dir, 'state'), HOME: dir };
};
const none = () => {};
const once = (label: string, cmd: string[], env: Record<string, string> = fresh()) =>
  measure(
    label,
    1,
    none,
    () => cmd,
    () => env,
    false,
  );

interface Line {
  what: string;
  floor: Stats;
  krill: Stats;
}

const cell = (s: Stats) => `${s.median.toFixed(2)} s, ${s.rssMiB.toFixed(0)} MiB`;
const row = (l: Line) => {
  const ratio = l.krill.median / l.floor.median;
  const met = ratio <= TARGET && l.krill.rssMiB <= MEMORY_MIB;
  return `| ${l.what} | ${cell(l.krill)} | ${cell(l.floor)} | ${ratio.toFixed(2)}× | ${met ? 'yes' : '**no**'} |`;
};

export async function benchScale(): Promise<string[]> {
  const lines: Line[] = [];
  const growth: string[] = [];
  const big = await startFake('big');
  let plan: { save: Stats; apply: Stats; journalMiB: number; planMiB: number } | undefined;
  try {
    for (const [name, tags] of [
      ['big/r1k', '1,000'],
      ['big/r10k', '10,000'],
      ['big/r100k', '100,000'],
    ] as const) {
      const ref = `${big.host}/${name}`;
      // The floor first: it also makes the fake generate every object (later runs are not first).
      const floor = await once(`floor tags ${name}`, ['node', FLOOR, 'tags', big.url, name]);
      const list = await once(`krill tags ${name}`, ['node', KRILL, 'tags', ref, '--json']);
      const dry = await once(`krill cleanup ${name} --dry-run`, [
        'node',
        KRILL,
        'cleanup',
        ref,
        '--keep',
        '10',
        '--dry-run',
        '--json',
      ]);
      const du = await once(`krill du ${name}`, ['node', KRILL, 'du', ref, '--json']);
      lines.push(
        { what: `\`tags --json\`, ${tags} tags`, floor, krill: list },
        { what: `\`cleanup --keep 10 --dry-run\`, ${tags} tags`, floor, krill: dry },
        { what: `\`du\`, ${tags} tags`, floor, krill: du },
      );
      growth.push(`| ${tags} | ${cell(floor)} | ${cell(list)} | ${cell(dry)} | ${cell(du)} |`);
    }
    // A 100k-tag plan: saved by the dry run, loaded and applied by `krill apply` (deletes 99,990 tags).
    const env = fresh();
    const planFile = join(env.HOME, 'plan.json');
    const journal = join(env.HOME, 'journal.jsonl');
    const ref = `${big.host}/big/r100k`;
    const save = await once(
      'krill cleanup r100k --plan-out',
      ['node', KRILL, 'cleanup', ref, '--keep', '10', '--dry-run', '--plan-out', planFile],
      env,
    );
    const apply = await once(
      'krill apply r100k plan',
      ['node', KRILL, 'apply', planFile, '--yes', '--journal', journal],
      env,
    );
    plan = { save, apply, journalMiB: statSync(journal).size / 2 ** 20, planMiB: statSync(planFile).size / 2 ** 20 };
  } finally {
    big.stop();
  }
  const catalog = await startFake('catalog');
  try {
    const floor = await once('floor catalog 10k', ['node', FLOOR, 'catalog', catalog.url]);
    const dry = await once('krill cleanup --all-repos 10k', [
      'node',
      KRILL,
      'cleanup',
      '--all-repos',
      catalog.host,
      '--keep',
      '1',
      '--dry-run',
      '--json',
      '--max-delete',
      '100%',
    ]);
    const du = await once('krill du 10k', ['node', KRILL, 'du', catalog.host, '--json']);
    lines.push(
      { what: '`cleanup --all-repos --keep 1 --dry-run`, 10,000 repositories × 2 tags', floor, krill: dry },
      { what: '`du`, 10,000 repositories × 2 tags', floor, krill: du },
    );
  } finally {
    catalog.stop();
  }
  return [
    '## Scale: 100,000 tags, 10,000 repositories',
    '',
    'Served by a labelled fake that generates real manifests, indexes and configs from memory (`bench/scale-server.ts`: 100,000 tags on distribution would be 400,000 files to write first, and distribution spends ~2.5 ms per manifest of its own, so the rows would measure its filesystem). Half the tags share a digest; every tenth image is a two-platform index. One run each, empty cache; the floor (`bench/floor.ts`: the same requests, nothing else) runs against the same server in the same run.',
    '',
    `| command | krill | floor | ratio | within ${TARGET}× and ${MEMORY_MIB} MiB |`,
    '|---|---|---|---|---|',
    ...lines.map(row),
    '',
    'Growth (time, peak RSS):',
    '',
    '| tags | floor | `tags --json` | `cleanup --dry-run` | `du` |',
    '|---|---|---|---|---|',
    ...growth,
    '',
    ...(plan
      ? [
          `A 100,000-tag plan (\`--keep 10\`): saved by the dry run in ${cell(plan.save)} (plan file ${plan.planMiB.toFixed(1)} MiB); \`krill apply\` of that file, re-checking every tag and deleting 99,990 tags, in ${cell(plan.apply)}; the undo journal is ${plan.journalMiB.toFixed(1)} MiB (append-only, a line per change).`,
          '',
        ]
      : []),
  ];
}

if (process.argv[1]?.endsWith('scale.js')) process.stdout.write(`${(await benchScale()).join('\n')}\n`);
