import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import type { Pki } from './pki.js';

/**
 * A HAND-WRITTEN FAKE Kubernetes API server (test code; no cluster is available on these machines):
 * HTTPS with the test CA, and only the read-only list endpoints krill's live set calls (pods,
 * deployments, statefulsets, daemonsets, replicasets, controllerrevisions, jobs, cronjobs), with
 * `limit`/`continue` pagination. It accepts a bearer token or a client certificate signed by the
 * test CA, records which, and refuses anything else with 401, like the API server.
 */

export interface FakeKubernetes {
  url: string;
  /** Every request: method, path and how it authenticated. */
  log: Array<{ method: string; path: string; auth: 'token' | 'certificate' | 'none' }>;
  /** Items per resource, e.g. `pods`, `deployments`. */
  items: Record<string, unknown[]>;
  close(): Promise<void>;
}

const RESOURCES: Record<string, string> = {
  '/api/v1/pods': 'pods',
  '/apis/apps/v1/deployments': 'deployments',
  '/apis/apps/v1/statefulsets': 'statefulsets',
  '/apis/apps/v1/daemonsets': 'daemonsets',
  '/apis/apps/v1/replicasets': 'replicasets',
  '/apis/apps/v1/controllerrevisions': 'controllerrevisions',
  '/apis/batch/v1/jobs': 'jobs',
  '/apis/batch/v1/cronjobs': 'cronjobs',
};

export async function startFakeKubernetes(pki: Pki, token: string): Promise<FakeKubernetes> {
  const fake: FakeKubernetes = {
    url: '',
    log: [],
    items: {},
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer(
    {
      key: readFileSync(pki.serverKey),
      cert: readFileSync(pki.serverCert),
      ca: readFileSync(pki.caCert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://fake');
      const socket = req.socket as TLSSocket;
      const auth =
        req.headers.authorization === `Bearer ${token}` ? 'token' : socket.authorized ? 'certificate' : 'none';
      fake.log.push({ method: req.method ?? '', path: `${url.pathname}${url.search}`, auth });
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (auth === 'none') return send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 401 });
      const resource = RESOURCES[url.pathname];
      if (req.method !== 'GET' || !resource)
        return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 });
      const all = fake.items[resource] ?? [];
      const limit = Number(url.searchParams.get('limit') ?? all.length) || all.length;
      const start = Number(url.searchParams.get('continue') ?? 0);
      const page = all.slice(start, start + limit);
      const next = start + limit < all.length ? String(start + limit) : undefined;
      send(200, { kind: 'List', apiVersion: 'v1', metadata: next ? { continue: next } : {}, items: page });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

/** A kubeconfig with a token context, a client-certificate context and an unreachable one. */
export function writeKubeconfig(dir: string, pki: Pki, server: string, token: string): string {
  const b64 = (path: string) => readFileSync(path).toString('base64');
  const path = join(dir, 'kubeconfig');
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
current-context: eu-1
clusters:
  - name: fake
    cluster: {server: "${server}", certificate-authority-data: "${b64(pki.caCert)}"}
  - name: down
    cluster: {server: "https://127.0.0.1:1", certificate-authority-data: "${b64(pki.caCert)}"}
users:
  - name: token-user
    user: {token: "${token}"}
  - name: cert-user
    user: {client-certificate-data: "${b64(pki.clientCert)}", client-key-data: "${b64(pki.clientKey)}"}
contexts:
  - name: eu-1
    context: {cluster: fake, user: token-user}
  - name: us-1
    context: {cluster: fake, user: cert-user}
  - name: down
    context: {cluster: down, user: token-user}
`,
  );
  return path;
}
