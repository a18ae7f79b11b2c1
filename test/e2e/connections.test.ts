import { afterAll, beforeAll, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import type { FaultProxy } from '../harness/fault-proxy.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// Connections are reused, HEADs included: a warm listing is a HEAD per tag, and undici closes the
// connection after every HEAD unless told not to (a new TCP, and on real registries TLS, handshake
// per tag). Counted by a forwarding proxy (no faults) in front of the real registry.
let registry: TestRegistry;
let proxy: FaultProxy;
const TAGS = Array.from({ length: 40 }, (_, i) => `1.${i}`);

beforeAll(async () => {
  registry = await startRegistry();
  await new Pusher(registry).push('apps/web', buildImage({ layers: ['connections'] }), ...TAGS);
  proxy = await startFaultProxy(registry.host, {});
});
afterAll(async () => {
  await Promise.all([proxy?.stop(), registry?.stop()]);
});

it('a warm krill tags of 40 tags sends its HEADs over a few reused connections', async () => {
  const env = isolatedEnv();
  const cold = await krill(['tags', `${proxy.host}/apps/web`, '--plain-http', '--json'], { env });
  expect(cold.code, cold.stderr).toBe(0);
  const [requests, connections] = [proxy.forwarded.length, proxy.connections];
  const warm = await krill(['tags', `${proxy.host}/apps/web`, '--plain-http', '--json'], { env });
  expect(warm.code, warm.stderr).toBe(0);
  const heads = proxy.forwarded.slice(requests).filter((r) => r.startsWith('HEAD '));
  expect(heads).toHaveLength(TAGS.length);
  // Eight requests in flight (the default): a connection each, and a few more as slots hand over.
  expect(proxy.connections - connections).toBeLessThanOrEqual(16);
});
