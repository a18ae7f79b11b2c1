import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { krill } from '../harness/cli.js';
import type { FaultProxy } from '../harness/fault-proxy.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { Pusher, buildImage, buildIndex } from '../harness/images.js';
import { peerHome, runPeer } from '../harness/peers.js';
import type { Implementation, TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// A warm sync that has nothing to do should cost no more requests than the fewest a peer makes:
// regsync (regclient), counted by a forwarding proxy in front of each real registry.

describe.each<Implementation>(['distribution-2.8', 'distribution-3'])(
  'a warm no-change sync on %s',
  (implementation) => {
    let source: TestRegistry;
    let target: TestRegistry;
    let sourceProxy: FaultProxy;
    let targetProxy: FaultProxy;
    beforeAll(async () => {
      [source, target] = await Promise.all([startRegistry({ implementation }), startRegistry({ implementation })]);
      const pusher = new Pusher(source);
      for (let i = 0; i < 6; i++)
        await pusher.push(
          'apps/web',
          buildImage({ created: `2024-01-0${i + 1}T00:00:00Z`, layers: [`web ${i}`] }),
          `1.${i}`,
        );
      await pusher.push('apps/web', buildImage({ layers: ['web 5'], created: '2024-01-06T00:00:00Z' }), 'latest');
      const multi = buildIndex([
        buildImage({ layers: ['amd'], architecture: 'amd64' }),
        buildImage({ layers: ['arm'], architecture: 'arm64' }),
      ]);
      await pusher.push('apps/web', multi, 'multi');
      const first = await krill(['sync', `${source.host}/apps/web`, '--to', target.host, '--plain-http']);
      expect(first.code, first.stderr).toBe(0);
      [sourceProxy, targetProxy] = await Promise.all([
        startFaultProxy(source.host, {}),
        startFaultProxy(target.host, {}),
      ]);
    });
    afterAll(async () => {
      await Promise.all([sourceProxy?.stop(), targetProxy?.stop(), source?.stop(), target?.stop()]);
    });

    const counted = async (run: () => Promise<void>) => {
      sourceProxy.forwarded.length = 0;
      targetProxy.forwarded.length = 0;
      await run();
      return { source: [...sourceProxy.forwarded], target: [...targetProxy.forwarded] };
    };

    const regsync = (referrers: boolean) =>
      counted(async () => {
        const home = peerHome();
        const config = join(home, 'regsync.yml');
        writeFileSync(
          config,
          [
            'version: 1',
            'creds:',
            ...[sourceProxy.host, targetProxy.host].flatMap((host) => [`  - registry: ${host}`, '    tls: disabled']),
            'sync:',
            `  - source: ${sourceProxy.host}/apps/web`,
            `    target: ${targetProxy.host}/apps/web`,
            '    type: repository',
            ...(referrers ? ['    referrers: true'] : []),
            '',
          ].join('\n'),
        );
        const res = await runPeer('regsync', ['once', '-c', config], home);
        expect(res.code, res.stderr).toBe(0);
      });

    const krillSync = (extra: readonly string[]) =>
      counted(async () => {
        const res = await krill([
          'sync',
          `${sourceProxy.host}/apps/web`,
          '--to',
          targetProxy.host,
          '--plain-http',
          ...extra,
        ]);
        expect(res.code, res.stderr).toBe(0);
      });

    it('costs no more requests than regsync once, images only and with referrers, and writes nothing', async () => {
      const before = await krill(['tags', `${target.host}/apps/web`, '--json', '--plain-http']);
      for (const [krillArgs, referrers] of [
        [['--no-referrers'], false],
        [[], true],
      ] as const) {
        const peer = await regsync(referrers);
        const ours = await krillSync(krillArgs);
        const total = (c: { source: string[]; target: string[] }) => c.source.length + c.target.length;
        console.log(
          `${implementation}, referrers ${referrers}: krill ${ours.source.length}+${ours.target.length}, regsync ${peer.source.length}+${peer.target.length} requests (source+target)`,
        );
        expect(total(ours)).toBeGreaterThan(0);
        expect(total(ours)).toBeLessThanOrEqual(total(peer));
        // Nothing to do means nothing written, anywhere.
        expect([...ours.source, ...ours.target].filter((r) => !/^(GET|HEAD) /.test(r))).toEqual([]);
      }
      const after = await krill(['tags', `${target.host}/apps/web`, '--json', '--plain-http']);
      expect(after.stdout).toBe(before.stdout);
    });
  },
);
