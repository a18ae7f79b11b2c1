import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LiveSetError, UsageError } from '../errors.js';
import type { LiveEntry, LiveSource } from './live-set.js';

/**
 * The live set from Kubernetes clusters (`--keep-in-use kubernetes[:CONTEXT,…]`), read-only with the
 * official client library (loaded only here): the images of Pods — `spec` and the digest actually
 * running, `status.*ContainerStatuses[].imageID` — and of the pod templates of Deployments,
 * StatefulSets, DaemonSets, Jobs and CronJobs, and of the ReplicaSets and ControllerRevisions kept
 * for rollback. Init and ephemeral containers count. Every list is paginated; any error (an
 * unreachable context, a refused list) fails the whole read, so nothing is deleted on half a view.
 */

export interface KubernetesOptions {
  env: NodeJS.ProcessEnv;
  /** Previous revisions kept per Deployment/StatefulSet/DaemonSet; undefined: all the cluster keeps. */
  rollbackDepth?: number;
}

interface Container {
  image?: string;
}
interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  ephemeralContainers?: Container[];
}
interface Meta {
  name?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ uid?: string; kind?: string; name?: string }>;
}
interface Status {
  image?: string;
  imageID?: string;
}

/** Images of a pod spec: containers, init and ephemeral containers. */
export function imagesOfPodSpec(spec: PodSpec | undefined): string[] {
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? []), ...(spec?.ephemeralContainers ?? [])]
    .map((c) => c.image)
    .filter((i): i is string => typeof i === 'string' && i !== '');
}

/** `kubernetes` or `kubernetes:CTX1,CTX2`; undefined for any other source. */
export function parseKubernetesSource(source: string): { contexts: string[] | undefined } | undefined {
  if (source === 'kubernetes') return { contexts: undefined };
  if (!source.startsWith('kubernetes:')) return undefined;
  const contexts = source
    .slice('kubernetes:'.length)
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  if (contexts.length === 0) throw new UsageError(`--keep-in-use ${source}: name a context, e.g. kubernetes:prod`);
  return { contexts };
}

const PAGE = 500;
/** A cluster that keeps sending `continue` tokens is stopped here. */
const MAX_PAGES = 10_000;

export function kubernetesSource(
  source: string,
  contexts: string[] | undefined,
  options: KubernetesOptions,
): LiveSource {
  return {
    name: source,
    read: async () => {
      const k8s = await import('@kubernetes/client-node').catch((cause: unknown) => {
        // The standalone binary leaves the (large) client library out.
        throw new UsageError(
          '--keep-in-use kubernetes needs @kubernetes/client-node: use the npm package or the container image, or pass a file (kubectl get pods -A -o jsonpath=…)',
          { cause },
        );
      });
      const base = loadKubeConfig(k8s, options.env);
      const names = contexts ?? [base.getCurrentContext()];
      const entries: LiveEntry[] = [];
      for (const context of names) {
        if (!base.getContextObject(context))
          throw new UsageError(
            `kubeconfig has no context "${context}" (contexts: ${
              base
                .getContexts()
                .map((c) => c.name)
                .join(', ') || 'none'
            })`,
          );
        const kc = new k8s.KubeConfig();
        kc.loadFromString(base.exportConfig());
        kc.setCurrentContext(context);
        try {
          entries.push(...(await readCluster(k8s, kc, context || 'in-cluster', options.rollbackDepth)));
        } catch (error) {
          throw new LiveSetError(`kubernetes context ${context}: ${describe(error)}`, { cause: error });
        }
      }
      return entries;
    },
  };
}

type K8s = typeof import('@kubernetes/client-node');

/** KUBECONFIG (one file or a colon-separated list), else ~/.kube/config, else the pod's service account. */
function loadKubeConfig(k8s: K8s, env: NodeJS.ProcessEnv) {
  const kc = new k8s.KubeConfig();
  const files = (env.KUBECONFIG ?? '').split(':').filter(Boolean);
  const home = join(env.HOME || homedir(), '.kube', 'config');
  if (files.length > 0) {
    kc.loadFromFile(files[0]!);
    for (const file of files.slice(1)) {
      const other = new k8s.KubeConfig();
      other.loadFromFile(file);
      kc.mergeConfig(other);
    }
  } else if (existsSync(home)) kc.loadFromFile(home);
  else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else throw new UsageError('--keep-in-use kubernetes: no kubeconfig (set KUBECONFIG or create ~/.kube/config)');
  return kc;
}

function describe(error: unknown): string {
  const e = error as { code?: number; body?: unknown; message?: string; cause?: { code?: string } };
  if (typeof e.code === 'number')
    return `HTTP ${e.code}${typeof e.body === 'string' ? `: ${e.body.slice(0, 200)}` : ''}`;
  return e.cause?.code ?? e.message ?? String(error);
}

