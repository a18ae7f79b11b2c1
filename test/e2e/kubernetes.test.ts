import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv, krill } from '../harness/cli.js';
import type { FakeKubernetes } from '../harness/fake-kubernetes.js';
import { startFakeKubernetes, writeKubeconfig } from '../harness/fake-kubernetes.js';
import type { BuiltManifest } from '../harness/images.js';
import { Pusher, buildImage } from '../harness/images.js';
import type { Pki } from '../harness/pki.js';
import { makePki } from '../harness/pki.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';

// The live set read from Kubernetes, against the real registry and a LABELLED HAND-WRITTEN FAKE
// Kubernetes API (test/harness/fake-kubernetes.ts): no cluster is available on these machines.
const TOKEN = 'fake-cluster-token-5f1c';
let registry: TestRegistry;
let pusher: Pusher;
let cluster: FakeKubernetes;
let pki: Pki;
let kubeconfig: string;
let counter = 0;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'krill-k8s-'));
  pki = makePki(dir);
  [registry, cluster] = await Promise.all([startRegistry(), startFakeKubernetes(pki, TOKEN)]);
  pusher = new Pusher(registry);
  kubeconfig = writeKubeconfig(dir, pki, cluster.url, TOKEN);
});
afterAll(async () => {
  await Promise.all([registry?.stop(), cluster?.close()]);
});

const env = () => isolatedEnv({ KUBECONFIG: kubeconfig });

async function seed(): Promise<{ repository: string; v: BuiltManifest[]; ref: (i: number) => string }> {
  const repository = `k8s/app-${++counter}`;
  const v: BuiltManifest[] = [];
  for (let i = 1; i <= 8; i++) {
    const image = buildImage({ created: `2024-0${i}-01T00:00:00Z`, layers: [`${repository} v${i}`] });
    await pusher.push(repository, image, `v${i}`);
    v.push(image);
  }
  // v[i - 1] is release vi.
  return { repository, v, ref: (i) => `${registry.host}/${repository}:v${i}` };
}

function workloads(s: Awaited<ReturnType<typeof seed>>) {
  const template = (image: string, extra: Record<string, unknown> = {}) => ({
    template: { spec: { containers: [{ name: 'main', image }], ...extra } },
  });
  const owner = [{ uid: 'deploy-api', kind: 'Deployment', name: 'api' }];
  cluster.items = {
    deployments: [{ metadata: { namespace: 'prod', name: 'api' }, spec: template(s.ref(2)) }],
    pods: [
      {
        metadata: { namespace: 'prod', name: 'api-7d9f' },
        spec: { containers: [{ name: 'main', image: s.ref(2) }] },
        // The digest actually running: the tag moved since the pod started.
        status: {
          containerStatuses: [
            { image: s.ref(2), imageID: `docker-pullable://${registry.host}/${s.repository}@${s.v[2]!.digest}` },
          ],
        },
      },
    ],
    replicasets: [
      {
        metadata: {
          namespace: 'prod',
          name: 'api-old',
          annotations: { 'deployment.kubernetes.io/revision': '1' },
          ownerReferences: owner,
        },
        spec: template(s.ref(4)),
      },
      {
        metadata: {
          namespace: 'prod',
          name: 'api-new',
          annotations: { 'deployment.kubernetes.io/revision': '2' },
          ownerReferences: owner,
        },
        spec: template(s.ref(2)),
      },
    ],
    controllerrevisions: [
      {
        metadata: { namespace: 'prod', name: 'db-1', ownerReferences: [{ uid: 'sts-db', kind: 'StatefulSet' }] },
        revision: 1,
        data: { spec: template(s.ref(5)) },
      },
    ],
    cronjobs: [
      {
        metadata: { namespace: 'ops', name: 'nightly' },
        spec: {
          jobTemplate: { spec: template('nginx:1.27', { initContainers: [{ name: 'init', image: s.ref(6) }] }) },
        },
      },
    ],
    statefulsets: [],
    daemonsets: [],
    jobs: [],
  };
}

const tagsLeft = async (repository: string) => pusher.tags(repository);
/** `cleanup --keep 1` of a seeded repository (which would delete v1 to v7) with more flags. */
const cleanupKeep1 = (repository: string, ...flags: string[]) =>
  krill(['cleanup', `${registry.host}/${repository}`, '--keep', '1', ...flags], { env: env() });

describe('--keep-in-use kubernetes (labelled fake Kubernetes API)', () => {
  it('keeps what pods, templates, cronjobs and rollback revisions use, in two contexts (token and certificate)', async () => {
    const s = await seed();
    workloads(s);
    cluster.log.length = 0;
    const res = await cleanupKeep1(s.repository, '--keep-in-use', 'kubernetes:eu-1,us-1', '--yes', '--json');
    expect(res.code, res.stderr).toBe(0);
    expect(await tagsLeft(s.repository)).toEqual(['v2', 'v3', 'v4', 'v5', 'v6', 'v8']);
    const plan = JSON.parse(res.stdout) as { repositories: Array<{ keep: Array<{ tag: string; reason: string }> }> };
    expect(plan.repositories[0]!.keep.find((t) => t.tag === 'v6')!.reason).toBe(
      'in use: cronjob ops/nightly (context eu-1)',
    );
    // Both contexts were read, one with the token, one with the client certificate; only lists, only GETs.
    expect(new Set(cluster.log.map((r) => r.auth))).toEqual(new Set(['token', 'certificate']));
    expect(cluster.log.length).toBeGreaterThan(0);
    expect(cluster.log.filter((r) => r.method !== 'GET' || !r.path.includes('limit='))).toEqual([]);
  });

  it('--rollback-depth 0 keeps only the current revision of each workload', async () => {
    const s = await seed();
    workloads(s);
    const res = await cleanupKeep1(s.repository, '--keep-in-use', 'kubernetes', '--rollback-depth', '0', '--yes');
    expect(res.code, res.stderr).toBe(0);
    expect(await tagsLeft(s.repository)).toEqual(['v2', 'v3', 'v5', 'v6', 'v8']);
  });

  it('an unreachable context stops the cleanup with nothing deleted; apply re-reads the cluster', async () => {
    const s = await seed();
    workloads(s);
    const down = await cleanupKeep1(s.repository, '--keep-in-use', 'kubernetes:down', '--yes');
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/kubernetes context down: .*ECONNREFUSED/);
    expect(await tagsLeft(s.repository)).toHaveLength(8);

    const planFile = join(mkdtempSync(join(tmpdir(), 'krill-k8s-plan-')), 'plan.json');
    const planned = await cleanupKeep1(s.repository, '--keep-in-use', 'kubernetes:eu-1', '--plan-out', planFile);
    expect(planned.code, planned.stderr).toBe(0);
    // v7 is deployed as a DaemonSet between plan and apply.
    cluster.items.daemonsets = [
      {
        metadata: { namespace: 'kube-system', name: 'agent' },
        spec: { template: { spec: { containers: [{ image: s.ref(7) }] } } },
      },
    ];
    const applied = await krill(['apply', planFile, '--yes'], { env: env() });
    expect(applied.code, applied.stderr).toBe(0);
    expect(await tagsLeft(s.repository)).toEqual(['v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8']);
  });
});
