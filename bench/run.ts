import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePrerequisites } from '../test/harness/prereqs.js';
import type { TestRegistry } from '../test/harness/registry.js';
import { peer, startRegistry } from '../test/harness/registry.js';
import { Pusher, buildImage } from '../test/harness/images.js';
import { benchLedger } from './ledger.js';
import { benchScale } from './scale.js';
import type { Row } from './timing.js';
import { fmt, measure } from './timing.js';
import { seedR1, seedR2 } from './seed.js';
import { benchCopy, benchWarmSync } from './transfer.js';

/**
 * `npm run bench`: real registries on loopback, whole processes timed (median of 5 after a
 * warm-up, min and max) with peak RSS from /usr/bin/time, krill side by side with the protocol
 * floor and skopeo in the same run. Writes bench/RESULTS.md.
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const KRILL = join(ROOT, 'bin/krill.js');
const FLOOR = join(ROOT, 'bench/.work/build/bench/floor.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

async function main() {
  ensurePrerequisites([{ binary: 'skopeo', pkg: 'skopeo' }]);
  const work = mkdtempSync(join(tmpdir(), 'krill-bench-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  let ledgerSection: string[] = [];
  let scaleSection: string[] = [];
  let syncSection: string[] = [];
  // On disk, as the registries krill meets are (and as bench/RESULTS.md was measured).
  const r1: TestRegistry = await startRegistry({ onDisk: true });
  const r2: TestRegistry = await startRegistry({ onDisk: true });
  const r3: TestRegistry = await startRegistry({ onDisk: true }); // source of the 512 MiB image
  const r4: TestRegistry = await startRegistry({ onDisk: true }); // copy destination, emptied before every run
  try {
    process.stderr.write(
      'bench: seeding R1 (1000 tags over 400 images), R2 (2000 repositories × 10 tags) and a 512 MiB image…\n',
    );
    const seeded = Date.now();
    const bigImage = buildImage({ layers: Array.from({ length: 8 }, () => randomBytes(64 * 1024 * 1024)) });
    await Promise.all([seedR1(r1, 'bench/r1'), seedR2(r2, 'r2'), new Pusher(r3).push('bench/big', bigImage, 'v1')]);
    process.stderr.write(`bench: seeded in ${((Date.now() - seeded) / 1000).toFixed(0)} s\n`);
    const pristine = join(work, 'r1-pristine');
    await r1.restart(() => cpSync(r1.storageDir, pristine, { recursive: true }));

    const ref = `${r1.host}/bench/r1`;
    const base = r1.url;
    const freshCache = () => {
      const dir = mkdtempSync(join(work, 'cache-'));
      return { XDG_CACHE_HOME: dir, XDG_STATE_HOME: join(dir, 'state'), HOME: dir };
    };
    const none = () => {};

    // tags, empty cache, vs floor
    const floorTags = await measure('floor tags R1', RUNS, none, () => ['node', FLOOR, 'tags', base, 'bench/r1']);
    const coldTags = await measure(
      'krill tags R1 --json (empty cache)',
      RUNS,
      none,
      () => ['node', KRILL, 'tags', ref, '--json'],
      freshCache,
    );
    rows.push({
      metric: '`krill tags R1 --json`, empty cache',
      krill: coldTags,
      reference: floorTags,
      referenceName: 'floor',
      kind: 'ratio',
      target: 1.3,
    });

    // warm cache vs the same command with an empty cache
    const warmEnv = freshCache();
    execFileSync('node', [KRILL, 'tags', ref, '--json'], { env: { ...process.env, ...warmEnv }, stdio: 'ignore' });
    const warmTags = await measure(
      'krill tags R1 --json (warm cache)',
      RUNS,
      none,
      () => ['node', KRILL, 'tags', ref, '--json'],
      () => warmEnv,
    );
    rows.push({
      metric: '`krill tags R1 --json`, warm cache',
      krill: warmTags,
      reference: coldTags,
      referenceName: 'same command, empty cache',
      kind: 'ratio',
      target: 0.5,
    });
    // What any correct warm run must still send: the tag list and one HEAD per tag (tags move).
    const floorHead = await measure('floor tag list + HEAD per tag R1', RUNS, none, () => [
      'node',
      FLOOR,
      'head',
      base,
      'bench/r1',
    ]);
    rows.push({
      metric: '`krill tags R1 --json`, warm cache (context)',
      krill: warmTags,
      reference: floorHead,
      referenceName: 'floor: tag list + one HEAD per tag',
      kind: 'ratio',
      target: 1.3,
    });
    notes.push(
      `The warm-cache floor (tag list + one HEAD per tag) is ${(floorHead.median / coldTags.median).toFixed(2)}× of krill's empty-cache run: see bench/EXPLANATIONS.md.`,
    );

    // skopeo: list-tags then inspect every tag, sequential and 8 in parallel
    const tagList = JSON.parse(
      execFileSync('skopeo', ['list-tags', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' }),
    ).Tags as string[];
    const script = join(work, 'skopeo.sh');
    writeFileSync(
      script,
      `#!/bin/sh\nset -e\nskopeo list-tags --tls-verify=false docker://${ref} >/dev/null\nprintf '%s\\n' ${tagList.join(' ')} | xargs -P "$P" -I{} skopeo inspect --tls-verify=false docker://${ref}:{} >/dev/null\n`,
    );
    const skopeoRuns = Number(process.env.BENCH_SKOPEO_RUNS ?? 1);
    const skopeoSeq = await measure(
      'skopeo list-tags + inspect each tag, sequential',
      skopeoRuns,
      none,
      () => ['sh', script],
      () => ({ P: '1' }),
      skopeoRuns > 1,
    );
    rows.push({
      metric: '`krill tags R1 --json`',
      krill: coldTags,
      reference: skopeoSeq,
      referenceName: 'skopeo list-tags + inspect per tag, sequential',
      kind: 'speedup',
      target: 7,
    });
    const skopeoPar = await measure(
      'skopeo list-tags + inspect each tag, 8 in parallel',
      skopeoRuns,
      none,
      () => ['sh', script],
      () => ({ P: '8' }),
      skopeoRuns > 1,
    );
    rows.push({
      metric: '`krill tags R1 --json`',
      krill: coldTags,
      reference: skopeoPar,
      referenceName: 'the same skopeo work, 8 in parallel',
      kind: 'speedup',
      target: 4,
    });
    // crane and regctl: the tag list, then each tag's digest, 8 in parallel (their fastest way to
    // list tags with digests; krill's rows carry created, size and platforms on top).
    const peerRuns = Number(process.env.BENCH_PEER_RUNS ?? 3);
    const regctlHome = mkdtempSync(join(work, 'regctl-home-'));
    execFileSync(peer('regctl'), ['registry', 'set', r1.host, '--tls', 'disabled'], {
      env: { ...process.env, HOME: regctlHome },
    });
    for (const [name, list, digest] of [
      ['crane', `${peer('crane')} ls --insecure`, `${peer('crane')} digest --insecure`],
      ['regctl', `${peer('regctl')} tag ls`, `${peer('regctl')} image digest`],
    ] as const) {
      const peerScript = join(work, `${name}.sh`);
      writeFileSync(peerScript, `#!/bin/sh\nset -e\n${list} ${ref} | xargs -P 8 -I{} ${digest} ${ref}:{} >/dev/null\n`);
      const peerStats = await measure(
        `${name}: tag list + digest per tag, 8 in parallel`,
        peerRuns,
        none,
        () => ['sh', peerScript],
        () => ({ HOME: regctlHome }),
        false,
      );
      rows.push({
        metric: '`krill tags R1 --json`',
        krill: coldTags,
        reference: peerStats,
        referenceName: `${name}: tag list + digest per tag, 8 in parallel`,
        kind: 'speedup',
        target: 1,
      });
    }
    if (skopeoRuns === 1)
      notes.push(
        'skopeo runs take minutes each, so they are measured once (no warm-up); set BENCH_SKOPEO_RUNS to repeat them.',
      );

    // --no-details vs tag-list floor
    const floorList = await measure('floor tag list R1', RUNS, none, () => ['node', FLOOR, 'list', base, 'bench/r1']);
    const noDetails = await measure(
      'krill tags R1 --no-details',
      RUNS,
      none,
      () => ['node', KRILL, 'tags', ref, '--no-details'],
      freshCache,
    );
    rows.push({
      metric: '`krill tags R1 --no-details`',
      krill: noDetails,
      reference: floorList,
      referenceName: 'floor (tag list only)',
      kind: 'ratio',
      target: 1.5,
    });

    // cleanup --keep 100 --yes vs the floor of the same deletes; R1 restored before every run
    const restore = () =>
      r1.restart(() => {
        rmSync(r1.storageDir, { recursive: true, force: true });
        cpSync(pristine, r1.storageDir, { recursive: true });
      });
    const planEnv = freshCache();
    const planPath = join(work, 'plan.json');
    execFileSync('node', [KRILL, 'cleanup', ref, '--keep', '100', '--dry-run', '--plan-out', planPath], {
      env: { ...process.env, ...planEnv },
      stdio: 'ignore',
    });
    const plan = JSON.parse(readFileSync(planPath, 'utf8')) as {
      repositories: Array<{ delete: unknown[]; actions: Array<{ kind: string; digest: string }> }>;
    };
    const digests = plan.repositories[0]!.actions.filter((a) => a.kind === 'delete-manifest').map((a) => a.digest);
    const digestFile = join(work, 'digests.txt');
    writeFileSync(digestFile, `${digests.join('\n')}\n`);
    notes.push(
      `The cleanup plan deletes ${plan.repositories[0]!.delete.length} tags as ${digests.length} manifest deletes (platform manifests of deleted indexes included).`,
    );
    const floorDelete = await measure('floor cleanup R1', RUNS, restore, () => [
      'node',
      FLOOR,
      'delete',
      base,
      'bench/r1',
      digestFile,
    ]);
    const cleanup = await measure(
      'krill cleanup R1 --keep 100 --yes',
      RUNS,
      restore,
      () => ['node', KRILL, 'cleanup', ref, '--keep', '100', '--yes'],
      freshCache,
    );
    rows.push({
      metric: '`krill cleanup R1 --keep 100 --yes`',
      krill: cleanup,
      reference: floorDelete,
      referenceName: 'floor: read + the same deletes',
      kind: 'ratio',
      target: 1.3,
    });
    // The same with the re-check krill's safety rules require: every tag HEADed again before deleting.
    const floorChecked = await measure('floor cleanup R1 with re-check', RUNS, restore, () => [
      'node',
      FLOOR,
      'checked',
      base,
      'bench/r1',
      digestFile,
    ]);
    rows.push({
      metric: '`krill cleanup R1 --keep 100 --yes` (context)',
      krill: cleanup,
      reference: floorChecked,
      referenceName: 'floor: read + re-check every tag + the same deletes',
      kind: 'ratio',
      target: 1.3,
    });

    // all-repos dry run on R2
    // No warm-up here: each run reads 32,000 objects (~40 s), and the floor runs just before warm the server.
    const floorCatalog = await measure(
      'floor catalog R2',
      RUNS,
      none,
      () => ['node', FLOOR, 'catalog', r2.url],
      () => ({}),
      false,
    );
    const allRepos = await measure(
      'krill cleanup --all-repos R2 --keep 3 --dry-run',
      RUNS,
      none,
      () => ['node', KRILL, 'cleanup', '--all-repos', r2.host, '--keep', '3', '--dry-run'],
      freshCache,
      false,
    );
    notes.push(
      'The R2 rows have no warm-up run (each run reads 32,000 objects); the floor runs just before them warm the server.',
    );
    rows.push({
      metric: '`krill cleanup --all-repos --keep 3 --dry-run` on R2 (20,000 tags)',
      krill: allRepos,
      reference: floorCatalog,
      referenceName: 'floor',
      kind: 'ratio',
      target: 1.3,
      extra: `peak RSS ${allRepos.rssMiB.toFixed(0)} MiB (target ≤ 300 MiB)`,
    });

    // du of R2: the whole catalog read once (every manifest and config), then accounted
    const du = await measure(
      'krill du R2',
      RUNS,
      none,
      () => ['node', KRILL, 'du', r2.host, '--json'],
      freshCache,
      false,
    );
    rows.push({
      metric: '`krill du` on R2 (20,000 tags), empty cache',
      krill: du,
      reference: floorCatalog,
      referenceName: 'floor',
      kind: 'ratio',
      target: 1.3,
      extra: `peak RSS ${du.rssMiB.toFixed(0)} MiB (target ≤ 300 MiB)`,
    });

    const copy = await benchCopy(r3, r4);
    rows.push(...copy.rows);
    notes.push(...copy.notes);
    await restore(); // the cleanup rows left R1 cleaned
    syncSection = await benchWarmSync(r1, r4, 'bench/r1');

    // startup
    const nodeStart = await measure('node -e 0', RUNS, none, () => ['node', '-e', '0']);
    const version = await measure('krill --version', RUNS, none, () => ['node', KRILL, '--version']);
    rows.push({
      metric: '`krill --version`',
      krill: version,
      reference: nodeStart,
      referenceName: '`node -e 0`',
      kind: 'ratio',
      target: 2,
    });
    // The ledger last: its registries and PostgreSQL start after the others are idle.
    ledgerSection = await benchLedger();
    scaleSection = await benchScale();
  } finally {
    await Promise.all([r1.stop(), r2.stop(), r3.stop(), r4.stop()]);
    // Tens of thousands of small files: removed in the background rather than holding up the report.
    spawn('rm', ['-rf', work], { detached: true, stdio: 'ignore' }).unref();
  }

  const lines = [
    '# krill benchmark results',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString()}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, distribution ${execFileSync('docker-registry', ['--version'], { encoding: 'utf8' }).trim().split(' ').at(-1)} on loopback, skopeo ${execFileSync('skopeo', ['--version'], { encoding: 'utf8' }).trim().split(' ').at(-1)}, crane ${execFileSync(peer('crane'), ['version'], { encoding: 'utf8' }).trim()}, regctl ${execFileSync(peer('regctl'), ['version', '--format', '{{.VCSTag}}'], { encoding: 'utf8' }).trim()}.`,
    `Whole processes, median of ${RUNS} runs after a warm-up (min–max), peak RSS from /usr/bin/time. R1: one repository, 1000 tags over 400 images (40 multi-arch with 2 platforms). R2: 2000 repositories × 10 tags.`,
    '',
    '| metric | krill | reference | ratio | target | met |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const value = r.kind === 'ratio' ? r.krill.median / r.reference.median : r.reference.median / r.krill.median;
      const rssOk =
        !r.extra?.includes('peak RSS') || r.krill.rssMiB <= Number(/≤ (\d+) MiB/.exec(r.extra)?.[1] ?? Infinity);
      const met = (r.kind === 'ratio' ? value <= r.target : value >= r.target) && rssOk;
      const target = r.kind === 'ratio' ? `≤ ${r.target}×` : `≥ ${r.target}× faster`;
      const ratio = r.kind === 'ratio' ? `${value.toFixed(2)}×` : `${value.toFixed(1)}× faster`;
      return `| ${r.metric} | ${fmt(r.krill)} | ${r.referenceName}: ${fmt(r.reference)} | ${ratio} | ${target}${r.extra ? `; ${r.extra}` : ''} | ${met ? 'yes' : '**no**'} |`;
    }),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
    ...syncSection,
    ...ledgerSection,
    ...scaleSection,
  ];
  mkdirSync(join(ROOT, 'bench'), { recursive: true });
  const explanations = join(ROOT, 'bench/EXPLANATIONS.md');
  let tail = '';
  try {
    tail = `\n${readFileSync(explanations, 'utf8')}`;
  } catch {
    // no explanations yet
  }
  writeFileSync(join(ROOT, 'bench/RESULTS.md'), lines.join('\n') + tail);
  process.stderr.write(`bench: wrote bench/RESULTS.md\n`);
}

await main();