/** Follows `continue` tokens. */
async function listAll<T>(
  list: (page: { limit: number; _continue?: string }) => Promise<{ items: T[]; metadata?: { _continue?: string } }>,
): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  for (let pages = 0; ; pages++) {
    if (pages >= MAX_PAGES) throw new Error(`more than ${MAX_PAGES} pages`);
    const page = await list({ limit: PAGE, ...(next ? { _continue: next } : {}) });
    items.push(...page.items);
    next = page.metadata?._continue || undefined;
    if (!next) return items;
  }
}

async function readCluster(
  k8s: K8s,
  kc: InstanceType<K8s['KubeConfig']>,
  context: string,
  rollbackDepth: number | undefined,
): Promise<LiveEntry[]> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const batch = kc.makeApiClient(k8s.BatchV1Api);
  const entries: LiveEntry[] = [];
  const add = (kind: string, meta: Meta | undefined, images: Iterable<string>) => {
    const reason = `in use: ${kind} ${meta?.namespace ?? ''}/${meta?.name ?? ''} (context ${context})`;
    for (const reference of images) entries.push({ reference, reason });
  };
  type WithTemplate = { metadata?: Meta; spec?: { template?: { spec?: PodSpec } } };
  const [pods, deployments, statefulSets, daemonSets, replicaSets, revisions, jobs, cronJobs] = await Promise.all([
    listAll((p) => core.listPodForAllNamespaces(p)),
    listAll((p) => apps.listDeploymentForAllNamespaces(p)),
    listAll((p) => apps.listStatefulSetForAllNamespaces(p)),
    listAll((p) => apps.listDaemonSetForAllNamespaces(p)),
    listAll((p) => apps.listReplicaSetForAllNamespaces(p)),
    listAll((p) => apps.listControllerRevisionForAllNamespaces(p)),
    listAll((p) => batch.listJobForAllNamespaces(p)),
    listAll((p) => batch.listCronJobForAllNamespaces(p)),
  ]);
  for (const pod of pods) {
    const status = pod.status as
      | { containerStatuses?: Status[]; initContainerStatuses?: Status[]; ephemeralContainerStatuses?: Status[] }
      | undefined;
    const running = [
      ...(status?.containerStatuses ?? []),
      ...(status?.initContainerStatuses ?? []),
      ...(status?.ephemeralContainerStatuses ?? []),
    ].flatMap((s) => [s.image, s.imageID].filter((i): i is string => typeof i === 'string' && i !== ''));
    add('pod', pod.metadata as Meta, [...imagesOfPodSpec(pod.spec as PodSpec), ...running]);
  }
  for (const [kind, list] of [
    ['deployment', deployments],
    ['statefulset', statefulSets],
    ['daemonset', daemonSets],
    ['job', jobs],
  ] as const)
    for (const item of list as WithTemplate[]) add(kind, item.metadata, imagesOfPodSpec(item.spec?.template?.spec));
  for (const cron of cronJobs as Array<{ metadata?: Meta; spec?: { jobTemplate?: WithTemplate } }>)
    add('cronjob', cron.metadata, imagesOfPodSpec(cron.spec?.jobTemplate?.spec?.template?.spec));
  // Rollback targets: ReplicaSets of Deployments, ControllerRevisions of StatefulSets and DaemonSets.
  for (const rs of newestPerOwner(replicaSets as WithTemplate[], rollbackDepth, revisionOfReplicaSet))
    add('replicaset', rs.metadata, imagesOfPodSpec(rs.spec?.template?.spec));
  type Revision = { metadata?: Meta; revision?: number; data?: { spec?: { template?: { spec?: PodSpec } } } };
  for (const rev of newestPerOwner(revisions as Revision[], rollbackDepth, (r) => r.revision ?? 0))
    add('controllerrevision', rev.metadata, imagesOfPodSpec(rev.data?.spec?.template?.spec));
  return entries;
}

function revisionOfReplicaSet(rs: { metadata?: Meta }): number {
  return Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0);
}

/** Per owner, the current revision and `depth` previous ones (all when depth is undefined). */
function newestPerOwner<T extends { metadata?: Meta }>(
  items: T[],
  depth: number | undefined,
  revision: (item: T) => number,
): T[] {
  if (depth === undefined) return items;
  const byOwner = new Map<string, T[]>();
  for (const item of items) {
    const owner = item.metadata?.ownerReferences?.[0]?.uid ?? `${item.metadata?.namespace}/${item.metadata?.name}`;
    byOwner.set(owner, [...(byOwner.get(owner) ?? []), item]);
  }
  return [...byOwner.values()].flatMap((list) => list.sort((a, b) => revision(b) - revision(a)).slice(0, depth + 1));
}
