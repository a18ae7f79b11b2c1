import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFaultProxy } from '../test/harness/fault-proxy.js';
import type { TestRegistry } from '../test/harness/registry.js';
import { peer } from '../test/harness/registry.js';
import type { Row } from './timing.js';
import { measure, timed } from './timing.js';

/**
 * The rows that move images between two registries: a 512 MiB copy against skopeo, crane and
 * regctl, and a warm sync that has nothing to do against regsync (time, and requests counted by a
 * forwarding proxy in front of each registry).
 */

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const KRILL = join(ROOT, 'bin/krill.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

/** A HOME where regctl reaches these registries over plain HTTP. */
function regclientHome(hosts: string[]): string {
  const home = mkdtempSync(join(tmpdir(), 'krill-bench-regclient-'));
  for (const host of hosts)
    execFileSync(peer('regctl'), ['registry', 'set', host, '--tls', 'disabled'], {
      env: { ...process.env, HOME: home },
    });
  return home;
}

export async function benchCopy(source: TestRegistry, target: TestRegistry): Promise<{ rows: Row[]; notes: string[] }> {
  const rows: Row[] = [];
  // The destination is emptied before every run; no warm-up (nothing to warm).
  const emptyDestination = () => target.restart(() => rmSync(target.storageDir, { recursive: true, force: true }));
  const home = regclientHome([source.host, target.host]);
  const src = `${source.host}/bench/big:v1`;
  const dst = `${target.host}/bench/big:v1`;
  const skopeo = await measure(
    'skopeo copy 512 MiB',
    RUNS,
    emptyDestination,
    () => [
      'skopeo',
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${src}`,
      `docker://${dst}`,
    ],
    () => ({}),
    false,
  );
  const krill = await measure(
    'krill copy 512 MiB',
    RUNS,
    emptyDestination,
    () => ['node', KRILL, 'copy', src, dst],
    () => ({}),
    false,
  );
  const metric = '`krill copy` of a 512 MiB image (8 layers) between two registries';
  rows.push({
    metric,
    krill,
    reference: skopeo,
    referenceName: '`skopeo copy`',
    kind: 'ratio',
    target: 1.0,
    extra: `peak RSS ${krill.rssMiB.toFixed(0)} MiB (target ≤ 150 MiB)`,
  });
  for (const [name, command] of [
    ['crane copy', () => [peer('crane'), 'copy', '--insecure', src, dst]],
    ['regctl image copy', () => [peer('regctl'), 'image', 'copy', src, dst]],
  ] as const) {
    const stats = await measure(`${name} 512 MiB`, RUNS, emptyDestination, command, () => ({ HOME: home }), false);
    rows.push({ metric, krill, reference: stats, referenceName: `\`${name}\``, kind: 'ratio', target: 1.0 });
  }
  const notes = [
    `Copy throughput: krill ${(512 / krill.median).toFixed(0)} MiB/s, skopeo ${(512 / skopeo.median).toFixed(0)} MiB/s (median).`,
  ];
  return { rows, notes };
}

/**
 * R1 (1000 tags over 400 images) synced once into an empty registry, then synced again with
 * nothing to do: krill sync against regsync once, images only (both tools' default scope) and with
 * referrers. Requests are counted in one more run of each through a forwarding proxy per registry.
 */
export async function benchWarmSync(source: TestRegistry, target: TestRegistry, repository: string): Promise<string[]> {
  await target.restart(() => rmSync(target.storageDir, { recursive: true, force: true }));
  // An empty cache and state every run, as a CI job has.
  const env = () => {
    const cache = mkdtempSync(join(tmpdir(), 'krill-bench-sync-'));
    return { XDG_CACHE_HOME: cache, XDG_STATE_HOME: join(cache, 'state') };
  };
  const first = Date.now();
  // Spawned, never execFileSync: the registries' stderr is read by this process's event loop, and
  // distribution logs every 404 at level error; a blocked loop fills the pipe and stalls the server.
  await timed(['node', KRILL, 'sync', `${source.host}/${repository}`, '--to', target.host, '--no-referrers'], env());
  process.stderr.write(`bench: R1 synced into an empty registry in ${((Date.now() - first) / 1000).toFixed(1)} s\n`);

  const proxies = await Promise.all([startFaultProxy(source.host, {}), startFaultProxy(target.host, {})]);
  const home = mkdtempSync(join(tmpdir(), 'krill-bench-regsync-'));
  const regsyncConfig = (from: string, to: string, referrers: boolean) => {
    const file = join(home, `regsync-${from.replace(/\W/g, '_')}-${referrers}.yml`);
    writeFileSync(
      file,
      [
        'version: 1',
        'creds:',
        ...[source.host, target.host, ...proxies.map((p) => p.host)].flatMap((host) => [
          `  - registry: ${host}`,
          '    tls: disabled',
        ]),
        // regsync's own knob for concurrent image work (default 1); krill's default is 8 requests.
        'defaults:',
        '  parallel: 8',
        'sync:',
        `  - source: ${from}/${repository}`,
        `    target: ${to}/${repository}`,
        '    type: repository',
        ...(referrers ? ['    referrers: true'] : []),
        '',
      ].join('\n'),
    );
    return file;
  };
  const tools = (from: string, to: string, referrers: boolean) => ({
    krill: [
      'node',
      KRILL,
      'sync',
      `${from}/${repository}`,
      '--to',
      to,
      '--plain-http',
      ...(referrers ? [] : ['--no-referrers']),
    ],
    regsync: [peer('regsync'), 'once', '-c', regsyncConfig(from, to, referrers)],
  });
  const lines = [
    '## Warm no-change sync against regsync',
    '',
    `R1 (${repository}: 1000 tags over 400 images) synced into an empty distribution 2.8, then synced again with nothing to do: \`krill sync --plain-http\` (empty cache and state every run, as in CI) against \`regsync once\` (regclient ${execFileSync(peer('regsync'), ['version', '--format', '{{.VCSTag}}'], { encoding: 'utf8' }).trim()}, \`parallel: 8\`). Time: median of ${RUNS} after a warm-up; requests: one more run of each through a forwarding proxy in front of each registry. Targets: at least as fast as regsync, and no more requests.`,
    '',
    '| scope | krill | regsync | time ratio | krill requests (source + target) | regsync requests | met |',
    '|---|---|---|---|---|---|---|',
  ];
  try {
    for (const referrers of [false, true]) {
      const direct = tools(source.host, target.host, referrers);
      const krill = await measure(
        `krill warm sync (referrers ${referrers})`,
        RUNS,
        () => {},
        () => direct.krill,
        env,
      );
      const regsync = await measure(
        `regsync once warm (referrers ${referrers})`,
        RUNS,
        () => {},
        () => direct.regsync,
        () => ({ HOME: home }),
      );
      const counted = tools(proxies[0]!.host, proxies[1]!.host, referrers);
      // Spawned, not run synchronously: the proxies live in this process.
      const count = async (cmd: string[], extraEnv: Record<string, string>) => {
        for (const p of proxies) p.forwarded.length = 0;
        await timed(cmd, extraEnv);
        // A warm round that writes is not the row this measures: the first sync went wrong.
        const writes = proxies.flatMap((p) => p.forwarded.filter((r) => !/^(GET|HEAD) /.test(r)));
        if (writes.length > 0) throw new Error(`${cmd[0]} wrote in a warm sync: ${writes.slice(0, 3).join(', ')}`);
        return proxies.map((p) => p.forwarded.length) as [number, number];
      };
      const [ks, kt] = await count(counted.krill, env());
      const [rs, rt] = await count(counted.regsync, { HOME: home });
      const ratio = krill.median / regsync.median;
      const met = ratio <= 1 && ks + kt <= rs + rt;
      lines.push(
        `| ${referrers ? 'images and referrers' : 'images only'} | ${krill.median.toFixed(3)} s (${krill.min.toFixed(3)}–${krill.max.toFixed(3)}), ${krill.rssMiB.toFixed(0)} MiB | ${regsync.median.toFixed(3)} s (${regsync.min.toFixed(3)}–${regsync.max.toFixed(3)}), ${regsync.rssMiB.toFixed(0)} MiB | ${ratio.toFixed(2)}× | ${ks + kt} (${ks} + ${kt}) | ${rs + rt} (${rs} + ${rt}) | ${met ? 'yes' : '**no**'} |`,
      );
    }
  } finally {
    await Promise.all(proxies.map((p) => p.stop()));
  }
  return [...lines, ''];
}
